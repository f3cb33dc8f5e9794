"""HubSpot (R13): the contact property ``hs_email_optout`` through the CRM v3 objects API, the
webhook subscription's events, and HubSpot's own signature (v3).

HubSpot does not let an integration re-subscribe a contact, so a clear (``False``) is never sent
(SPEC R13): the client refuses it without a request.

Webhook body (subscription ``contact.propertyChange``, or ``object.propertyChange`` with
``objectTypeId`` ``0-1``): ``[{"eventId", "subscriptionId", "portalId", "occurredAt",
"subscriptionType", "attemptNumber", "objectId", "propertyName": "hs_email_optout",
"propertyValue": "true"|"false", "changeSource", ..., "email"?, "contact_id"?}]``; other subscription
types and properties are ``ignored``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any
from urllib.parse import quote

from chalicelib.crm.base import RestCrmClient
from chalicelib.crm.webhooks import CrmOptOutChange, SignedDelivery, event_id, flag, text, unreadable
from chalicelib.errors import MalformedBody
from chalicelib.models.domain import CrmSettings

NAME = "hubspot"
DEFAULT_BASE_URL = "https://api.hubapi.com"  # where write-backs go without instance_url
DEFAULT_PROPERTY = "hs_email_optout"


class HubSpotClient(RestCrmClient):
    provider = NAME
    default_field = DEFAULT_PROPERTY

    def __init__(
        self, access_token: str | None, base_url: str | None = None, field: str | None = None, **transport: Any
    ) -> None:
        super().__init__(base_url or DEFAULT_BASE_URL, access_token, field, **transport)

    def set_email_opt_out(self, record_ref: str, opted_out: bool) -> bool:
        if not opted_out:
            return False
        self.patch(f"/crm/v3/objects/contacts/{quote(record_ref, safe='')}", {"properties": {self.field: "true"}})
        return True


def client(settings: CrmSettings, allow_loopback: bool) -> HubSpotClient:
    return HubSpotClient(settings.access_token, settings.instance_url, settings.field, allow_loopback=allow_loopback)


# --- the webhook body ----------------------------------------------------------------------------


def records(body: Any) -> list[Any]:
    if not isinstance(body, list):
        raise MalformedBody("expected a JSON array of HubSpot events", fields={"body": "must be a list"})
    return body


def change(record: Any, field: str, fallback: str) -> CrmOptOutChange:
    if not isinstance(record, dict):
        return unreadable(NAME, fallback)
    ref = text(record.get("objectId"))
    # HubSpot documents eventId as not guaranteed unique: with the objectId (both the same on every
    # retry attempt) it is.
    own_id = text(record.get("eventId"))
    key = event_id(NAME, f"{own_id}:{ref}" if own_id and ref else own_id, ref, text(record.get("occurredAt")), fallback)
    contact_id, email = text(record.get("contact_id")), text(record.get("email"))
    subscription = text(record.get("subscriptionType"))
    object_type = text(record.get("objectTypeId"))
    other_event = subscription is not None and not subscription.endswith("propertyChange")
    if record.get("propertyName") != field or other_event or object_type not in (None, "0-1"):  # 0-1: contacts
        return CrmOptOutChange(ref, contact_id, email, None, key, "ignored")
    opted_out = flag(record.get("propertyValue"))
    return CrmOptOutChange(ref, contact_id, email, opted_out, key, None if opted_out is not None else "invalid")


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


def signed(secret: str, delivery: SignedDelivery) -> bool:
    """``POST /v1/webhooks/crm/hubspot/{workspace_id}``: the v3 signature, keyed with the app secret."""
    return hubspot_signature_matches(
        secret,
        delivery.method,
        delivery.uri,
        delivery.body,
        delivery.header(HUBSPOT_TIMESTAMP_HEADER),
        delivery.header(HUBSPOT_SIGNATURE_HEADER),
        delivery.now_ms,
    )
