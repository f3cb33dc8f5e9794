"""Exclusion rules (R10) in ExclusionsTable: pk=<ws>, sk=rule#<id> holding ``rule``.

Large value lists (CSV imports of tens of thousands of emails or domains) would exceed
DynamoDB's 400 KB item limit, so a condition's ``values`` beyond a small size move into chunk
items ``rule#<id>#chunk#<generation>#<n>`` (``condition`` index + ``values``), written in the
same transaction as the rule item. The rule item names its current generation, so a reader never
mixes chunks of two versions and stale chunks left by an update are simply ignored (and deleted
after the commit). ``assemble_rules`` rebuilds whole rules from a workspace's items; the config
cache (store/workspaces.py) uses it.
"""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.config import Config
from chalicelib.errors import InvalidInput, NotFound
from chalicelib.models.domain import ExclusionRule
from chalicelib.store.aws import client
from chalicelib.store.items import from_item, to_item, to_value

RULE_PREFIX = "rule#"
INLINE_VALUES_BYTES = 32_000  # values lists above this move into chunk items
CHUNK_BYTES = 250_000  # well under 400 KB with attribute overhead
MAX_TRANSACTION_BYTES = 3_600_000  # TransactWriteItems allows 4 MB in all
MAX_TRANSACTION_ITEMS = 100


def rule_sk(exclusion_id: str) -> str:
    return RULE_PREFIX + exclusion_id


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
                    "sk": f"{rule_sk(rule.exclusion_id)}#chunk#{generation}#{len(chunk_items):04d}",
                    "condition": index,
                    "values": chunk,
                }
            )
    rule_item: dict[str, Any] = {"pk": workspace_id, "sk": rule_sk(rule.exclusion_id), "rule": dumped}
    if chunk_items:
        rule_item["chunks"] = {"generation": generation, "count": len(chunk_items)}
    return [rule_item, *chunk_items]


def assemble_rules(items: list[dict[str, Any]]) -> list[ExclusionRule]:
    """Whole rules from the plain items of one workspace (rule items and chunk items)."""
    chunks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        sk = item.get("sk", "")
        if "#chunk#" in sk:
            chunks[sk.split("#chunk#", 1)[0]].append(item)
    rules: list[ExclusionRule] = []
    for item in items:
        if "rule" not in item:
            continue
        rule = item["rule"]
        meta = item.get("chunks")
        if meta:
            prefix = f"#chunk#{meta['generation']}#"
            own = sorted((c for c in chunks.get(item["sk"], []) if prefix in c["sk"]), key=lambda c: c["sk"])
            if len(own) != int(meta["count"]):
                continue  # a write in flight or a torn read: the previous config stays in use
            for chunk in own:
                condition = rule["conditions"][int(chunk["condition"])]
                condition["values"] = (condition.get("values") or []) + list(chunk["values"])
        rules.append(ExclusionRule.model_validate(rule))
    return rules


class ExclusionStore:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.table = config.exclusions_table
        self._ddb = client("dynamodb")

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
        sk = rule_sk(exclusion_id)
        items = [i for i in self._items(workspace_id, sk) if i["sk"] == sk or i["sk"].startswith(sk + "#")]
        rules = assemble_rules(items)
        if not rules:
            raise NotFound("exclusion not found", fields={"exclusion_id": "no such exclusion"})
        return rules[0]

    def list(self, workspace_id: str) -> list[ExclusionRule]:
        return assemble_rules(self._items(workspace_id, RULE_PREFIX))

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
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {":pk": to_value(workspace_id), ":p": to_value(prefix)},
            "ConsistentRead": True,
        }
        while True:
            page = self._ddb.query(**kwargs)
            items.extend(from_item(i) or {} for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _chunk_keys(self, workspace_id: str, exclusion_id: str) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {
                ":pk": to_value(workspace_id),
                ":p": to_value(rule_sk(exclusion_id) + "#chunk#"),
            },
            "ProjectionExpression": "pk, sk",
            "ConsistentRead": True,
        }
        found: list[dict[str, Any]] = []
        while True:
            page = self._ddb.query(**kwargs)
            found.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _delete_keys(self, item_keys: list[dict[str, Any]]) -> None:
        for start in range(0, len(item_keys), 25):
            pending: dict[str, Any] = {
                self.table: [{"DeleteRequest": {"Key": key}} for key in item_keys[start : start + 25]]
            }
            for _ in range(8):
                pending = self._ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    break


def iter_workspace_contacts(config: Config, workspace_id: str) -> Iterator[dict[str, Any]]:
    """Every live contact of a workspace, page by page (by_workspace index: a Query, not a Scan).
    What rule previews, the breadth guard and imports evaluate a rule against."""
    ddb = client("dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": config.contacts_table,
        "IndexName": "by_workspace",
        "KeyConditionExpression": "ws = :ws",
        "ExpressionAttributeValues": {":ws": to_value(workspace_id)},
    }
    while True:
        page = ddb.query(**kwargs)
        for raw in page.get("Items", []):
            item = from_item(raw) or {}
            if not item.get("deleted"):
                yield item
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
