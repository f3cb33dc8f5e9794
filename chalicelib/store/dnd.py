"""DND subjects (contact items and address items) and the atomic write of a DND change.

A change is one DynamoDB transaction: every touched subject (conditional on the
version read), its audit entries, the outbox item of its follow-ups (passed in
``extra_updates``, see chalicelib/store/outbox.py) and -- for webhooks/SNS/SQS -- an
exactly-once marker keyed by the natural event id. Either all of it lands or none does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.config import Config
from chalicelib.errors import ConcurrentUpdate, StoreUnavailable
from chalicelib.models.domain import DndState
from chalicelib.models.records import Contact
from chalicelib.store import keys
from chalicelib.store.aws import client
from chalicelib.store.items import from_item, to_item, to_value

# How long an exactly-once marker outlives its delivery. It is also the replay window of a captured
# signed request (a Twilio START, a CRM change, an SES notification): after it, the same bytes would
# act again. Providers redeliver for hours to days; 400 days puts a replay past any plausible capture.
IDEMPOTENCY_TTL_SECONDS = 400 * 24 * 3600


@dataclass
class Subject:
    """Something DND is stored against: a contact (table=contacts) or an address (table=dnd)."""

    table: str
    pk: str
    audit_pk: str
    state: DndState
    version: int
    workspace_id: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class AuditRecord:
    audit_pk: str
    at: str
    entry: dict[str, Any]


def marker_item(marker_id: str) -> dict[str, Any]:
    """An exactly-once marker; DynamoDB's TTL removes it after IDEMPOTENCY_TTL_SECONDS."""
    return to_item({"id": marker_id, "expiration": int(time.time()) + IDEMPOTENCY_TTL_SECONDS, "kind": "event"})


class DuplicateEvent(Exception):
    """The exactly-once marker exists: this delivery was already applied."""


def subject_from_item(table: str, pk: str, audit_pk: str, workspace_id: str, item: dict[str, Any] | None) -> Subject:
    item = item or {}
    return Subject(
        table=table,
        pk=pk,
        audit_pk=audit_pk,
        state=DndState.model_validate(item.get("dnd") or {}),
        version=int(item.get("version", 0)),
        workspace_id=workspace_id,
        extra=item,
    )


def contact_dnd_subject(table: str, contact: Contact) -> Subject:
    """The contact-level DND of a contact (or of its tombstone), kept on the contact's own item."""
    ws, contact_id = contact.workspace_id, contact.contact_id
    item = {"contact_id": contact_id, "dnd": contact.dnd, "version": contact.version}
    return subject_from_item(
        table, keys.contact_pk(ws, contact_id), f"{ws}#{keys.contact_subject(contact_id)}", ws, item
    )


class DndStore:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._ddb = client("dynamodb")

    def get_address_items(self, pks: list[str]) -> dict[str, dict[str, Any]]:
        from chalicelib.store.batch import batch_get

        if not pks:
            return {}
        found = batch_get({self.config.dnd_table: [to_item({"pk": pk}) for pk in pks]})
        return {item["pk"]: item for item in found.get(self.config.dnd_table, [])}

    def get_address_item(self, pk: str) -> dict[str, Any] | None:
        found = self._ddb.get_item(TableName=self.config.dnd_table, Key=to_item({"pk": pk}), ConsistentRead=True)
        return from_item(found.get("Item"))

    def is_processed(self, marker_id: str) -> bool:
        found = self._ddb.get_item(
            TableName=self.config.idempotency_table, Key=to_item({"id": marker_id}), ConsistentRead=True
        )
        return "Item" in found

    def commit(
        self,
        subjects: list[Subject],
        audit: list[AuditRecord],
        *,
        marker_id: str | None = None,
        extra_updates: list[dict[str, Any]] | None = None,
    ) -> None:
        """Write changed subjects + audit (+ extra items, e.g. the outbox item) (+ marker) atomically.

        Raises DuplicateEvent when the marker exists, ConcurrentUpdate when a subject
        changed since it was read (the caller re-reads and re-plans), StoreUnavailable
        for anything else (the caller answers non-2xx so the sender retries).
        """
        items = self.change_actions(subjects, audit)
        items.extend(extra_updates or [])
        marker_index = None
        if marker_id is not None:
            marker_index = len(items)
            items.append(self._marker_put(marker_id))
        if not items:
            return
        try:
            self._ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code != "TransactionCanceledException":
                raise StoreUnavailable("could not store the change; retry") from exc
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            marker_reason = reasons[marker_index] if marker_index is not None and marker_index < len(reasons) else None
            if marker_reason == "ConditionalCheckFailed":
                raise DuplicateEvent(marker_id) from None
            if "ConditionalCheckFailed" in reasons or "TransactionConflict" in reasons or not reasons:
                raise ConcurrentUpdate("the record changed while being updated; retry") from None
            raise StoreUnavailable("could not store the change; retry") from exc

    def change_actions(
        self, subjects: list[Subject], audit: list[AuditRecord], markers: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """The transaction entries of a change: each subject's conditional update and its suppression
        index items (chalicelib/store/suppressions.py), the audit entries, then the exactly-once
        ``markers`` (each conditional on not existing yet)."""
        from chalicelib.models.domain import DndState
        from chalicelib.store.suppressions import audit_shard, index_actions

        items: list[dict[str, Any]] = []
        for subject in subjects:
            if subject.table == self.config.dnd_table and not subject.extra and not subject.version:
                # A new address item: a conditional Put writes the same item (cheaper to evaluate
                # than an update of a nested map); if it appeared meanwhile the caller re-plans.
                items.append(
                    {
                        "Put": {
                            "TableName": subject.table,
                            "Item": to_item(
                                {
                                    "pk": subject.pk,
                                    "dnd": subject.state.model_dump(mode="json"),
                                    "version": 1,
                                    "ws": subject.workspace_id,
                                }
                            ),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                )
                items.extend(
                    index_actions(
                        self.config.suppressions_table,
                        subject.workspace_id,
                        subject.pk,
                        None,
                        DndState(),
                        subject.state,
                    )
                )
                continue
            values = {
                ":d": to_value(subject.state.model_dump(mode="json")),
                ":nv": to_value(subject.version + 1),
                ":ws": to_value(subject.workspace_id),
            }
            if subject.version:
                condition = "version = :v"
                values[":v"] = to_value(subject.version)
            else:
                condition = "attribute_not_exists(version)"
            if subject.table == self.config.contacts_table:
                condition = f"attribute_exists(pk) AND ({condition})"
            items.append(
                {
                    "Update": {
                        "TableName": subject.table,
                        "Key": to_item({"pk": subject.pk}),
                        "UpdateExpression": "SET dnd = :d, version = :nv, ws = :ws",
                        "ConditionExpression": condition,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
            previous = DndState.model_validate(subject.extra.get("dnd") or {})
            items.extend(
                index_actions(
                    self.config.suppressions_table,
                    subject.workspace_id,
                    subject.pk,
                    subject.extra.get("contact_id"),
                    previous,
                    subject.state,
                )
            )
        for index, record in enumerate(audit):
            sk = f"{record.at}#{time.time_ns():x}{index:02d}"
            items.append(
                {
                    "Put": {
                        "TableName": self.config.audit_table,
                        "Item": to_item(
                            {
                                "pk": record.audit_pk,
                                "sk": sk,
                                "audit_shard": audit_shard(record.audit_pk, sk),
                                **record.entry,
                            }
                        ),
                    }
                }
            )
        items.extend(self._marker_put(marker) for marker in markers or [])
        return items

    def _marker_put(self, marker_id: str) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.config.idempotency_table,
                "Item": marker_item(marker_id),
                "ConditionExpression": "attribute_not_exists(id)",
            }
        }

    def transact(self, items: list[dict[str, Any]]) -> list[str | None] | None:
        """Write ``items`` in one transaction: None when it landed, else the cancellation reasons
        (one per item; empty when DynamoDB gave none). Other failures raise StoreUnavailable."""
        from chalicelib.store.batch import transact_write

        try:
            return transact_write(self._ddb, items)
        except ClientError as exc:
            raise StoreUnavailable("could not store the change; retry") from exc

    def processed_markers(self, marker_ids: list[str]) -> set[str]:
        """Which of the exactly-once markers exist (consistent reads, 100 a request)."""
        from chalicelib.store.batch import batch_get

        table = self.config.idempotency_table
        found: set[str] = set()
        unique = list(dict.fromkeys(marker_ids))
        for start in range(0, len(unique), 100):
            got = batch_get({table: [to_item({"id": m}) for m in unique[start : start + 100]]})
            found.update(item["id"] for item in got.get(table, []))
        return found

    def mark_processed(self, marker_id: str) -> bool:
        """Record a marker on its own (events that change no DND). False if already there."""
        try:
            self._ddb.put_item(
                TableName=self.config.idempotency_table,
                Item=marker_item(marker_id),
                ConditionExpression="attribute_not_exists(id)",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise StoreUnavailable("could not record the event; retry") from exc
        return True
