"""Exclusion rules (R10) in ExclusionsTable: pk=<ws>, sk=rule#<id> holding ``rule``.

Large value lists (CSV imports of tens of thousands of emails or domains) would exceed
DynamoDB's 400 KB item limit, so a condition's ``values`` beyond a small size move into chunk
items ``chunk#<id>#<generation>#<n>`` (``condition`` index + ``values_json``), written in the same
transaction as the rule item, which names the generation and chunk count. Chunks are immutable
(an update writes a new generation and then deletes the old one), so:

- a reader never mixes two versions of a list;
- a process keeps chunk contents by generation (``_CHUNK_CACHE``) and the once-a-second config
  reload reads only the small ``rule#`` items (chunks sort apart, under ``chunk#``): a big list
  is read from DynamoDB once per process per version, not once per second.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.config import Config
from chalicelib.errors import InvalidInput, NotFound
from chalicelib.models.domain import ExclusionRule
from chalicelib.models.records import Contact
from chalicelib.store.aws import client
from chalicelib.store.batch import query_index, query_prefix, write_all
from chalicelib.store.contacts import contact_from_item
from chalicelib.store.items import from_item, to_item

RULE_PREFIX = "rule#"
CHUNK_PREFIX = "chunk#"
INLINE_VALUES_BYTES = 32_000  # values lists above this move into chunk items
CHUNK_BYTES = 250_000  # well under 400 KB with attribute overhead
MAX_TRANSACTION_BYTES = 3_600_000  # TransactWriteItems allows 4 MB in all
MAX_TRANSACTION_ITEMS = 100
CHUNK_CACHE_ENTRIES = 256

_CHUNK_CACHE: OrderedDict[tuple[str, str, str, str], list[dict[str, Any]]] = OrderedDict()
_CHUNK_CACHE_LOCK = threading.Lock()


def rule_sk(exclusion_id: str) -> str:
    return RULE_PREFIX + exclusion_id


def chunk_prefix(exclusion_id: str, generation: str | None = None) -> str:
    return f"{CHUNK_PREFIX}{exclusion_id}#" + (f"{generation}#" if generation else "")


def _size(values: list[Any]) -> int:
    return sum(len(json.dumps(v)) + 4 for v in values)


def _chunks(values: list[Any]) -> list[list[Any]]:
    chunks: list[list[Any]] = [[]]
    used = 0
    for value in values:
        cost = len(json.dumps(value)) + 4
        if used + cost > CHUNK_BYTES and chunks[-1]:
            chunks.append([])
            used = 0
        chunks[-1].append(value)
        used += cost
    return chunks


def split_rule(workspace_id: str, rule: ExclusionRule) -> list[dict[str, Any]]:
    """The rule item followed by its chunk items (plain dicts)."""
    dumped = rule.model_dump()
    generation = secrets.token_hex(4)
    chunk_items: list[dict[str, Any]] = []
    for index, condition in enumerate(dumped["conditions"]):
        values = condition.get("values")
        if not values or _size(values) <= INLINE_VALUES_BYTES:
            continue
        condition["values"] = []
        for chunk in _chunks(values):
            chunk_items.append(
                {
                    "pk": workspace_id,
                    "sk": f"{chunk_prefix(rule.exclusion_id, generation)}{len(chunk_items):04d}",
                    "condition": index,
                    # One string, not a list: a list of tens of thousands of typed elements costs
                    # far more to (de)serialize in every SDK than the same bytes as one value.
                    "values_json": json.dumps(chunk, separators=(",", ":")),
                }
            )
    rule_item: dict[str, Any] = {"pk": workspace_id, "sk": rule_sk(rule.exclusion_id), "rule": dumped}
    if chunk_items:
        rule_item["chunks"] = {"generation": generation, "count": len(chunk_items)}
    return [rule_item, *chunk_items]


def assemble_rule(rule_item: dict[str, Any], chunk_items: list[dict[str, Any]]) -> ExclusionRule | None:
    """The whole rule from its item and its generation's chunks; None if chunks are missing."""
    rule = json.loads(json.dumps(rule_item["rule"]))  # never mutate a cached item
    meta = rule_item.get("chunks")
    if meta:
        own = sorted(
            (c for c in chunk_items if c["sk"].startswith(chunk_prefix(rule["exclusion_id"], meta["generation"]))),
            key=lambda c: c["sk"],
        )
        if len(own) != int(meta["count"]):
            return None
        for chunk in own:
            condition = rule["conditions"][int(chunk["condition"])]
            condition["values"] = (condition.get("values") or []) + json.loads(chunk["values_json"])
    return ExclusionRule.model_validate(rule)


def assemble_rules(items: list[dict[str, Any]]) -> list[ExclusionRule]:
    """Whole rules from the plain items of one workspace (rule items and chunk items)."""
    chunks = [i for i in items if i.get("sk", "").startswith(CHUNK_PREFIX)]
    rules = [assemble_rule(i, chunks) for i in items if "rule" in i]
    return [r for r in rules if r is not None]


class ExclusionStore:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.table = config.exclusions_table
        self._ddb = client("dynamodb")

    def load_rules(self, workspace_id: str) -> list[ExclusionRule]:
        """Every rule of the workspace: the rule items, plus chunks not already held in memory."""
        rules: list[ExclusionRule] = []
        for item in self._items(workspace_id, RULE_PREFIX):
            rule = self._whole(workspace_id, item)
            if rule is not None:
                rules.append(rule)
        return rules

    def _whole(self, workspace_id: str, item: dict[str, Any]) -> ExclusionRule | None:
        for _attempt in range(2):
            meta = item.get("chunks")
            if not meta:
                return assemble_rule(item, [])
            exclusion_id = item["rule"]["exclusion_id"]
            key = (self.table, workspace_id, exclusion_id, str(meta["generation"]))
            with _CHUNK_CACHE_LOCK:
                cached = _CHUNK_CACHE.get(key)
                if cached is not None:
                    _CHUNK_CACHE.move_to_end(key)
            chunks = (
                cached
                if cached is not None
                else self._items(workspace_id, chunk_prefix(exclusion_id, str(meta["generation"])))
            )
            rule = assemble_rule(item, chunks)
            if rule is not None:
                if cached is None:
                    with _CHUNK_CACHE_LOCK:
                        _CHUNK_CACHE[key] = chunks
                        while len(_CHUNK_CACHE) > CHUNK_CACHE_ENTRIES:
                            _CHUNK_CACHE.popitem(last=False)
                return rule
            # The rule was rewritten between the two reads (its old chunks are gone): read it again.
            found = self._ddb.get_item(
                TableName=self.table, Key=to_item({"pk": workspace_id, "sk": item["sk"]}), ConsistentRead=True
            )
            item = from_item(found.get("Item")) or {}
            if "rule" not in item:
                return None
        return None

    def put(self, workspace_id: str, rule: ExclusionRule, *, create: bool) -> None:
        """Write the rule and its chunks atomically; then drop chunks of earlier generations."""
        items = split_rule(workspace_id, rule)
        total = sum(len(json.dumps(i, default=str)) for i in items)
        if len(items) > MAX_TRANSACTION_ITEMS or total > MAX_TRANSACTION_BYTES:
            raise InvalidInput(
                "the rule's value lists are too large; split them into several rules",
                fields={"conditions": f"at most about {MAX_TRANSACTION_BYTES // 1_000_000} MB of values per rule"},
            )
        old = self._chunk_keys(workspace_id, rule.exclusion_id)
        actions: list[dict[str, Any]] = []
        for position, item in enumerate(items):
            put: dict[str, Any] = {"TableName": self.table, "Item": to_item(item)}
            if position == 0:
                put["ConditionExpression"] = "attribute_not_exists(pk)" if create else "attribute_exists(pk)"
            actions.append({"Put": put})
        try:
            self._ddb.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons") or [{}]
                if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                    raise NotFound("exclusion not found", fields={"exclusion_id": "no such exclusion"}) from None
            raise
        self._delete_keys(old)

    def get(self, workspace_id: str, exclusion_id: str) -> ExclusionRule:
        found = self._ddb.get_item(
            TableName=self.table, Key=to_item({"pk": workspace_id, "sk": rule_sk(exclusion_id)}), ConsistentRead=True
        )
        item = from_item(found.get("Item"))
        rule = self._whole(workspace_id, item) if item and "rule" in item else None
        if rule is None:
            raise NotFound("exclusion not found", fields={"exclusion_id": "no such exclusion"})
        return rule

    def delete(self, workspace_id: str, exclusion_id: str) -> None:
        try:
            self._ddb.delete_item(
                TableName=self.table,
                Key=to_item({"pk": workspace_id, "sk": rule_sk(exclusion_id)}),
                ConditionExpression="attribute_exists(pk)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotFound("exclusion not found", fields={"exclusion_id": "no such exclusion"}) from None
            raise
        self._delete_keys(self._chunk_keys(workspace_id, exclusion_id))

    # --- helpers ---------------------------------------------------------------------------------
    def _items(self, workspace_id: str, prefix: str) -> list[dict[str, Any]]:
        return list(query_prefix(self._ddb, self.table, workspace_id, prefix))

    def _chunk_keys(self, workspace_id: str, exclusion_id: str) -> list[dict[str, Any]]:
        prefix = chunk_prefix(exclusion_id)
        return list(query_prefix(self._ddb, self.table, workspace_id, prefix, raw=True, ProjectionExpression="pk, sk"))

    def _delete_keys(self, item_keys: list[dict[str, Any]]) -> None:
        write_all(self._ddb, self.table, [{"DeleteRequest": {"Key": key}} for key in item_keys])


def iter_workspace_contacts(config: Config, workspace_id: str) -> Iterator[Contact]:
    """Every live contact of a workspace, page by page (by_workspace index: a Query, not a Scan).
    What rule previews, the breadth guard and imports evaluate a rule against."""
    for item in query_index(client("dynamodb"), config.contacts_table, "by_workspace", "ws", workspace_id):
        if not item.get("deleted"):
            yield contact_from_item(item)
