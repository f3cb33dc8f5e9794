"""Append-only audit entries, read per subject and merged oldest first (R12)."""

from __future__ import annotations

from itertools import islice
from typing import Any

from chalicelib.config import Config
from chalicelib.store.aws import client
from chalicelib.store.batch import query_items
from chalicelib.store.items import to_value


class AuditStore:
    def __init__(self, config: Config) -> None:
        self.table = config.audit_table
        self._ddb = client("dynamodb")

    def entries(self, audit_pks: list[str], limit: int = 1000) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for pk in dict.fromkeys(audit_pks):
            items = query_items(
                self._ddb,
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": to_value(pk)},
                ConsistentRead=True,
            )
            found.extend(islice(items, limit))
        found.sort(key=lambda item: item["sk"])
        return found[-limit:]

    def redact(self, audit_pks: list[str], belongs: Any) -> int:
        """Erase personal data (free-text evidence/note, a contact's own actor) from the entries
        ``belongs(pk, entry)`` selects. The only update an audit entry ever gets (R12: erasure);
        what happened, when and why stays."""
        redacted = 0
        for entry in self.entries(audit_pks, limit=100_000):
            fields: list[str] = [name for name in ("evidence", "note") if name in entry]
            if entry.get("source") == "contact" and "actor" in entry:
                fields.append("actor")
            if not fields or not belongs(entry["pk"], entry):
                continue
            self._ddb.update_item(
                TableName=self.table,
                Key={"pk": to_value(entry["pk"]), "sk": to_value(entry["sk"])},
                UpdateExpression="SET redacted = :t REMOVE " + ", ".join(f"#{n}" for n in fields),
                ExpressionAttributeNames={f"#{n}": n for n in fields},
                ExpressionAttributeValues={":t": to_value(True)},
            )
            redacted += 1
        return redacted
