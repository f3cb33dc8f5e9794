"""Enrollments table (R11): pk=<ws>#<sequence_id>, sk=<contact_id>.

GSI keys kept on each item: ``contact_key`` (<ws>#<contact_id>, every sequence of a contact),
``seq_status`` (<ws>#<seq>#<status>, a sequence's enrollments by status) and ``seq_company``
(<ws>#<seq>#<company_domain>, present only while the enrollment is active, so the company cap
and "unenroll the company on reply" read active enrollments only).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from chalicelib.config import Config
from chalicelib.errors import InvalidInput
from chalicelib.logic.bounded_json import loads_bounded
from chalicelib.models.records import Enrollment
from chalicelib.store import keys
from chalicelib.store.aws import client
from chalicelib.store.batch import batch_get, query_index, read_all, write_all
from chalicelib.store.items import from_item, to_item, to_value

if TYPE_CHECKING:
    from chalicelib.models.domain import Mode

ACTIVE: Final = "active"
UNENROLLED: Final = "unenrolled"
STATUSES = (ACTIVE, UNENROLLED)
_GSI_ONLY_WHILE_ACTIVE = ("seq_company",)
# Every attribute of an enrollment item that its key does not determine (pk, sk and the
# attributes derived from them are rebuilt): what a batch rewrite must read. Keep in step with enroll().
# What an active enrollment holds that its key does not give (unenrolled_at/unenroll_reason: an
# active item has none; a re-enrollment writes a fresh item).
_READ_FOR_REWRITE = ("sk", "status", "audience_id", "mode", "company_domain", "enrolled_at", "version")
# What Enrollment names, and the keys the store derives (the item key, the workspace and the index
# keys): the rest of an item goes to Enrollment.extra.
_ENROLLMENT_ATTRIBUTES = frozenset(
    (
        "pk",
        "sk",
        "ws",
        "sequence_id",
        "contact_id",
        "status",
        "audience_id",
        "mode",
        "company_domain",
        "enrolled_at",
        "unenrolled_at",
        "unenroll_reason",
        "version",
        "contact_key",
        "seq_status",
        "seq_company",
    )
)


class EnrollmentChanged(Exception):
    """The enrollment changed between read and write (optimistic concurrency)."""


def seq_status(workspace_id: str, sequence_id: str, status: str) -> str:
    return f"{keys.enrollment_pk(workspace_id, sequence_id)}#{status}"


def seq_company(workspace_id: str, sequence_id: str, company_domain: str) -> str:
    return f"{keys.enrollment_pk(workspace_id, sequence_id)}#{company_domain}"


def enrollment_from_item(
    item: dict[str, Any], workspace_id: str | None = None, sequence_id: str | None = None
) -> Enrollment:
    """The typed enrollment of a stored item, or of the projection a page asked for: there the
    workspace and sequence the query named stand in for the attributes it did not read."""
    get = item.get
    return Enrollment(
        workspace_id=get("ws") or workspace_id or item["pk"].partition("#")[0],
        sequence_id=get("sequence_id") or sequence_id or item["pk"].partition("#")[2],
        contact_id=get("contact_id") or item["sk"],
        status=get("status"),
        audience_id=get("audience_id"),
        mode=get("mode"),
        company_domain=get("company_domain"),
        enrolled_at=get("enrolled_at"),
        unenrolled_at=get("unenrolled_at"),
        unenroll_reason=get("unenroll_reason"),
        version=int(get("version") or 0),
        extra={k: v for k, v in item.items() if k not in _ENROLLMENT_ATTRIBUTES},
    )


def enrollment_item(enrollment: Enrollment) -> dict[str, Any]:
    """The stored item of an enrollment: its attributes plus the key and index keys derived from
    them (``seq_company`` only while active); None values are not written."""
    ws, sequence_id, contact_id = enrollment.workspace_id, enrollment.sequence_id, enrollment.contact_id
    status, company_domain = enrollment.status or ACTIVE, enrollment.company_domain
    return {
        **enrollment.extra,
        "pk": keys.enrollment_pk(ws, sequence_id),
        "sk": contact_id,
        "ws": ws,
        "sequence_id": sequence_id,
        "contact_id": contact_id,
        "status": status,
        "audience_id": enrollment.audience_id,
        "mode": enrollment.mode,
        "company_domain": company_domain,
        "enrolled_at": enrollment.enrolled_at,
        "unenrolled_at": enrollment.unenrolled_at,
        "unenroll_reason": enrollment.unenroll_reason,
        "contact_key": keys.contact_pk(ws, contact_id),
        "seq_status": seq_status(ws, sequence_id, status),
        "seq_company": (seq_company(ws, sequence_id, company_domain) if company_domain and status == ACTIVE else None),
        "version": enrollment.version,
    }


def unenrolled_item(item: dict[str, Any], at: str, reason: str) -> dict[str, Any]:
    """The item after unenrollment: status, time (starts the cooldown), status index key."""
    updated = {k: v for k, v in item.items() if k not in _GSI_ONLY_WHILE_ACTIVE}
    updated.update(
        status=UNENROLLED,
        unenrolled_at=at,
        unenroll_reason=reason,
        seq_status=seq_status(item["ws"], item["sequence_id"], UNENROLLED),
        version=int(item.get("version") or 0) + 1,
    )
    return updated


def encode_cursor(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = loads_bounded(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise InvalidInput("invalid cursor", fields={"cursor": "not a cursor this API returned"}) from None
    if not isinstance(decoded, dict):
        raise InvalidInput("invalid cursor", fields={"cursor": "not a cursor this API returned"})
    return decoded


class EnrollmentStore:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.table = config.enrollments_table
        self._ddb = client("dynamodb")

    def key(self, workspace_id: str, sequence_id: str, contact_id: str) -> dict[str, Any]:
        return to_item({"pk": keys.enrollment_pk(workspace_id, sequence_id), "sk": contact_id})

    def get(self, workspace_id: str, sequence_id: str, contact_id: str) -> Enrollment | None:
        found = self._ddb.get_item(
            TableName=self.table, Key=self.key(workspace_id, sequence_id, contact_id), ConsistentRead=True
        )
        item = from_item(found.get("Item"))
        return None if item is None else enrollment_from_item(item)

    def get_many(self, pairs: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], Enrollment]:
        """(ws, sequence_id, contact_id) -> enrollments found, keyed by (sequence_id, contact_id)."""
        wanted = [self.key(ws, seq, cid) for ws, seq, cid in pairs]
        if not wanted:
            return {}
        found = batch_get({self.table: wanted})
        enrollments = (enrollment_from_item(item) for item in found.get(self.table, []))
        return {(enrollment.sequence_id, enrollment.contact_id): enrollment for enrollment in enrollments}

    def enroll(
        self,
        workspace_id: str,
        sequence_id: str,
        contact_id: str,
        *,
        previous: Enrollment | None,
        audience_id: str | None,
        mode: Mode,
        company_domain: str | None,
        at: str,
    ) -> Enrollment:
        """Write an active enrollment, only if the item is still what the decision read."""
        enrollment = Enrollment(
            workspace_id,
            sequence_id,
            contact_id,
            status=ACTIVE,
            audience_id=audience_id,
            mode=mode,
            company_domain=company_domain,
            enrolled_at=at,
            version=(previous.version if previous is not None else 0) + 1,
        )
        if previous is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":v": to_value(previous.version)},
            }
        try:
            self._ddb.put_item(TableName=self.table, Item=to_item(enrollment_item(enrollment)), **condition)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise EnrollmentChanged() from None
            raise
        return enrollment

    def unenroll_one(self, enrollment: Enrollment, at: str, reason: str) -> bool:
        """Unenroll one active enrollment; False when it was no longer active."""
        if enrollment.status != ACTIVE:
            return False
        return self._unenroll(enrollment.workspace_id, enrollment.sequence_id, enrollment.contact_id, at, reason)

    def unenroll_batch(self, workspace_id: str, pairs: list[tuple[str, str]], at: str, reason: str) -> int:
        """Unenroll the still-active ones of up to 100 (sequence_id, contact_id) pairs: one
        BatchGetItem, then BatchWriteItem (25 puts a request, unprocessed retried).

        The read projects only what cannot be derived from the key (_READ_FOR_REWRITE): big read
        responses, not writes, dominate the cost. A re-run sees the items unenrolled and writes
        nothing, so the cooldown start (unenrolled_at) never moves. Returns how many it wrote."""
        table = self.table
        unique = list(dict.fromkeys(pairs))
        if not unique:
            return 0
        # One sequence (every job but a contact list across sequences): the sort key names the
        # item, and every value read costs (on moto, more than writing it).
        wanted = _READ_FOR_REWRITE if len({seq for seq, _ in unique}) == 1 else ("pk", *_READ_FOR_REWRITE)
        names = {f"#r{n}": name for n, name in enumerate(wanted)}
        request = {
            table: {
                "Keys": [self.key(workspace_id, seq, cid) for seq, cid in unique],
                "ConsistentRead": True,
                "ProjectionExpression": ", ".join(names),
                "ExpressionAttributeNames": names,
            }
        }
        found = read_all(self._ddb, request).get(table, [])
        writes = []
        for partial in found:
            if partial.get("status") != ACTIVE:
                continue
            sequence_id = partial["pk"].split("#", 1)[1] if "pk" in partial else unique[0][0]
            whole = {
                **partial,
                "pk": keys.enrollment_pk(workspace_id, sequence_id),
                "ws": workspace_id,
                "sequence_id": sequence_id,
                "contact_id": partial["sk"],
                "contact_key": keys.contact_pk(workspace_id, partial["sk"]),
            }
            writes.append({"PutRequest": {"Item": to_item(unenrolled_item(whole, at, reason))}})
        write_all(self._ddb, table, writes)
        return len(writes)

    def _unenroll(self, workspace_id: str, sequence_id: str, contact_id: str, at: str, reason: str) -> bool:
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key=self.key(workspace_id, sequence_id, contact_id),
                UpdateExpression=(
                    "SET #s = :u, unenrolled_at = :at, unenroll_reason = :r, seq_status = :ss,"
                    " version = if_not_exists(version, :zero) + :one REMOVE seq_company"
                ),
                ConditionExpression="#s = :active",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":u": to_value(UNENROLLED),
                    ":active": to_value(ACTIVE),
                    ":at": to_value(at),
                    ":r": to_value(reason),
                    ":ss": to_value(seq_status(workspace_id, sequence_id, UNENROLLED)),
                    ":zero": to_value(0),
                    ":one": to_value(1),
                },
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def page(
        self,
        workspace_id: str,
        sequence_id: str,
        status: str | None,
        *,
        limit: int,
        start_key: dict[str, Any] | None = None,
        attributes: tuple[str, ...] | None = None,
    ) -> tuple[list[Enrollment], dict[str, Any] | None]:
        """One page of a sequence's enrollments (by status via the by_status index), and the plain
        LastEvaluatedKey (the cursor). ``attributes`` reads only those (planners need a contact id,
        not the whole item: reading 1,000 full items a page cost more than the writes they plan)."""
        kwargs: dict[str, Any] = {"TableName": self.table, "Limit": limit}
        if attributes:
            kwargs["ProjectionExpression"] = ", ".join(f"#p{n}" for n in range(len(attributes)))
            kwargs["ExpressionAttributeNames"] = {f"#p{n}": name for n, name in enumerate(attributes)}
        if status is None:
            kwargs.update(
                KeyConditionExpression="pk = :k",
                ExpressionAttributeValues={":k": to_value(keys.enrollment_pk(workspace_id, sequence_id))},
            )
        else:
            kwargs.update(
                IndexName="by_status",
                KeyConditionExpression="seq_status = :k",
                ExpressionAttributeValues={":k": to_value(seq_status(workspace_id, sequence_id, status))},
            )
        if start_key:
            kwargs["ExclusiveStartKey"] = to_item(start_key)
        try:
            response = self._ddb.query(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ValidationException" and start_key:
                raise InvalidInput("invalid cursor", fields={"cursor": "not a cursor this API returned"}) from None
            raise
        found = [enrollment_from_item(from_item(i) or {}, workspace_id, sequence_id) for i in response.get("Items", [])]
        return found, from_item(response.get("LastEvaluatedKey"))

    def active_for_contact(self, workspace_id: str, contact_id: str) -> list[Enrollment]:
        """Every active enrollment of a contact, across sequences (by_contact index)."""
        return self._active("by_contact", "contact_key", keys.contact_pk(workspace_id, contact_id))

    def active_for_company(self, workspace_id: str, sequence_id: str, company_domain: str) -> list[Enrollment]:
        return self._active("by_company", "seq_company", seq_company(workspace_id, sequence_id, company_domain))

    def count_active_for_company(self, workspace_id: str, sequence_id: str, company_domain: str) -> int:
        return len(self.active_for_company(workspace_id, sequence_id, company_domain))

    def _active(self, index: str, attribute: str, value: str) -> list[Enrollment]:
        items = query_index(self._ddb, self.table, index, attribute, value)
        return [enrollment_from_item(item) for item in items if item.get("status") == ACTIVE]
