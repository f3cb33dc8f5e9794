"""Inbound CRM webhooks (R13): what every provider shares. Pure: bytes in, changes out.

Authentication: ``POST /v1/webhooks/crm/{provider}``: the sender names its workspace in
``X-Optout-Workspace`` and signs the raw body with the workspace's ``crm.webhook_secret``:
``X-Optout-Signature: sha256=<hex or base64 HMAC-SHA256>``. ``POST /v1/webhooks/crm/{provider}/{workspace_id}``:
the workspace is in the path and the provider's own scheme applies (``CrmProvider.signed``: HubSpot's
v3 signature, Salesforce as above), keyed with the same secret.

Bodies (up to ``MAX_RECORDS`` changes a delivery) are the provider's own shape, read by its module
(``CrmProvider.records`` and ``change``). Each change gets a stable event id (the CRM's own id where
it sends one, else the record id plus its modification time, else a digest of the delivery and
position) so a redelivery is applied once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.errors import InvalidInput, MalformedBody

if TYPE_CHECKING:
    from chalicelib.crm.base import CrmProvider

WORKSPACE_HEADER = "X-Optout-Workspace"
SIGNATURE_HEADER = "X-Optout-Signature"
MAX_RECORDS = 100


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


@dataclass(frozen=True)
class SignedDelivery:
    """What a provider's signature scheme may look at: the request as the CRM signed it (``uri``: the
    URL it was configured with) and our clock, in milliseconds."""

    method: str
    uri: str
    headers: dict[str, str]
    body: bytes
    now_ms: int

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), None)


def optout_signed(secret: str, delivery: SignedDelivery) -> bool:
    """Our own scheme: X-Optout-Signature, the HMAC-SHA256 of the body."""
    return signature_matches(secret, delivery.body, delivery.header(SIGNATURE_HEADER))


@dataclass(frozen=True)
class CrmOptOutChange:
    """One opt-out field change reported by the CRM."""

    ref: str | None  # the CRM record id (Salesforce Id, HubSpot objectId)
    contact_id: str | None
    email: str | None
    opted_out: bool | None  # None: not an opt-out change (see ``skip``)
    event_id: str
    skip: str | None = None  # why the change is not applied: invalid | ignored


def parse_changes(provider: CrmProvider, raw_body: bytes, field: str | None = None) -> list[CrmOptOutChange]:
    try:
        body = json.loads(raw_body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody("body is not valid JSON", fields={"body": "invalid JSON"}) from None
    delivery = hashlib.sha256(raw_body).hexdigest()[:32]
    name = field or provider.default_field
    records = provider.records(body)
    if not records or len(records) > MAX_RECORDS:
        raise InvalidInput(f"send 1-{MAX_RECORDS} changes per delivery", fields={"records": f"1-{MAX_RECORDS} items"})
    return [provider.change(record, name, f"{delivery}:{index}") for index, record in enumerate(records)]


# --- helpers for the providers' record parsers -------------------------------------------------


def text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str) and str(value).strip():
        return str(value).strip()
    return None


def flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def event_id(provider: str, own_id: str | None, ref: str | None, modified: str | None, fallback: str) -> str:
    if own_id:
        return f"crm:{provider}:{own_id}"
    if ref and modified:
        return f"crm:{provider}:{ref}:{modified}"
    return f"crm:{provider}:d:{fallback}"


def unreadable(provider: str, fallback: str) -> CrmOptOutChange:
    """A record that is not an object: reported as invalid, under the delivery's fallback id."""
    return CrmOptOutChange(None, None, None, None, event_id(provider, None, None, None, fallback), "invalid")
