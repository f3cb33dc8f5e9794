"""Domain vocabulary and records shared by logic, stores and the API (R1, R2, R11, R14)."""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from chalicelib.errors import InvalidAddress
from chalicelib.logic.keywords import BUILT_IN, KEYWORD_CLASSES, MAX_KEYWORD, normalize_keyword
from chalicelib.logic.normalize import normalize_email

# Adding a channel: name it here and, if an address (not only the contact) suppresses it, map it in
# CHANNEL_ADDRESS below; every list of channels (validation, tokens, imports, openapi) derives from these.
Channel = Literal["email", "sms", "call", "whatsapp", "facebook", "gbp"]
CHANNELS: tuple[Channel, ...] = get_args(Channel)
ChannelOrAll = Literal[Channel, "all"]  # a request's channel: one, or every channel the target has
Direction = Literal["outbound", "inbound"]
Source = Literal["contact", "user", "workflow", "system", "crm"]
SOURCES_ALL: tuple[Source, ...] = get_args(Source)
Kind = Literal["permanent", "temporary"]
Mode = Literal["automated", "manual"]
Purpose = Literal["marketing", "transactional"]
SubscriptionStatus = Literal["subscribed", "unsubscribed"]
AddressKind = Literal["email", "phone"]
ADDRESS_KINDS: tuple[AddressKind, ...] = get_args(AddressKind)
StopChannel = Literal["sms", "call", "whatsapp"]  # what an SMS STOP may cover (R15)

# Which address an outbound channel is suppressed by (R3). Channels not listed are
# suppressed on the contact itself. Inbound DND (calls and SMS together) follows the phone.
CHANNEL_ADDRESS: dict[str, AddressKind] = {"email": "email", "sms": "phone", "call": "phone", "whatsapp": "phone"}


def address_channels(kind: AddressKind | None) -> tuple[Channel, ...]:
    """The channels an address of this kind is suppressed on (an email: email; a phone: sms, call...)."""
    return tuple(channel for channel in CHANNELS if CHANNEL_ADDRESS.get(channel) == kind)


# Reasons used by the intake paths; user/workflow/crm requests may use their own words.
REASON_UNSUBSCRIBED = "unsubscribed"
REASON_SMS_KEYWORD = "sms_stop"
REASON_CARRIER_PREFIX = "carrier_"
REASON_HARD_BOUNCE = "hard_bounce"
REASON_SUPPRESSED_BOUNCE = "suppression_list_bounce"
REASON_SPAM_COMPLAINT = "spam_complaint"
REASON_SOFT_BOUNCES = "soft_bounce_limit"
REASON_REPLY_UNSUBSCRIBE = "reply_unsubscribe"
REASON_MANUAL = "manual"
# The one reason a topic unsubscribe is stored (and audited) under (R16).
REASON_TOPIC_UNSUBSCRIBED = "topic_unsubscribed"
# The answer's warning when a transactional send passes a marketing opt-out (R16).
WARNING_MARKETING_OPT_OUT = "marketing_opt_out"


class DndEntry(BaseModel):
    """One active reason for DND on one channel/direction of one subject."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    reason: str
    kind: Kind
    source: Source
    actor: str | None = None
    at: str


class DndState(BaseModel):
    """The DND entries of one subject (a contact or an address), keyed by reason so a
    weaker reason never overwrites a stronger one (R2)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    outbound: dict[str, dict[str, DndEntry]] = Field(default_factory=dict)
    inbound: dict[str, DndEntry] = Field(default_factory=dict)
    # Topic unsubscribes (R16): topic_id -> channel -> entry. Not DND: no channel is blocked by
    # them except for checks naming the topic. Kept on the same item (and in the same versioned
    # attribute) as DND so a check reads them for free and a change is one transaction.
    topics: dict[str, dict[str, DndEntry]] = Field(default_factory=dict)

    def entries(self, direction: Direction, channel: str | None) -> dict[str, DndEntry]:
        if direction == "inbound":
            return self.inbound
        return self.outbound.get(channel or "", {})

    def topic_entry(self, topic_id: str, channel: str) -> DndEntry | None:
        return self.topics.get(topic_id, {}).get(channel)

    def is_empty(self) -> bool:
        return not self.inbound and not any(self.outbound.values()) and not any(self.topics.values())


def _registered_crm_providers() -> list[str]:
    from chalicelib.crm.registry import CRM_PROVIDERS  # lazily: the CRM clients are not needed to parse settings

    return list(CRM_PROVIDERS)


def _crm_provider_schema(schema: dict[str, Any]) -> None:
    # As a Literal of the registered names would show (same keys, same order).
    rest = dict(schema)
    schema.clear()
    schema.update({"enum": _registered_crm_providers(), **rest})


class CrmSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    # One of chalicelib/crm/registry.py's providers (checked there, not spelled out here).
    provider: str = Field(json_schema_extra=_crm_provider_schema)
    mode: Literal["read", "write", "read_write"] = "read_write"
    field: str | None = None
    webhook_secret: str | None = None
    instance_url: str | None = None
    access_token: str | None = None

    @field_validator("provider", mode="before")
    @classmethod
    def _registered(cls, value: Any) -> Any:
        names = _registered_crm_providers()
        if not isinstance(value, str) or value not in names:
            quoted = [repr(name) for name in names]
            expected = " or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)
            raise PydanticCustomError("literal_error", "Input should be {expected}", {"expected": expected})
        return value


QUIET_HOURS_CHANNELS: tuple[Channel, ...] = ("sms", "call", "whatsapp")
_CLOCK_RE = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def clock_minutes(value: str) -> int:
    """Minutes after midnight of a validated "HH:MM"."""
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


class QuietHoursSettings(BaseModel):
    """R17: no sends on the listed channels while it is night where the recipient is (off by default)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    enabled: bool = False
    channels: list[Channel] = Field(default_factory=lambda: list(QUIET_HOURS_CHANNELS), max_length=len(CHANNELS))
    start: str = "21:00"  # quiet from (recipient's local time)
    end: str = "08:00"  # until
    state_rules: bool = True
    unknown_timezone: Literal["strictest", "allow", "block"] = "strictest"

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK_RE.match(value):
            raise ValueError('a 24-hour local time "HH:MM", 00:00 to 23:59')
        return value

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[Channel]) -> list[Channel]:
        return list(dict.fromkeys(value))

    @field_validator("end")
    @classmethod
    def _window(cls, value: str, info: ValidationInfo) -> str:
        if value == info.data.get("start"):
            raise ValueError("must differ from start (an empty or a whole-day window)")
        return value


DEFAULT_STOP_TEXT = "You are unsubscribed and will receive no more messages. Reply START to resubscribe."
DEFAULT_START_TEXT = "You are resubscribed. Reply STOP to unsubscribe, HELP for help."


class SmsKeywords(BaseModel):
    """A workspace's own keywords per class (R15), on top of the built-in ones. Stored normalized
    (upper case, accents removed, single spaces); a word of another class -- built in or not -- is 422."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    opt_out: list[str] = Field(default_factory=list, max_length=50)
    opt_in: list[str] = Field(default_factory=list, max_length=50)
    help: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("opt_out", "opt_in", "help")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        words = []
        for word in value:
            normalized = normalize_keyword(word)
            if not normalized or len(normalized) > MAX_KEYWORD:
                raise ValueError(f"keywords are 1-{MAX_KEYWORD} letters or digits (got {word!r})")
            words.append(normalized)
        return list(dict.fromkeys(words))

    @model_validator(mode="after")
    def _no_clash(self) -> SmsKeywords:
        for keyword_class in KEYWORD_CLASSES:
            for word in getattr(self, keyword_class):
                for other in KEYWORD_CLASSES:
                    if other != keyword_class and (word in BUILT_IN[other] or word in getattr(self, other)):
                        raise ValueError(f"{word!r} is already a {other} keyword")
        return self


class SmsTexts(BaseModel):
    """Keyword replies in one language; a missing one falls back to the workspace's default text."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    stop: str | None = Field(default=None, min_length=1, max_length=320)
    start: str | None = Field(default=None, min_length=1, max_length=320)
    help: str | None = Field(default=None, min_length=1, max_length=640)


def _https_url(value: str | None) -> str | None:
    """An absolute https URL a browser may load or follow (the server never fetches it)."""
    if value is None:
        return None
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must be an https URL without spaces or control characters")
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError:
        raise ValueError("must be an https URL") from None
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise ValueError("must be an https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain a user name or password")
    return value


class PageSettings(BaseModel):
    """The workspace's brand on its unsubscribe page and preference center (R16, setting ``page``).
    Shown to the person, escaped; the logo is an <img> their browser loads, never fetched by us."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    brand_name: str | None = Field(default=None, min_length=1, max_length=100)
    logo_url: str | None = Field(default=None, max_length=2048, description="https only")
    accent_color: str | None = Field(default=None, pattern=r"^#([0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$")
    privacy_url: str | None = Field(default=None, max_length=2048, description="https only")
    support_email: str | None = Field(default=None, max_length=320)

    @field_validator("brand_name")
    @classmethod
    def _brand(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = " ".join(value.split())
        if not value or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("must be printable text")
        return value

    @field_validator("logo_url", "privacy_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _https_url(value)

    @field_validator("accent_color")
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.lower()
        return "#" + "".join(ch * 2 for ch in value[1:]) if len(value) == 4 else value

    @field_validator("support_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return normalize_email(value)
        except InvalidAddress as exc:
            raise ValueError(f"must be an email address ({exc})") from None


class WorkspaceSettings(BaseModel):
    """Per-workspace behaviour switches (API.md /v1/settings)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    manual_sends_respect_dnd: bool = True
    unsubscribe_all_channels: bool = True
    unsubscribe_allow_keep_channels: bool = True
    reply_unsubscribe_opts_out: bool = True
    soft_bounce_limit: int = Field(default=3, ge=1, le=100)
    soft_bounce_window_days: int = Field(default=7, ge=1, le=365)
    sms_help_text: str = Field(
        default="Reply STOP to unsubscribe. Msg&data rates may apply.", min_length=1, max_length=640
    )
    # --- SMS consent (R15) ---
    sms_keywords: SmsKeywords = Field(default_factory=lambda: SmsKeywords())
    sms_stop_channels: list[StopChannel] = Field(default_factory=lambda: list[StopChannel](["sms"]))
    sms_revocation_phrases: Literal["opt_out", "flag"] = "opt_out"
    keyword_replies: Literal["optout", "provider"] = "optout"
    sms_stop_text: str = Field(default=DEFAULT_STOP_TEXT, min_length=1, max_length=320)
    sms_start_text: str = Field(default=DEFAULT_START_TEXT, min_length=1, max_length=320)
    # Replies in the keyword's language (ARRET/AIDE: fr; ALTO/BAJA/PARAR/AYUDA: es), where set.
    sms_texts_by_language: dict[Literal["fr", "es"], SmsTexts] = Field(default_factory=dict)
    default_phone_region: str = Field(default="US", pattern=r"^[A-Za-z]{2}$")
    ses_identities: list[str] = Field(default_factory=list, max_length=100)
    crm: CrmSettings | None = None
    quiet_hours: QuietHoursSettings = Field(default_factory=QuietHoursSettings)
    page: PageSettings | None = None
    # Email provider webhooks (R19), write-only (GET /v1/settings shows <name>_set instead).
    sendgrid_webhook_public_key: str | None = Field(default=None, max_length=4096)
    mailgun_signing_key: str | None = Field(default=None, min_length=1, max_length=256)
    postmark_webhook_secret: str | None = Field(default=None, min_length=16, max_length=256)

    @field_validator("sendgrid_webhook_public_key")
    @classmethod
    def _sendgrid_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from chalicelib.email_providers.sendgrid import load_public_key  # lazily: cryptography

        load_public_key(value)  # ValueError naming what is wrong
        return "".join(value.split())

    @field_validator("default_phone_region")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("sms_stop_channels")
    @classmethod
    def _stop_channels(cls, value: list[str]) -> list[str]:
        """A STOP always covers SMS; call and WhatsApp may be added (R15)."""
        if "sms" not in value:
            raise ValueError('must include "sms" (a STOP always covers SMS)')
        return list(dict.fromkeys(value))

    @field_validator("ses_identities")
    @classmethod
    def _identities(cls, value: list[str]) -> list[str]:
        cleaned = []
        for identity in value:
            identity = identity.strip()
            if not identity or len(identity) > 512:
                raise ValueError("identities must be non-empty domains, addresses or ARNs")
            cleaned.append(identity if identity.startswith("arn:") else identity.lower())
        return cleaned


class Topic(BaseModel):
    """A subscription topic of a workspace (R16): a newsletter, product updates, ... on its channels.

    ``deleted``: a DELETE keeps a tombstone so the unsubscribes recorded for the topic still
    block checks naming it. ``sendgrid_asm_group_id``: the SendGrid unsubscribe group (ASM group)
    this topic stands for, so a provider's group unsubscribe lands on the topic.
    """

    model_config = ConfigDict(extra="ignore", defer_build=True)

    topic_id: str
    name: str
    description: str | None = None
    channels: list[Channel]
    sendgrid_asm_group_id: int | None = None
    deleted: bool = False
    created_at: str | None = None
    updated_at: str | None = None


class Sequence(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    sequence_id: str
    exclusions_enabled: bool = True
    reenroll_cooldown_days: int = Field(default=0, ge=0, le=3650)
    max_enrollments_per_company: int | None = Field(default=None, ge=1)
    unenroll_company_on_reply: bool = False


class Audience(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    audience_id: str
    disabled_exclusions: list[str] = Field(default_factory=list)


ConditionOp = Literal["eq", "neq", "in", "not_in", "ends_with", "contains", "within_days", "exists"]


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    field: str
    op: ConditionOp
    value: Any = None
    values: list[Any] | None = None


class ExclusionRule(BaseModel):
    """A business exclusion (R10). Conditions are stored normalized."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    exclusion_id: str
    name: str
    level: Literal["person", "company"]
    conditions: list[Condition]
    enabled: bool = True
    exclude_from_sequences: bool = True
    proactive_unenroll: bool = False
    created_at: str | None = None
    updated_at: str | None = None
