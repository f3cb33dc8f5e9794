"""Flags (R15): messages a person must read and resolve within 10 business days.

A flag lives in the dnd table under ``<ws>#flag#<flag_id>`` (no address or outbox key has that
shape) and carries no readable address: the keyed address hash (``address_key``) and contact ids.
Two sparse indexes, no Scan:

- ``flags_by_status``: ``flag_list`` = ``<ws>#<status>#<shard>`` (4 shards, from the flag id),
  ``flag_at`` = ``<arrival>#<flag_id>``. ``GET /v1/flags`` Queries the 4 shards of a status
  from a cursor and merges them: oldest first, every flag exactly once. Sharded because a
  workspace-wide key takes every flag of a busy workspace (a reply storm after a blast); 4 shards
  carry ~4,000 index writes/s.
- ``open_flags_due``: ``open_flag_shard`` = ``flag#0..7`` (across workspaces, only while open),
  ``due_by``. The scheduled sweep counts open flags past due with 8 Select=COUNT Queries.

Resolving is one conditional update (``status = open``), so a flag is resolved once; the opt-out
resolution runs it inside the DND change's transaction (``resolve_action``).
"""

from __future__ import annotations

import zlib
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.config import Config
from chalicelib.errors import StoreUnavailable
from chalicelib.store.aws import client
from chalicelib.store.items import from_item, to_item, to_value

BY_STATUS_INDEX = "flags_by_status"
OPEN_DUE_INDEX = "open_flags_due"
LIST_SHARDS = 4
DUE_SHARDS = 8


def flag_pk(workspace_id: str, flag_id: str) -> str:
    return f"{workspace_id}#flag#{flag_id}"


def _crc(flag_id: str) -> int:
    return zlib.crc32(flag_id.encode())


def list_key(workspace_id: str, status: str, shard: int) -> str:
    return f"{workspace_id}#{status}#{shard}"


def due_shard_key(shard: int) -> str:
    return f"flag#{shard}"


class FlagStore:
    def __init__(self, config: Config) -> None:
        self.table = config.dnd_table
        self._ddb = client("dynamodb")

    def put_action(self, flag: dict[str, Any]) -> dict[str, Any]:
        """The TransactWriteItems entry storing a new open flag (with the audit entry that records it)."""
        item = {
            **flag,
            "pk": flag_pk(flag["ws"], flag["flag_id"]),
            "flag_list": list_key(flag["ws"], "open", _crc(flag["flag_id"]) % LIST_SHARDS),
            "flag_at": f"{flag['at']}#{flag['flag_id']}",
            "open_flag_shard": due_shard_key(_crc(flag["flag_id"]) % DUE_SHARDS),
        }
        return {
            "Put": {"TableName": self.table, "Item": to_item(item), "ConditionExpression": "attribute_not_exists(pk)"}
        }

    def get(self, workspace_id: str, flag_id: str) -> dict[str, Any] | None:
        found = self._ddb.get_item(
            TableName=self.table, Key=to_item({"pk": flag_pk(workspace_id, flag_id)}), ConsistentRead=True
        )
        item = from_item(found.get("Item"))
        return item if item and item.get("ws") == workspace_id and "flag_id" in item else None

    def resolve_action(self, workspace_id: str, flag_id: str, resolution: dict[str, Any]) -> dict[str, Any]:
        """The conditional update (open -> resolved) as a TransactWriteItems entry."""
        given = {name: value for name, value in resolution.items() if value is not None}
        values = {f":{name}": to_value(value) for name, value in given.items()}
        sets = [f"#{name} = :{name}" for name in given]
        return {
            "Update": {
                "TableName": self.table,
                "Key": to_item({"pk": flag_pk(workspace_id, flag_id)}),
                "UpdateExpression": "SET #status = :resolved, flag_list = :list, "
                + ", ".join(sets)
                + " REMOVE open_flag_shard",
                "ConditionExpression": "#status = :open",
                "ExpressionAttributeNames": {"#status": "status", **{f"#{name}": name for name in given}},
                "ExpressionAttributeValues": {
                    **values,
                    ":resolved": to_value("resolved"),
                    ":open": to_value("open"),
                    ":list": to_value(list_key(workspace_id, "resolved", _crc(flag_id) % LIST_SHARDS)),
                },
            }
        }

    def resolve(self, workspace_id: str, flag_id: str, resolution: dict[str, Any]) -> bool:
        """Resolve on its own (dismiss). False when the flag was not open any more."""
        update = self.resolve_action(workspace_id, flag_id, resolution)["Update"]
        update.pop("TableName")
        try:
            self._ddb.update_item(TableName=self.table, **update)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise StoreUnavailable("could not resolve the flag; retry") from exc
        return True

    def page(self, workspace_id: str, status: str, after: str | None, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` flags of a status after the cursor position (``flag_at``), oldest first,
        and whether more follow: each shard's first ``limit + 1`` from the cursor, merged."""
        merged: list[dict[str, Any]] = []
        for shard in range(LIST_SHARDS):
            condition = "flag_list = :k"
            values = {":k": to_value(list_key(workspace_id, status, shard))}
            if after:
                condition += " AND flag_at > :after"
                values[":after"] = to_value(after)
            page = self._ddb.query(
                TableName=self.table,
                IndexName=BY_STATUS_INDEX,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
                Limit=limit + 1,
            )
            merged.extend(from_item(raw) or {} for raw in page.get("Items", []))
        merged.sort(key=lambda item: item["flag_at"])
        return merged[:limit], len(merged) > limit

    def count_open_past_due(self, now_iso: str) -> int:
        """Open flags whose due_by has passed, across workspaces (index keys only, COUNT)."""
        total = 0
        for shard in range(DUE_SHARDS):
            for page in query_pages(
                self._ddb,
                TableName=self.table,
                IndexName=OPEN_DUE_INDEX,
                KeyConditionExpression="open_flag_shard = :s AND due_by < :now",
                ExpressionAttributeValues={":s": to_value(due_shard_key(shard)), ":now": to_value(now_iso)},
                Select="COUNT",
            ):
                total += int(page.get("Count", 0))
        return total


def query_pages(ddb: Any, **kwargs: Any) -> Any:
    start: dict[str, Any] | None = None
    while True:
        page = ddb.query(**kwargs, **({"ExclusiveStartKey": start} if start else {}))
        yield page
        start = page.get("LastEvaluatedKey")
        if not start:
            return
