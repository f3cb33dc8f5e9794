"""Multi-item reads: BatchGetItem across tables (<= 100 keys a request, unprocessed keys
retried) and Query followed page by page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from chalicelib.errors import StoreUnavailable
from chalicelib.store.aws import client
from chalicelib.store.items import from_item

MAX_KEYS_PER_REQUEST = 100


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
    while pending:
        chunk, pending = pending[:MAX_KEYS_PER_REQUEST], pending[MAX_KEYS_PER_REQUEST:]
        request: dict[str, Any] = {}
        for table, key in chunk:
            request.setdefault(table, {"Keys": [], "ConsistentRead": consistent})["Keys"].append(key)
        attempt = 0
        while request:
            response = ddb.batch_get_item(RequestItems=request)
            for table, items in response.get("Responses", {}).items():
                found.setdefault(table, []).extend(from_item(i) or {} for i in items)
            request = response.get("UnprocessedKeys") or {}
            if request:
                attempt += 1
                if attempt > 6:
                    raise StoreUnavailable("DynamoDB did not return every key; retry")
                time.sleep(min(0.05 * 2**attempt, 1.0))
    return found


def query_items(ddb: Any, *, raw: bool = False, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item a Query returns, following LastEvaluatedKey; plain items unless ``raw``."""
    while True:
        page = ddb.query(**kwargs)
        for item in page.get("Items", []):
            yield item if raw else (from_item(item) or {})
        if "LastEvaluatedKey" not in page:
            return
        kwargs = {**kwargs, "ExclusiveStartKey": page["LastEvaluatedKey"]}
