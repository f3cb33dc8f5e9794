"""Twilio webhooks: inbound SMS keywords (R6) and delivery-status callbacks (R7).

Both are authenticated by the workspace's Twilio auth token (``X-Twilio-Signature`` over the
public URL + path + form parameters); an unknown workspace and a bad signature are the same
Forbidden, and nothing is read or written before the check passes. Exactly once: every DND
change carries the delivery's natural id (MessageSid; for callbacks MessageSid + status +
error code), so a redelivery changes nothing and adds no audit entry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from xml.sax.saxutils import escape

from chalicelib.errors import Forbidden, InvalidAddress
from chalicelib.logic.keywords import classify, looks_like_revocation
from chalicelib.logic.normalize import is_valid_id, normalize_phone
from chalicelib.logic.twilio_signature import is_valid_signature
from chalicelib.models.domain import REASON_CARRIER_PREFIX, REASON_SMS_KEYWORD, Kind
from chalicelib.services.context import Services
from chalicelib.services.dnd import DndChange, apply_dnd_change, record_flag
from chalicelib.services.recipients import Target

logger = logging.getLogger(__name__)

REASON_SMS_START = "sms_start"
REASON_REVOCATION_CANDIDATE = "revocation_candidate"
REASON_CARRIER_21610 = REASON_CARRIER_PREFIX + "21610"
# START/YES/UNSTOP re-opt-in clears only what a keyword or Twilio's 21610 (recipient texted
# STOP to Twilio) set -- never a user's manual entry or a carrier's 30004.
KEYWORD_CLEARABLE = frozenset({REASON_SMS_KEYWORD, REASON_CARRIER_21610})

# Twilio error codes that mean "do not text this number" (R7).
CARRIER_ERROR_KINDS: dict[str, Kind] = {
    "30004": "permanent",  # message blocked (by the recipient or their carrier)
    "21610": "permanent",  # recipient has replied STOP
    "30003": "temporary",  # unreachable handset
    "30005": "temporary",  # unknown destination handset
    "30006": "temporary",  # landline or unreachable carrier
}

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def twiml_message(text: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(text)}</Message></Response>'


@dataclass(frozen=True)
class TwilioRequest:
    workspace_id: str
    url: str  # the public URL Twilio called: OPTOUT_PUBLIC_URL + path (+ query)
    params: list[tuple[str, str]]
    signature: str | None

    def param(self, name: str) -> str:
        return next((value for key, value in self.params if key == name), "")


def authenticate(services: Services, request: TwilioRequest) -> None:
    """Forbidden unless the workspace exists, has a Twilio auth token, and the signature matches."""
    auth_token = (
        services.workspaces.twilio_auth_token(request.workspace_id) if is_valid_id(request.workspace_id) else None
    )
    if not auth_token or not is_valid_signature(request.url, request.params, auth_token, request.signature):
        raise Forbidden("invalid Twilio signature", fields={"X-Twilio-Signature": "does not match"})


def _phone(services: Services, workspace_id: str, raw: str) -> str | None:
    """E.164 of a Twilio SMS address; None for WhatsApp/other channels or unusable numbers."""
    if not raw or ":" in raw:  # "whatsapp:+1...", "messenger:..." are not SMS
        return None
    region = services.config_cache.get(workspace_id).settings.default_phone_region
    try:
        return normalize_phone(raw, region)
    except InvalidAddress:
        return None


def handle_inbound_sms(services: Services, request: TwilioRequest) -> str:
    """POST /v1/webhooks/twilio/{ws}/sms -> TwiML. Raises Forbidden / StoreUnavailable."""
    authenticate(services, request)
    ws = request.workspace_id
    message_sid = request.param("MessageSid") or request.param("SmsSid") or None
    keyword = classify(request.param("Body"))
    if keyword == "help":
        return twiml_message(services.config_cache.get(ws).settings.sms_help_text)
    phone = _phone(services, ws, request.param("From"))
    if phone is None:
        logger.info("inbound message not from an SMS number; ignored", extra={"workspace_id": ws})
        return EMPTY_TWIML
    target = Target(phone=phone)
    if keyword == "opt_out":
        result = apply_dnd_change(
            services,
            DndChange(
                ws,
                target,
                "outbound",
                ("sms",),
                "enable",
                "contact",
                REASON_SMS_KEYWORD,
                kind="permanent",
                actor="sms_keyword",
                event_id=message_sid,
            ),
        )
        logger.info("sms opt-out", extra={"workspace_id": ws, "changed": result.changed, "duplicate": result.duplicate})
    elif keyword == "opt_in":
        result = apply_dnd_change(
            services,
            DndChange(
                ws,
                target,
                "outbound",
                ("sms",),
                "disable",
                "contact",
                REASON_SMS_START,
                actor="sms_keyword",
                only_reasons=KEYWORD_CLEARABLE,
                event_id=message_sid,
            ),
        )
        logger.info("sms opt-in", extra={"workspace_id": ws, "changed": result.changed, "duplicate": result.duplicate})
    elif looks_like_revocation(request.param("Body")):
        flagged = record_flag(
            services,
            ws,
            target,
            "sms",
            REASON_REVOCATION_CANDIDATE,
            "contact",
            event_id=message_sid,
            note=f"inbound SMS {message_sid}" if message_sid else None,
        )
        logger.info("sms revocation candidate flagged", extra={"workspace_id": ws, "recorded": flagged})
    return EMPTY_TWIML


def handle_status_callback(services: Services, request: TwilioRequest) -> str:
    """POST /v1/webhooks/twilio/{ws}/status. Carrier errors that mean "stop" become SMS DND."""
    authenticate(services, request)
    ws = request.workspace_id
    code = request.param("ErrorCode").strip()
    kind = CARRIER_ERROR_KINDS.get(code)
    if kind is None:
        return EMPTY_TWIML
    phone = _phone(services, ws, request.param("To"))
    if phone is None:
        logger.info("status callback for a non-SMS address; ignored", extra={"workspace_id": ws, "code": code})
        return EMPTY_TWIML
    message_sid = request.param("MessageSid") or request.param("SmsSid")
    event_id = f"{message_sid}:{request.param('MessageStatus')}:{code}" if message_sid else None
    result = apply_dnd_change(
        services,
        DndChange(
            ws,
            Target(phone=phone),
            "outbound",
            ("sms",),
            "enable",
            "system",
            REASON_CARRIER_PREFIX + code,
            kind=kind,
            actor="twilio",
            event_id=event_id,
        ),
    )
    logger.info(
        "carrier error recorded",
        extra={"workspace_id": ws, "code": code, "changed": result.changed, "duplicate": result.duplicate},
    )
    return EMPTY_TWIML
