"""SendGrid's Event Webhook (R19): ECDSA-signed batches of events.

Authentication (SendGrid "Signed Event Webhook"): ``X-Twilio-Email-Event-Webhook-Signature`` is the
base64 DER ECDSA signature (P-256, SHA-256) of ``X-Twilio-Email-Event-Webhook-Timestamp`` followed by
the raw body; the public key is the one SendGrid shows (base64 DER SubjectPublicKeyInfo), setting
``sendgrid_webhook_public_key``. Timestamps more than 5 minutes away are refused.

Events (a JSON array): ``bounce`` (``type`` bounce -> hard bounce, ``blocked`` -> soft bounce),
``dropped`` whose reason is a suppression (Bounced Address -> suppression-list bounce, Spam Reporting
Address -> complaint, Unsubscribed Address -> the person's unsubscribe, Invalid -> hard bounce),
``spamreport`` -> complaint, ``unsubscribe`` -> the person's unsubscribe, ``group_unsubscribe`` -> the
person's unsubscribe from the topic that maps its ASM group (R16), else from email, ``group_resubscribe``
-> the person's resubscribe to the topic that maps its group (nothing without one).
Everything else (``deferred``, ``processed``, ``delivered``, opens, clicks,
other drop reasons) changes nothing. The event id is ``sg_event_id``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from chalicelib.email_providers import (
    Verified,
    WebhookRequest,
    check_timestamp,
    forbidden,
    json_document,
)
from chalicelib.email_providers.registry import EMAIL_PROVIDERS
from chalicelib.errors import MalformedBody
from chalicelib.models.email_feedback import EmailFeedback, Signal

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

NAME = "sendgrid"
SIGNATURE_HEADER, TIMESTAMP_HEADER = EMAIL_PROVIDERS[NAME].headers  # documented with the route

DROP_REASONS: dict[str, Signal] = {
    "bounced address": "suppression_list_bounce",
    "spam reporting address": "complaint",
    "unsubscribed address": "unsubscribe",
    "invalid": "hard_bounce",
}


@lru_cache(maxsize=256)
def load_public_key(value: str) -> EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 DER; PEM armour tolerated), or ValueError."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    text = "".join(line for line in value.strip().splitlines() if not line.startswith("-----"))
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
        key = load_der_public_key(der)
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        raise ValueError("must be the base64 DER public key SendGrid shows for the signed Event Webhook") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("must be an ECDSA P-256 public key")
    return key


def authenticate(secret: str, request: WebhookRequest, now: int) -> Verified:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    timestamp = request.header(TIMESTAMP_HEADER).strip()
    check_timestamp(timestamp, now, TIMESTAMP_HEADER)
    try:
        signature = base64.b64decode(request.header(SIGNATURE_HEADER).strip(), validate=True)
        load_public_key(secret).verify(signature, timestamp.encode() + request.body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature):
        raise forbidden("does not match", SIGNATURE_HEADER) from None
    return Verified()


def parse(body: bytes) -> list[EmailFeedback]:
    events = json_document(body)
    if not isinstance(events, list) or not all(isinstance(event, dict) for event in events):
        raise MalformedBody("expected a JSON array of event objects", fields={"body": "array of objects"})
    feedback = []
    for event in events:
        signal = _signal(event)
        if signal is None:
            continue
        group = event.get("asm_group_id")
        group_id = group if isinstance(group, int) and not isinstance(group, bool) else None
        feedback.append(
            EmailFeedback(
                NAME,
                _event_id(event),
                str(event.get("email") or ""),
                signal,
                group_id=group_id,
                note=f"{event['event']}" + (f" asm_group_id={group_id}" if group_id is not None else ""),
            )
        )
    return feedback


def _signal(event: dict[str, Any]) -> Signal | None:
    kind = event.get("event")
    if kind == "bounce":
        return "soft_bounce" if event.get("type") == "blocked" else "hard_bounce"
    if kind == "dropped":
        return DROP_REASONS.get(str(event.get("reason") or "").strip().lower())
    if kind == "spamreport":
        return "complaint"
    if kind in ("unsubscribe", "group_unsubscribe"):
        return "unsubscribe"
    if kind == "group_resubscribe" and event.get("asm_group_id") is not None:
        return "resubscribe"  # recorded only where a topic maps the group
    return None


def _event_id(event: dict[str, Any]) -> str:
    """``sg_event_id``; for an event without one, a digest of the event itself (same event, same id)."""
    given = event.get("sg_event_id")
    if isinstance(given, str) and given.strip():
        return given.strip()[:200]
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256-" + hashlib.sha256(canonical.encode()).hexdigest()[:40]
