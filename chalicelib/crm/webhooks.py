"""Inbound CRM webhooks (R13): signature check and body parsing. Pure: bytes in, events out.

Authentication: the sender names its workspace in ``X-Optout-Workspace`` and signs the raw body
with the workspace's ``crm.webhook_secret``: ``X-Optout-Signature: sha256=<hex HMAC-SHA256>``.

Bodies (up to ``MAX_RECORDS`` changes a delivery):
- Salesforce (outbound message / flow callout): ``{"records": [{"Id", "Email"?, "contact_id"?,
  "HasOptedOutOfEmail": true|false, "event_id"?, "LastModifiedDate"?|"SystemModstamp"?}]}``
- HubSpot (webhook subscription ``contact.propertyChange``): ``[{"eventId"?, "objectId",
  "propertyName": "hs_email_optout", "propertyValue": "true"|"false", "occurredAt"?, "email"?,
  "contact_id"?}]``

Each change gets a stable event id (the CRM's own id where it sends one, else the record id plus
its modification time, else a digest of the delivery and position) so a redelivery is applied once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Literal

from chalicelib.errors import InvalidInput, MalformedBody

Provider = Literal["salesforce", "hubspot"]
PROVIDERS: tuple[Provider, ...] = ("salesforce", "hubspot")
WORKSPACE_HEADER = "X-Optout-Workspace"
SIGNATURE_HEADER = "X-Optout-Signature"
MAX_RECORDS = 100
DEFAULT_FIELDS: dict[str, str] = {"salesforce": "HasOptedOutOfEmail", "hubspot": "hs_email_optout"}


def sign(secret: str, raw_body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, raw_body: bytes, given: str | None) -> bool:
    """Constant-time comparison; the ``sha256=`` prefix is optional."""
    expected = sign(secret, raw_body)
    candidate = (given or "").strip()
    if not candidate.startswith("sha256="):
        candidate = "sha256=" + candidate
    return hmac.compare_digest(expected.encode(), candidate.encode())


@dataclass(frozen=True)
class CrmOptOutChange:
    """One opt-out field change reported by the CRM."""

    ref: str | None  # the CRM record id (Salesforce Id, HubSpot objectId)
    contact_id: str | None
    email: str | None
    opted_out: bool | None  # None: not an opt-out change (see ``skip``)
    event_id: str
    skip: str | None = None  # why the change is not applied: invalid | ignored


def parse_changes(provider: Provider, raw_body: bytes, field: str | None = None) -> list[CrmOptOutChange]:
    try:
        body = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody("body is not valid JSON", fields={"body": "invalid JSON"}) from None
    delivery = hashlib.sha256(raw_body).hexdigest()[:32]
    name = field or DEFAULT_FIELDS[provider]
    if provider == "salesforce":
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise MalformedBody('expected {"records": [...]}', fields={"records": "must be a list"})
        records = body["records"]
    else:
        if not isinstance(body, list):
            raise MalformedBody("expected a JSON array of HubSpot events", fields={"body": "must be a list"})
        records = body
    if not records or len(records) > MAX_RECORDS:
        raise InvalidInput(f"send 1-{MAX_RECORDS} changes per delivery", fields={"records": f"1-{MAX_RECORDS} items"})
    parse = _salesforce_change if provider == "salesforce" else _hubspot_change
    return [parse(record, name, f"{delivery}:{index}") for index, record in enumerate(records)]


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str) and str(value).strip():
        return str(value).strip()
    return None


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _event_id(provider: str, own_id: str | None, ref: str | None, modified: str | None, fallback: str) -> str:
    if own_id:
        return f"crm:{provider}:{own_id}"
    if ref and modified:
        return f"crm:{provider}:{ref}:{modified}"
    return f"crm:{provider}:d:{fallback}"


def _salesforce_change(record: Any, field: str, fallback: str) -> CrmOptOutChange:
    if not isinstance(record, dict):
        return CrmOptOutChange(None, None, None, None, _event_id("salesforce", None, None, None, fallback), "invalid")
    ref = _text(record.get("Id"))
    modified = _text(record.get("SystemModstamp")) or _text(record.get("LastModifiedDate"))
    event_id = _event_id(
        "salesforce", _text(record.get("event_id")) or _text(record.get("NotificationId")), ref, modified, fallback
    )
    opted_out = _flag(record.get(field))
    return CrmOptOutChange(
        ref,
        _text(record.get("contact_id")),
        _text(record.get("Email")) or _text(record.get("email")),
        opted_out,
        event_id,
        None if opted_out is not None else "invalid",
    )


def _hubspot_change(record: Any, field: str, fallback: str) -> CrmOptOutChange:
    if not isinstance(record, dict):
        return CrmOptOutChange(None, None, None, None, _event_id("hubspot", None, None, None, fallback), "invalid")
    ref = _text(record.get("objectId"))
    event_id = _event_id("hubspot", _text(record.get("eventId")), ref, _text(record.get("occurredAt")), fallback)
    contact_id, email = _text(record.get("contact_id")), _text(record.get("email"))
    if record.get("propertyName") != field:
        return CrmOptOutChange(ref, contact_id, email, None, event_id, "ignored")
    opted_out = _flag(record.get("propertyValue"))
    return CrmOptOutChange(ref, contact_id, email, opted_out, event_id, None if opted_out is not None else "invalid")
