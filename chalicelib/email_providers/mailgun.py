"""Mailgun webhooks (R19): one event per request, signed in the body.

Authentication (Mailgun "Securing Webhooks"): ``signature.signature`` is the hex HMAC-SHA256 of
``signature.timestamp + signature.token`` with the domain's HTTP webhook signing key (setting
``mailgun_signing_key``), compared in constant time; timestamps more than 5 minutes away are refused,
and so is a token already used (the caller keeps used tokens, ``Verified.replay_token``).

Events (``event-data.event``): ``failed`` with ``severity: permanent`` -> hard bounce (a drop because the
address is on Mailgun's bounce, complaint or unsubscribe list -> the matching signal), ``failed`` with
``severity: temporary`` -> soft bounce, ``complained`` -> complaint, ``unsubscribed`` -> the person's
unsubscribe; anything else changes nothing. The event id is ``event-data.id`` (Mailgun: unique within a
day) with the event's own timestamp, which a redelivery repeats.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from chalicelib.email_providers import Verified, WebhookRequest, check_timestamp, forbidden, json_object
from chalicelib.errors import InvalidInput
from chalicelib.models.email_feedback import EmailFeedback, Signal

NAME = "mailgun"

# event-data.reason of a permanent failure that is Mailgun refusing to send to a suppressed address.
SUPPRESSION_REASONS: dict[str, Signal] = {
    "suppress-bounce": "suppression_list_bounce",
    "suppress-complaint": "complaint",
    "suppress-unsubscribe": "unsubscribe",
}


def authenticate(secret: str, request: WebhookRequest, now: int) -> Verified:
    signature = json_object(request.body).get("signature")
    if not isinstance(signature, dict):
        raise forbidden("missing", "signature")
    timestamp, token, given = (signature.get(k) for k in ("timestamp", "token", "signature"))
    if not all(isinstance(v, str | int) and str(v) for v in (timestamp, token, given)):
        raise forbidden("timestamp, token and signature are required", "signature")
    check_timestamp(timestamp, now, "signature.timestamp")
    expected = hmac.new(secret.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), str(given).strip().lower().encode()):
        raise forbidden("does not match", "signature.signature")
    return Verified(replay_token=str(token))


def parse(body: bytes) -> list[EmailFeedback]:
    data = json_object(body).get("event-data")
    if not isinstance(data, dict):
        raise InvalidInput("event-data is required", fields={"event-data": "must be an object"})
    event = data.get("event")
    if not isinstance(event, str):
        raise InvalidInput("event-data.event is required", fields={"event-data.event": "must be a string"})
    signal = _signal(event, data)
    if signal is None:
        return []
    event_id = data.get("id")
    if not isinstance(event_id, str) or not event_id.strip():
        raise InvalidInput("event-data.id is required", fields={"event-data.id": "must be a non-empty string"})
    timestamp = data.get("timestamp")
    key = event_id.strip()[:200] + (f":{timestamp}" if isinstance(timestamp, int | float) else "")
    note = f"{event}" + (f" {data['reason']}" if isinstance(data.get("reason"), str) else "")
    return [EmailFeedback(NAME, key, str(data.get("recipient") or ""), signal, note=note[:200])]


def _signal(event: str, data: dict[str, Any]) -> Signal | None:
    if event == "failed":
        severity = data.get("severity")
        if severity == "temporary":
            return "soft_bounce"
        if severity == "permanent":
            return SUPPRESSION_REASONS.get(str(data.get("reason") or ""), "hard_bounce")
        return None
    if event == "complained":
        return "complaint"
    if event == "unsubscribed":
        return "unsubscribe"
    return None
