"""Postmark webhooks (R19): one record per request, authenticated by HTTP Basic auth.

Authentication: the webhook URL carries credentials (``https://postmark:<secret>@host/...``), so
Postmark sends ``Authorization: Basic``; the password must equal the workspace's
``postmark_webhook_secret`` (constant-time compare; the user name is not checked).

Records (``RecordType``):

- ``Bounce``: ``HardBounce`` and ``BadEmailAddress`` (permanent) -> hard bounce; ``Transient``,
  ``SoftBounce``, ``DnsError``, ``Blocked`` -> soft bounce; ``SpamComplaint`` -> complaint;
  ``Unsubscribe`` -> the person's unsubscribe; ``ManuallyDeactivated`` -> provider suppression; other
  types (auto-responders, address changes, tests...) change nothing. Event id: the bounce ``ID``.
- ``SpamComplaint`` -> complaint. Event id: its ``ID``.
- ``SubscriptionChange`` (an address added to or removed from the stream's suppression list):
  ``SuppressSending: true`` with ``SuppressionReason`` ``HardBounce`` -> hard bounce, ``SpamComplaint``
  -> complaint, ``ManualSuppression`` -> the person's unsubscribe when ``Origin`` is ``Recipient``
  (Postmark records a recipient's unsubscribe so), else a provider suppression (the sender's team).
  ``SuppressSending: false`` is a reactivation, which Postmark documents as done by the sender's team
  (UI or API): it clears what bounces and provider suppressions set, never the person's own
  unsubscribe nor a complaint (SPEC R2: those need the person's re-opt-in). Event id: ``ChangedAt`` +
  the change, as Postmark gives no id.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from chalicelib.email_providers import Verified, WebhookRequest, forbidden, json_object
from chalicelib.errors import InvalidInput
from chalicelib.models.email_feedback import EmailFeedback, Signal

NAME = "postmark"

BOUNCE_TYPES: dict[str, Signal] = {
    "HardBounce": "hard_bounce",
    "BadEmailAddress": "hard_bounce",
    "Transient": "soft_bounce",
    "SoftBounce": "soft_bounce",
    "DnsError": "soft_bounce",
    "Blocked": "soft_bounce",
    "SpamComplaint": "complaint",
    "Unsubscribe": "unsubscribe",
    "ManuallyDeactivated": "provider_suppression",
}
SUPPRESSION_REASONS: dict[str, Signal] = {"HardBounce": "hard_bounce", "SpamComplaint": "complaint"}


def authenticate(secret: str, request: WebhookRequest, now: int) -> Verified:
    scheme, _, credentials = request.header("Authorization").strip().partition(" ")
    if scheme.lower() != "basic":
        raise forbidden("HTTP Basic credentials required", "Authorization")
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise forbidden("not Basic credentials", "Authorization") from None
    password = decoded.partition(b":")[2]
    if not hmac.compare_digest(password, secret.encode()):
        raise forbidden("does not match", "Authorization")
    return Verified()


def _text(record: dict[str, Any], name: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name} is required", fields={name: "must be a non-empty string"})
    return value.strip()


def _record_id(record: dict[str, Any]) -> str:
    value = record.get("ID")
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip():
        raise InvalidInput("ID is required", fields={"ID": "must be the record's id"})
    return str(value).strip()[:100]


def parse(body: bytes) -> list[EmailFeedback]:
    record = json_object(body)
    record_type = _text(record, "RecordType")
    if record_type == "Bounce":
        signal = BOUNCE_TYPES.get(_text(record, "Type"))
        if signal is None:
            return []
        event_id = f"Bounce:{_record_id(record)}"
        return [EmailFeedback(NAME, event_id, _text(record, "Email"), signal, note=record["Type"])]
    if record_type == "SpamComplaint":
        return [EmailFeedback(NAME, f"SpamComplaint:{_record_id(record)}", _text(record, "Email"), "complaint")]
    if record_type == "SubscriptionChange":
        return _subscription_change(record)
    return []


def _subscription_change(record: dict[str, Any]) -> list[EmailFeedback]:
    suppress = record.get("SuppressSending")
    if not isinstance(suppress, bool):
        raise InvalidInput("SuppressSending is required", fields={"SuppressSending": "must be true or false"})
    recipient = _text(record, "Recipient")
    changed_at = _text(record, "ChangedAt")[:64]
    origin = str(record.get("Origin") or "")[:32]
    if not suppress:
        note = f"reactivated at postmark (Origin={origin})"
        event_id = f"SubscriptionChange:{changed_at}:reactivate"
        return [EmailFeedback(NAME, event_id, recipient, "reactivation", note=note)]
    reason = str(record.get("SuppressionReason") or "")
    signal: Signal | None = SUPPRESSION_REASONS.get(reason)
    if reason == "ManualSuppression":
        signal = "unsubscribe" if origin == "Recipient" else "provider_suppression"
    if signal is None:
        return []
    note = f"suppressed at postmark ({reason[:32]}, Origin={origin})"
    return [EmailFeedback(NAME, f"SubscriptionChange:{changed_at}:suppress", recipient, signal, note=note)]
