"""Multi-item reads and writes: BatchGetItem across tables (<= 100 keys a request, the requests of
one call issued concurrently), BatchWriteItem (25 a request) -- both retrying what DynamoDB left
unprocessed in one loop (``until_processed``) -- and Query followed page by page."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.errors import StoreUnavailable
from chalicelib.store.aws import client
from chalicelib.store.items import from_item, to_value

MAX_KEYS_PER_REQUEST = 100
WRITES_PER_REQUEST = 25  # BatchWriteItem's limit
MAX_BATCH_ATTEMPTS = 9  # calls for one batch before it is StoreUnavailable (~4 s of backoff)
# Requests of one batch_get in flight at once: a send-check batch of 100 needs at most 3 a round.
MAX_CONCURRENT_REQUESTS = 8
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """One small pool per process (a Lambda instance serves one request at a time)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=MAX_CONCURRENT_REQUESTS, thread_name_prefix="batch-get")
        return _pool


def batch_get(
    keys_by_table: dict[str, list[dict[str, Any]]], *, consistent: bool = True
) -> dict[str, list[dict[str, Any]]]:
    """Fetch every key (low-level attribute-value form); returns plain items by table."""
    ddb = client("dynamodb")
    pending: list[tuple[str, dict[str, Any]]] = []
    seen: set[tuple[str, str]] = set()
    for table, table_keys in keys_by_table.items():
        for key in table_keys:
            marker = (table, repr(sorted((k, tuple(v.items())) for k, v in key.items())))
            if marker not in seen:
                seen.add(marker)
                pending.append((table, key))
    found: dict[str, list[dict[str, Any]]] = {table: [] for table in keys_by_table}
    chunks = [pending[start : start + MAX_KEYS_PER_REQUEST] for start in range(0, len(pending), MAX_KEYS_PER_REQUEST)]
    if len(chunks) == 1:
        parts = [_get_chunk(ddb, chunks[0], consistent)]
    else:
        # One round trip, not one per 100 keys: the chunks go out together (boto3 clients are thread-safe).
        parts = list(_executor().map(lambda chunk: _get_chunk(ddb, chunk, consistent), chunks))
    for part in parts:
        for table, items in part.items():
            found.setdefault(table, []).extend(items)
    return found


def _get_chunk(ddb: Any, chunk: list[tuple[str, dict[str, Any]]], consistent: bool) -> dict[str, list[dict[str, Any]]]:
    """One BatchGetItem of <= 100 keys, retrying its unprocessed keys with backoff."""
    request: dict[str, Any] = {}
    for table, key in chunk:
        request.setdefault(table, {"Keys": [], "ConsistentRead": consistent})["Keys"].append(key)
    return read_all(ddb, request)


def read_all(ddb: Any, request: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every item of one BatchGetItem request (RequestItems), plain, by table; unprocessed keys retried."""
    found: dict[str, list[dict[str, Any]]] = {}

    def read(pending: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = ddb.batch_get_item(RequestItems=pending)
        for table, items in response.get("Responses", {}).items():
            found.setdefault(table, []).extend(from_item(i) or {} for i in items)
        return response

    until_processed(read, request, "UnprocessedKeys", "DynamoDB did not return every key; retry")
    return found


def write_all(ddb: Any, table: str, requests: list[dict[str, Any]]) -> None:
    """PutRequest/DeleteRequest entries in BatchWriteItem calls of 25, unprocessed ones retried."""
    for start in range(0, len(requests), WRITES_PER_REQUEST):
        until_processed(
            lambda pending: ddb.batch_write_item(RequestItems=pending),
            {table: requests[start : start + WRITES_PER_REQUEST]},
            "UnprocessedItems",
            "DynamoDB did not accept every write; retry",
        )


def until_processed(
    call: Callable[[dict[str, Any]], dict[str, Any]], request: dict[str, Any], unprocessed: str, refused: str
) -> None:
    """The one retry loop of DynamoDB's batch calls: send ``request``, then what the answer left
    ``unprocessed`` (UnprocessedKeys / UnprocessedItems), backing off; StoreUnavailable(``refused``)
    when some is still left after MAX_BATCH_ATTEMPTS calls."""
    for attempt in range(MAX_BATCH_ATTEMPTS):
        request = call(request).get(unprocessed) or {}
        if not request:
            return
        if attempt + 1 < MAX_BATCH_ATTEMPTS:
            time.sleep(min(0.05 * 2 ** (attempt + 1), 1.0))
    raise StoreUnavailable(refused)


def transact_write(ddb: Any, items: list[dict[str, Any]]) -> list[str | None] | None:
    """TransactWriteItems: None when it landed, else the cancellation reasons (one code per item;
    empty when DynamoDB gave none). Any other failure raises (ClientError)."""
    try:
        ddb.transact_write_items(TransactItems=items)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "TransactionCanceledException":
            raise
        return [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
    return None


def query_items(ddb: Any, *, raw: bool = False, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item a Query returns, following LastEvaluatedKey; plain items unless ``raw``."""
    while True:
        page = ddb.query(**kwargs)
        for item in page.get("Items", []):
            yield item if raw else (from_item(item) or {})
        if "LastEvaluatedKey" not in page:
            return
        kwargs = {**kwargs, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def query_prefix(ddb: Any, table: str, pk: str, prefix: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of partition ``pk`` whose sort key starts with ``prefix`` (consistent read)."""
    return query_items(
        ddb,
        TableName=table,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={":pk": to_value(pk), ":prefix": to_value(prefix)},
        ConsistentRead=True,
        **kwargs,
    )


def query_index(ddb: Any, table: str, index: str, attribute: str, value: str) -> Iterator[dict[str, Any]]:
    """Every item of a global secondary index whose key ``attribute`` equals ``value``
    (eventually consistent, as every GSI read)."""
    return query_items(
        ddb,
        TableName=table,
        IndexName=index,
        KeyConditionExpression="#a = :a",
        ExpressionAttributeNames={"#a": attribute},
        ExpressionAttributeValues={":a": to_value(value)},
    )
