"""Inbound CRM webhooks (R13): signature check and body parsing. Pure: bytes in, events out.

Authentication: ``POST /v1/webhooks/crm/{provider}``: the sender names its workspace in
``X-Optout-Workspace`` and signs the raw body with the workspace's ``crm.webhook_secret``:
``X-Optout-Signature: sha256=<hex or base64 HMAC-SHA256>``. ``POST /v1/webhooks/crm/{provider}/{workspace_id}``:
the workspace is in the path; HubSpot signs in its own way (``X-HubSpot-Signature-v3`` with
``X-HubSpot-Request-Timestamp``, the workspace's ``webhook_secret`` being the app's client secret),
Salesforce (an Apex callout) as above.

Bodies (up to ``MAX_RECORDS`` changes a delivery):
- Salesforce (Apex callout): ``{"records": [{"Id", "Email"?, "contact_id"?,
  "HasOptedOutOfEmail": true|false, "event_id"?, "LastModifiedDate"?|"SystemModstamp"?}]}``, or the
  list of records alone (``JSON.serialize(Trigger.new)``)
- HubSpot (webhook subscription ``contact.propertyChange``, or ``object.propertyChange`` with
  ``objectTypeId`` ``0-1``): ``[{"eventId", "subscriptionId", "portalId", "occurredAt",
  "subscriptionType", "attemptNumber", "objectId", "propertyName": "hs_email_optout",
  "propertyValue": "true"|"false", "changeSource", ..., "email"?, "contact_id"?}]``; other
  subscription types and properties are ``ignored``

Each change gets a stable event id (the CRM's own id where it sends one, else the record id plus
its modification time, else a digest of the delivery and position) so a redelivery is applied once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
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
    """Constant-time comparison; the ``sha256=`` prefix is optional; hex, or base64 (what Apex's
    ``EncodingUtil.base64Encode(Crypto.generateMac('hmacSHA256', body, key))`` gives)."""
    digest = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
    candidate = (given or "").strip().removeprefix("sha256=")
    hex_ok = hmac.compare_digest(digest.hex().encode(), candidate.lower().encode())
    b64_ok = hmac.compare_digest(base64.b64encode(digest), candidate.encode())
    return hex_ok | b64_ok


# --- HubSpot's own signature (X-HubSpot-Signature-v3) ------------------------------------------
HUBSPOT_SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
HUBSPOT_TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
HUBSPOT_MAX_AGE_MS = 5 * 60 * 1000
# HubSpot signs the URI with these percent-escapes decoded (its "validating requests" guide).
_HUBSPOT_URI_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_HUBSPOT_ESCAPE = re.compile("|".join(_HUBSPOT_URI_DECODE), re.IGNORECASE)


def hubspot_uri(uri: str) -> str:
    """The request URI as HubSpot signs it: the escapes of its table decoded, the rest kept."""
    return _HUBSPOT_ESCAPE.sub(lambda m: _HUBSPOT_URI_DECODE[m.group(0).upper()], uri)


def hubspot_signature(secret: str, method: str, uri: str, raw_body: bytes, timestamp: str) -> str:
    """base64(HMAC-SHA256(app secret, method + URI + body + timestamp)), UTF-8 throughout."""
    message = method.encode() + hubspot_uri(uri).encode() + raw_body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def hubspot_signature_matches(
    secret: str, method: str, uri: str, raw_body: bytes, timestamp: str | None, given: str | None, now_ms: int
) -> bool:
    """v3 check: a millisecond timestamp no older than 5 minutes (nor more than 5 minutes ahead,
    so a signature made for later cannot be held back and replayed), and the HMAC (constant time)."""
    if not timestamp or not timestamp.strip().isdigit() or len(timestamp.strip()) > 16:
        return False
    timestamp = timestamp.strip()
    fresh = abs(now_ms - int(timestamp)) <= HUBSPOT_MAX_AGE_MS
    expected = hubspot_signature(secret, method, uri, raw_body, timestamp)
    return hmac.compare_digest(expected.encode(), (given or "").strip().encode()) and fresh


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
        if isinstance(body, list):  # an Apex callout's JSON.serialize(Trigger.new): the sObjects themselves
            records = body
        elif isinstance(body, dict) and isinstance(body.get("records"), list):
            records = body["records"]
        else:
            raise MalformedBody('expected {"records": [...]}', fields={"records": "must be a list"})
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
    # HubSpot documents eventId as not guaranteed unique: with the objectId (both the same on every
    # retry attempt) it is.
    own_id = _text(record.get("eventId"))
    event_id = _event_id(
        "hubspot", f"{own_id}:{ref}" if own_id and ref else own_id, ref, _text(record.get("occurredAt")), fallback
    )
    contact_id, email = _text(record.get("contact_id")), _text(record.get("email"))
    subscription = _text(record.get("subscriptionType"))
    object_type = _text(record.get("objectTypeId"))
    other_event = subscription is not None and not subscription.endswith("propertyChange")
    if record.get("propertyName") != field or other_event or object_type not in (None, "0-1"):  # 0-1: contacts
        return CrmOptOutChange(ref, contact_id, email, None, event_id, "ignored")
    opted_out = _flag(record.get("propertyValue"))
    return CrmOptOutChange(ref, contact_id, email, opted_out, event_id, None if opted_out is not None else "invalid")
