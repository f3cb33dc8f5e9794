"""The DND follow-up outbox: pending follow-ups written in the same transaction as the change.

An outbox item lives in the dnd table under its own key, ``<ws>#outbox#<id>`` (no address key has
that shape: workspace ids carry no ``#``). While pending it carries ``outbox_shard``
(``outbox#00``..``outbox#31``, from the id) and ``due`` (epoch seconds), the keys of the sparse
index ``pending_outbox``; address items have neither attribute, so they never enter the index.
The sweeper Queries that index shard by shard (never a Scan). Shards: one opt-out writes the index
twice (put, then delete), so 10,000 opt-outs/s of one workspace are ~625 index writes/s per shard,
under a partition's ~1,000.

A given-up item stays in the table without ``outbox_shard`` (so it leaves the index) and with
``gave_up_at``, for an operator to inspect or re-queue (set ``outbox_shard`` and ``due`` again).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.config import Config
from chalicelib.store.aws import client
from chalicelib.store.batch import write_all
from chalicelib.store.items import from_item, to_item, to_value

PENDING_INDEX = "pending_outbox"
SHARDS = 32


def outbox_pk(workspace_id: str, outbox_id: str) -> str:
    return f"{workspace_id}#outbox#{outbox_id}"


def shard_key(shard: int) -> str:
    return f"outbox#{shard:02d}"


def shard_of(outbox_id: str) -> str:
    return shard_key(zlib.crc32(outbox_id.encode()) % SHARDS)


class OutboxStore:
    def __init__(self, config: Config) -> None:
        self.table = config.dnd_table
        self._ddb = client("dynamodb")

    def item(self, workspace_id: str, outbox_id: str, due: int, payload: dict[str, Any]) -> dict[str, Any]:
        """A pending item (plain dict): the payload plus the keys that put it in the pending index."""
        return {
            **payload,
            "pk": outbox_pk(workspace_id, outbox_id),
            "outbox_id": outbox_id,
            "ws": workspace_id,
            "outbox_shard": shard_of(outbox_id),
            "due": due,
            "attempts": 0,
        }

    def put_action(self, item: dict[str, Any]) -> dict[str, Any]:
        """The TransactWriteItems entry that stores ``item`` with the change it follows."""
        return {
            "Put": {
                "TableName": self.table,
                "Item": to_item(item),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def delete(self, pk: str) -> None:
        self._ddb.delete_item(TableName=self.table, Key=to_item({"pk": pk}))

    def delete_many(self, pks: list[str]) -> None:
        """Delete completed items, 25 a request (BatchWriteItem), retrying unprocessed ones."""
        write_all(self._ddb, self.table, [{"DeleteRequest": {"Key": to_item({"pk": pk})}} for pk in pks])

    def get(self, pk: str) -> dict[str, Any] | None:
        found = self._ddb.get_item(TableName=self.table, Key=to_item({"pk": pk}), ConsistentRead=True)
        return from_item(found.get("Item"))

    def due_in_shard(self, shard: str, now: int, limit: int) -> Iterator[dict[str, Any]]:
        """Pending items of one shard whose ``due`` has passed, oldest first (index: eventually consistent)."""
        start: dict[str, Any] | None = None
        left = limit
        while left > 0:
            kwargs: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": PENDING_INDEX,
                "KeyConditionExpression": "outbox_shard = :s AND #due <= :now",
                "ExpressionAttributeNames": {"#due": "due"},
                "ExpressionAttributeValues": {":s": to_value(shard), ":now": to_value(now)},
                "Limit": left,
            }
            if start:
                kwargs["ExclusiveStartKey"] = start
            page = self._ddb.query(**kwargs)
            for raw in page.get("Items", []):
                left -= 1
                yield from_item(raw) or {}
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def claim(self, pk: str, attempts: int, next_due: int) -> dict[str, Any] | None:
        """Count an attempt and push ``due`` back, if nobody else did since ``attempts`` was read.
        The fresh item, or None when it is gone (done) or another sweeper claimed it first."""
        try:
            found = self._ddb.update_item(
                TableName=self.table,
                Key=to_item({"pk": pk}),
                UpdateExpression="SET attempts = :next, #due = :due",
                ConditionExpression="attribute_exists(outbox_shard) AND attempts = :seen",
                ExpressionAttributeNames={"#due": "due"},
                ExpressionAttributeValues={
                    ":seen": to_value(attempts),
                    ":next": to_value(attempts + 1),
                    ":due": to_value(next_due),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return from_item(found.get("Attributes"))

    def give_up(self, pk: str, at: str) -> None:
        """Take the item out of the pending index, keeping it for an operator."""
        self._ddb.update_item(
            TableName=self.table,
            Key=to_item({"pk": pk}),
            UpdateExpression="REMOVE outbox_shard, #due SET gave_up_at = :at",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#due": "due"},
            ExpressionAttributeValues={":at": to_value(at)},
        )
