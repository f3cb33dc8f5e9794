"""Twilio webhooks: inbound SMS/WhatsApp keywords and revocations (R6, R15) and delivery-status
callbacks (R7).

Both are authenticated by the workspace's Twilio auth token (``X-Twilio-Signature`` over the
public URL + path + query + form parameters); an unknown workspace and a bad signature are the
same Forbidden, and nothing is read or written before the check passes. Exactly once: every DND
change carries the delivery's natural id (MessageSid; for callbacks MessageSid + status + error
code), so a redelivery changes nothing and adds no audit entry.

Inbound (R15): a whole-message keyword (built in, the workspace's ``sms_keywords``, or Twilio's
``OptOutType``) opts out on ``sms_stop_channels`` (a WhatsApp sender: its ``whatsapp`` channel),
opts back in, or asks for help; other text goes to the revocation matcher: a clear revocation
opts out like STOP (reason ``revocation_phrase``; ``sms_revocation_phrases: flag`` makes it a
flag), an ambiguous one is a flag for a person. Replies follow ``keyword_replies``.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

from aws_lambda_powertools import Logger

from chalicelib.errors import Forbidden, InvalidAddress
from chalicelib.logic.keywords import Language, match_keyword
from chalicelib.logic.normalize import is_valid_id, normalize_phone
from chalicelib.logic.revocation import judge
from chalicelib.logic.twilio_signature import is_valid_signature
from chalicelib.models.domain import REASON_CARRIER_PREFIX, REASON_SMS_KEYWORD, Kind, WorkspaceSettings
from chalicelib.observability import SERVICE
from chalicelib.services.context import Services
from chalicelib.services.dnd import DndChange, apply_dnd_change, record_flag
from chalicelib.services.flags import REASON_FLAG_OPT_OUT
from chalicelib.services.recipients import Target

logger = Logger(service=SERVICE, child=True)  # a child of the service logger: correlation ids

REASON_SMS_START = "sms_start"
REASON_REVOCATION_CANDIDATE = "revocation_candidate"
REASON_REVOCATION_PHRASE = "revocation_phrase"
REASON_CARRIER_21610 = REASON_CARRIER_PREFIX + "21610"
# START/YES/UNSTOP re-opt-in clears only what the contact's own texts (a keyword, a revocation
# phrase, a flag a person confirmed) or Twilio's 21610 (recipient texted STOP to Twilio) set --
# never a user's manual entry or a carrier's 30004.
KEYWORD_CLEARABLE = frozenset({REASON_SMS_KEYWORD, REASON_CARRIER_21610, REASON_REVOCATION_PHRASE, REASON_FLAG_OPT_OUT})

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
    urls: tuple[str, ...]  # the public URL Twilio called, in the spellings it may have signed
    params: list[tuple[str, str]]
    signature: str | None

    def param(self, name: str) -> str:
        return next((value for key, value in self.params if key == name), "")


def authenticate(services: Services, request: TwilioRequest) -> None:
    """Forbidden unless the workspace exists, has a Twilio auth token, and the signature matches."""
    auth_token = (
        services.workspaces.twilio_auth_token(request.workspace_id) if is_valid_id(request.workspace_id) else None
    )
    if not auth_token or not is_valid_signature(request.urls, request.params, auth_token, request.signature):
        raise Forbidden("invalid Twilio signature", fields={"X-Twilio-Signature": "does not match"})


@dataclass(frozen=True)
class Sender:
    phone: str
    channel: str  # "sms" or "whatsapp"


def _sender(services: Services, workspace_id: str, raw: str) -> Sender | None:
    """E.164 and channel of a Twilio address ("+1...", "whatsapp:+1..."); None for other
    channels ("messenger:...") or unusable numbers."""
    channel = "sms"
    if raw.lower().startswith("whatsapp:"):
        channel, raw = "whatsapp", raw.split(":", 1)[1]
    if not raw or ":" in raw:
        return None
    region = services.config_cache.get(workspace_id).settings.default_phone_region
    try:
        return Sender(normalize_phone(raw, region), channel)
    except InvalidAddress:
        return None


def reply_text(settings: WorkspaceSettings, kind: str, language: Language) -> str:
    """The workspace's text for a keyword reply (stop | start | help), in the keyword's language
    where the workspace set one (``sms_texts_by_language``), else its default text."""
    localized = settings.sms_texts_by_language.get(language) if language != "en" else None  # type: ignore[call-overload]
    text = getattr(localized, kind, None) if localized is not None else None
    return text or {"stop": settings.sms_stop_text, "start": settings.sms_start_text}.get(kind, settings.sms_help_text)


def _stop_channels(settings: WorkspaceSettings, sender: Sender) -> tuple[str, ...]:
    """What a STOP covers: sms_stop_channels for SMS (R15, FCC); a WhatsApp sender's WhatsApp."""
    return ("whatsapp",) if sender.channel == "whatsapp" else tuple(settings.sms_stop_channels)


def handle_inbound_sms(services: Services, request: TwilioRequest) -> str:
    """POST /v1/webhooks/twilio/{ws}/sms -> TwiML. Raises Forbidden / StoreUnavailable."""
    authenticate(services, request)
    ws = request.workspace_id
    settings = services.config_cache.get(ws).settings
    message_sid = request.param("MessageSid") or request.param("SmsSid") or None
    body = request.param("Body")
    keyword = match_keyword(body, settings.sms_keywords.model_dump(), request.param("OptOutType") or None)
    optout_replies = settings.keyword_replies == "optout"
    if keyword is not None and keyword.keyword_class == "help":  # answered in both reply modes
        return twiml_message(reply_text(settings, "help", keyword.language))
    sender = _sender(services, ws, request.param("From"))
    if sender is None:
        logger.info("inbound message not from a phone number; ignored", extra={"workspace_id": ws})
        return EMPTY_TWIML
    target = Target(phone=sender.phone)
    if keyword is not None and keyword.keyword_class == "opt_out":
        _opt_out(services, ws, target, sender, settings, REASON_SMS_KEYWORD, "sms_keyword", message_sid)
        return twiml_message(reply_text(settings, "stop", keyword.language)) if optout_replies else EMPTY_TWIML
    if keyword is not None and keyword.keyword_class == "opt_in":
        _opt_in(services, ws, target, sender, settings, message_sid)
        return twiml_message(reply_text(settings, "start", keyword.language)) if optout_replies else EMPTY_TWIML
    verdict, rule = judge(body)
    if verdict == "opt_out" and settings.sms_revocation_phrases == "opt_out":
        _opt_out(services, ws, target, sender, settings, REASON_REVOCATION_PHRASE, "sms_phrase", message_sid)
        language: Language = (
            "fr" if (rule or "").startswith("fr_") else "es" if (rule or "").startswith("es_") else "en"
        )
        return twiml_message(reply_text(settings, "stop", language)) if optout_replies else EMPTY_TWIML
    if verdict is not None:
        flagged = record_flag(
            services,
            ws,
            target,
            sender.channel,
            REASON_REVOCATION_CANDIDATE,
            "contact",
            event_id=message_sid,
            note=f"inbound {sender.channel} {message_sid}" if message_sid else None,
            channels=_stop_channels(settings, sender),
        )
        logger.info("revocation candidate flagged", extra={"workspace_id": ws, "recorded": flagged})
    return EMPTY_TWIML


def _opt_out(
    services: Services,
    ws: str,
    target: Target,
    sender: Sender,
    settings: WorkspaceSettings,
    reason: str,
    actor: str,
    message_sid: str | None,
) -> None:
    """The contact's own opt-out: permanent (R2, R15)."""
    _keyword_change(services, ws, target, sender, settings, "enable", reason, actor, message_sid)


def _opt_in(
    services: Services, ws: str, target: Target, sender: Sender, settings: WorkspaceSettings, message_sid: str | None
) -> None:
    """START: clears what a keyword may clear (KEYWORD_CLEARABLE), never a complaint or a person's flag."""
    _keyword_change(services, ws, target, sender, settings, "disable", REASON_SMS_START, "sms_keyword", message_sid)


def _keyword_change(
    services: Services,
    ws: str,
    target: Target,
    sender: Sender,
    settings: WorkspaceSettings,
    action: str,
    reason: str,
    actor: str,
    message_sid: str | None,
) -> None:
    enable = action == "enable"
    change = DndChange(
        ws,
        target,
        "outbound",
        _stop_channels(settings, sender),
        action,
        "contact",
        reason,
        kind="permanent" if enable else "temporary",
        actor=actor,
        only_reasons=None if enable else KEYWORD_CLEARABLE,
        event_id=message_sid,
    )
    result = apply_dnd_change(services, change)
    outcome = {"workspace_id": ws, "changed": result.changed, "duplicate": result.duplicate}
    if enable:
        logger.info("inbound opt-out", extra={**outcome, "reason": reason})
    else:
        logger.info("inbound opt-in", extra=outcome)


def handle_status_callback(services: Services, request: TwilioRequest) -> str:
    """POST /v1/webhooks/twilio/{ws}/status. Carrier errors that mean "stop" become SMS DND."""
    authenticate(services, request)
    ws = request.workspace_id
    code = request.param("ErrorCode").strip()
    kind = CARRIER_ERROR_KINDS.get(code)
    if kind is None:
        return EMPTY_TWIML
    sender = _sender(services, ws, request.param("To"))
    phone = sender.phone if sender is not None and sender.channel == "sms" else None
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
