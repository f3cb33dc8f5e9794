"""Request bodies of the internal API (API.md), as the services validate them, and ``parse()``:
the one way a body becomes a model or a 422 naming each field it refuses.

chalicelib/openapi.py documents every route's body from these models (``model_json_schema``), so
a field added here appears in /openapi.json by itself. Every model builds its validators on first
use (``defer_build``), so a cold start pays only for the bodies its first requests parse.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from chalicelib.errors import InvalidInput
from chalicelib.logic.normalize import is_valid_id
from chalicelib.models.domain import (
    Channel,
    ChannelOrAll,
    CrmSettings,
    Direction,
    Kind,
    Mode,
    Purpose,
    QuietHoursSettings,
    Source,
    WorkspaceSettings,
)

FREE_TEXT_MAX = 500
MAX_CONTACT_IDS = 1000  # per POST /v1/unenrollments
MAX_BATCH = 100  # checks per POST /v1/send-check/batch
# What chalicelib.logic.normalize.is_valid_id accepts, as documented (it also refuses ids of dots only).
ID_PATTERN = r"^[A-Za-z0-9_.:@+\-]{1,128}$"
ID_RULE = "1-128 of A-Z a-z 0-9 _ . : @ + -"
# What DynamoDB can store (numbers: 38 digits, magnitude < 1e126; maps: non-empty keys, 32
# levels; items: 400 KB), kept well inside so bad input is a 422, never a failed write (503).
MAX_ATTRIBUTES_BYTES = 64 * 1024
MAX_ATTRIBUTE_DEPTH = 16
MAX_ATTRIBUTE_NAME = 128

RequestSource = Literal["user", "workflow", "crm", "contact"]  # who asks; "system" is ours alone
Via = Literal["phone", "dialer", "in_person", "email", "chat", "letter", "other"]

Model = TypeVar("Model", bound=BaseModel)


class RequestBody(BaseModel):
    """A request body. ``invalid``: the 422's message when ``parse()`` refuses one; the other
    class keywords are the model's config (``extra``)."""

    # Validators are built on a model's first use, not at import: a cold start builds only the
    # bodies its first requests parse.
    model_config = ConfigDict(defer_build=True)

    invalid_message: ClassVar[str] = "invalid input"

    def __init_subclass__(cls, invalid: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if invalid is not None:
            cls.invalid_message = invalid


def pydantic_fields(exc: ValidationError, prefix: str = "") -> dict[str, str]:
    """The 422's ``fields``: each refused field's dotted path (after ``prefix``) and why."""
    return {prefix + ".".join(str(p) for p in error["loc"]): error["msg"] for error in exc.errors()}


def refusal(reason: str, message: str | None = None) -> PydanticCustomError:
    """A validator's refusal of a field, worded as ``reason`` (a ValueError's text would get
    pydantic's "Value error, " prefix); ``message``: the 422's message when it is the first refusal
    (else the model's ``invalid`` message)."""
    return PydanticCustomError("refused", reason, {"message": message} if message else None)


def parse(model: type[Model], data: Any, message: str | None = None, *, prefix: str = "") -> Model:
    """``data`` as a ``model``, or InvalidInput (422) naming every field it refuses.

    A validator may also raise InvalidInput itself, for a refusal that names a field of its own
    choosing (a rule across fields, a field the model does not take); it reaches the caller as is."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        if message is None and errors:
            message = (errors[0].get("ctx") or {}).get("message")
        if message is None:
            message = model.invalid_message if issubclass(model, RequestBody) else "invalid input"
        raise InvalidInput(message, fields=pydantic_fields(exc, prefix)) from None


def id_rule(reason: str) -> BeforeValidator:
    """Refuse what is_valid_id refuses, the field named with ``reason``."""

    def valid_id(value: Any, info: ValidationInfo) -> Any:
        if not is_valid_id(value):
            raise refusal(reason, f"invalid {info.field_name}")
        return value

    return BeforeValidator(valid_id)


def require_id(value: Any, name: str, *, prefix: str = "") -> str:
    """An id taken outside a body model (a path, a query, a field checked on its own): what ``Id``
    checks, refused as a 422 naming ``prefix + name``."""
    if not is_valid_id(value):
        raise InvalidInput(f"invalid {name}", fields={prefix + name: ID_RULE})
    return str(value)


# An id (contact, sequence, ...): it becomes part of DynamoDB keys and of our URLs' paths.
Id = Annotated[str, Field(pattern=ID_PATTERN), id_rule(ID_RULE)]
# An id the service checks itself (a recipient's as every recipient's, a topic's by looking it up),
# with the same pattern documented.
UncheckedId = Annotated[str, Field(json_schema_extra={"pattern": ID_PATTERN})]


def _as_given(value: Any) -> Any:
    return value


def _attribute_problem(value: Any, depth: int = 0) -> str | None:
    if depth > MAX_ATTRIBUTE_DEPTH:
        return f"nested deeper than {MAX_ATTRIBUTE_DEPTH} levels"
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, int):
        return None if abs(value) < 10**38 else "numbers must have at most 38 digits"
    if isinstance(value, float):
        ok = value == 0 or 1e-120 < abs(value) < 1e120
        return None if ok and value == value else "numbers must be finite and within +-1e120"
    if isinstance(value, list):
        return next((p for p in (_attribute_problem(v, depth + 1) for v in value) if p), None)
    if isinstance(value, dict):
        for name, item in value.items():
            if not isinstance(name, str) or not 0 < len(name) <= MAX_ATTRIBUTE_NAME:
                return f"names must be 1-{MAX_ATTRIBUTE_NAME} characters"
            problem = _attribute_problem(item, depth + 1)
            if problem:
                return problem
        return None
    return "unsupported value"


# --- contacts, DND, send-check ----------------------------------------------------------------


class RecipientBody(RequestBody):
    """A body naming its recipient by contact_id, email or phone (chalicelib/services/recipients.py
    reads which); other fields are ignored, not refused."""

    model_config = ConfigDict(extra="ignore")

    contact_id: str | None = None
    email: str | None = None
    phone: str | None = None


class ContactBody(RequestBody, extra="forbid", invalid="invalid contact"):
    """PUT /v1/contacts/{contact_id}."""

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    company_domain: str | None = Field(default=None, max_length=253)
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("attributes")
    @classmethod
    def _storable(cls, value: dict[str, Any]) -> dict[str, Any]:
        problem = _attribute_problem(value)
        if problem is None and len(json.dumps(value, separators=(",", ":")).encode()) > MAX_ATTRIBUTES_BYTES:
            problem = f"larger than {MAX_ATTRIBUTES_BYTES // 1024} KB"
        if problem:
            raise ValueError(problem)
        return value


class DndBody(RecipientBody, invalid="invalid DND change"):
    """POST /v1/dnd."""

    channel: ChannelOrAll
    direction: Direction = "outbound"
    action: Literal["enable", "disable"]
    source: RequestSource
    actor: str | None = Field(default=None, max_length=256)
    # How the contact expressed it, when a team member records the contact's own words (R15).
    via: Via | None = None
    reason: str | None = Field(default=None, max_length=FREE_TEXT_MAX)
    evidence: str | None = Field(default=None, max_length=FREE_TEXT_MAX)
    clear_reasons: list[str] | None = Field(default=None, max_length=20)

    @field_validator("reason", "evidence", "actor")
    @classmethod
    def _free_text(cls, value: str | None) -> str | None:
        """Free text (R15: "asked by phone" is a normal reason): trimmed, printable, not blank."""
        if value is None:
            return None
        value = " ".join(value.split())
        if not value:
            raise ValueError("must not be blank")
        if not value.isprintable():
            raise ValueError("must be printable text")
        return value


class CheckBody(RecipientBody, invalid="invalid send-check"):
    """POST /v1/send-check, and each check of POST /v1/send-check/batch."""

    channel: Channel
    mode: Mode = "automated"
    sequence_id: str | None = Field(default=None, min_length=1, max_length=128)
    audience_id: str | None = Field(default=None, min_length=1, max_length=128)
    topic_id: str | None = Field(default=None, min_length=1, max_length=128)
    purpose: Purpose = "marketing"
    send_at: str | None = Field(
        default=None,
        max_length=64,
        description="ISO 8601 instant with an offset or Z: ask about a scheduled send (quiet hours) instead of now",
    )


# --- exclusions, sequences, enrollments, replies -----------------------------------------------


class RuleBody(RequestBody, extra="forbid", invalid="invalid exclusion"):
    """POST /v1/exclusions and /v1/exclusions/preview."""

    name: str = Field(min_length=1, max_length=200)
    level: Literal["person", "company"]
    conditions: list[Any]
    enabled: bool = True
    exclude_from_sequences: bool = True
    proactive_unenroll: bool = False
    confirm: bool = False


class RulePatch(RequestBody, extra="forbid", invalid="invalid exclusion change"):
    """PATCH /v1/exclusions/{exclusion_id}."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    level: str | None = None
    conditions: list[Any] | None = None
    enabled: bool | None = None
    exclude_from_sequences: bool | None = None
    proactive_unenroll: bool | None = None
    confirm: bool = False
    exclusion_id: str | None = None


class SequenceBody(RequestBody, extra="forbid", invalid="invalid sequence"):
    """PUT /v1/sequences/{sequence_id}."""

    exclusions_enabled: bool = True
    reenroll_cooldown_days: int = Field(default=0, ge=0, le=3650)
    max_enrollments_per_company: int | None = Field(default=None, ge=1)
    unenroll_company_on_reply: bool = False


class AudienceBody(RequestBody, extra="forbid", invalid="invalid audience"):
    """PUT /v1/audiences/{audience_id}."""

    disabled_exclusions: list[str] = Field(default_factory=list, max_length=1000)


class EnrollBody(RequestBody, extra="forbid", invalid="invalid enrollment"):
    """POST /v1/sequences/{sequence_id}/enrollments."""

    contact_id: str
    audience_id: str | None = None
    mode: Mode = "automated"


class UnenrollmentBody(RequestBody, extra="forbid", invalid="invalid unenrollment"):
    """POST /v1/unenrollments."""

    sequence_id: str | None = None
    status: Literal["active"] | None = None
    exclusion_id: str | None = None
    contact_ids: list[str] | None = Field(default=None, min_length=1, max_length=MAX_CONTACT_IDS)
    reason: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class ReplyBody(RequestBody, extra="forbid", invalid="invalid reply"):
    """POST /v1/replies."""

    contact_id: str
    sequence_id: str
    body: str = Field(default="", max_length=200_000)
    message_id: str | None = Field(default=None, min_length=1, max_length=512)
    # R15: the reply's headers and subject, to tell an automatic reply from the person's own.
    headers: dict[str, str | list[str]] | None = Field(default=None, max_length=200)
    subject: str | None = Field(default=None, max_length=2000)


# --- flags, topics, subscriptions, suppressions -------------------------------------------------


class ResolveFlagBody(RequestBody, extra="forbid", invalid="invalid flag resolution"):
    """POST /v1/flags/{flag_id}."""

    resolution: Literal["opt_out", "dismiss"]
    actor: str = Field(min_length=1, max_length=256)
    reason: str | None = Field(default=None, max_length=FREE_TEXT_MAX)

    @field_validator("actor", "reason")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = " ".join(value.split())
        if not value or not value.isprintable():
            raise ValueError("must be printable, non-blank text")
        return value


class TopicBody(RequestBody, extra="forbid", invalid="invalid topic"):
    """PUT /v1/topics/{topic_id}."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    channels: list[Channel] = Field(min_length=1, max_length=6)
    sendgrid_asm_group_id: int | None = Field(default=None, ge=1, le=2**31 - 1)

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[Channel]) -> list[Channel]:
        if len(set(value)) != len(value):
            raise ValueError("each channel at most once")
        return value


class SubscriptionBody(RecipientBody, invalid="invalid subscription change"):
    """POST /v1/subscriptions."""

    topic_id: str = Field(min_length=1, max_length=128)
    channel: Channel | None = None
    action: Literal["unsubscribe", "resubscribe"]
    source: RequestSource
    actor: str | None = Field(default=None, min_length=1, max_length=256)
    via: Via | None = None
    evidence: str | None = Field(default=None, min_length=1, max_length=500)


class EntryFilters(RequestBody):
    """The filters of suppressions and audit entries: GET /v1/suppressions, POST /v1/exports."""

    channel: ChannelOrAll | None = None
    reason: str | None = Field(default=None, min_length=1, max_length=500)
    source: Source | None = None
    since: str | None = None
    until: str | None = None


class SuppressionFilters(EntryFilters, extra="forbid", invalid="invalid filters"):
    """The query of GET /v1/suppressions, and the filters of an export."""

    kind: Kind | None = None


class ExportBody(EntryFilters, extra="forbid", invalid="invalid export"):
    """POST /v1/exports. The filters of GET /v1/suppressions, at the top level (the entry kind as
    ``entry_kind``, since ``kind`` names the export) or in a ``filters`` object (with ``kind``)."""

    kind: Literal["suppressions", "audit"]
    format: Literal["csv", "ndjson"] = "csv"
    entry_kind: Kind | None = None
    filters: SuppressionFilters | None = None


# --- audit search, batch send-check, unsubscribe links -------------------------------------------


class AuditSearchBody(RequestBody, invalid="invalid audit search"):
    """POST /v1/audit/search: the query of GET /v1/audit in the body. Which one is given, and the
    address itself, are checked as the GET's are (chalicelib/services/recipients.py parse_target)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "description": "Exactly one of contact_id, email, phone.",
            "minProperties": 1,
            "maxProperties": 1,
        },
    )

    contact_id: UncheckedId | None = None
    email: str | None = None
    phone: str | None = None


def _checks(value: Any) -> Any:
    if not isinstance(value, list):
        raise refusal("required list of send-check bodies", "checks must be a list")
    if not 1 <= len(value) <= MAX_BATCH:
        raise refusal(f"1 to {MAX_BATCH} items", f"1 to {MAX_BATCH} checks per batch")
    return value


# Each check is parsed as a CheckBody by the service, which names a refused field checks[<i>].<name>.
SendCheck = Annotated[Any, PlainValidator(_as_given, json_schema_input_type=CheckBody)]


class SendCheckBatchBody(RequestBody, extra="ignore", invalid="invalid send-check batch"):
    """POST /v1/send-check/batch."""

    checks: Annotated[list[SendCheck], BeforeValidator(_checks), Field(min_length=1, max_length=MAX_BATCH)]


class UnsubscribeLinkBody(RequestBody, extra="ignore", invalid="invalid unsubscribe link"):
    """POST /v1/unsubscribe-links. The recipient (contact_id or email) is checked as every
    recipient is (parse_target); the topic against the workspace's topics."""

    contact_id: UncheckedId | None = None
    email: Annotated[str, Field(json_schema_extra={"maxLength": 320})] | None = None  # as normalize_email checks
    channel: Channel = "email"
    sequence_id: Id | None = None
    topic_id: UncheckedId | None = Field(
        default=None,
        description="a topic link (R16): one-click leaves that topic; its page is the preference center",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_phone(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("phone") not in (None, ""):
            raise InvalidInput(
                "unsubscribe links are for a contact or an email address", fields={"phone": "use contact_id or email"}
            )
        return data


# --- workspaces and settings (admin and workspace keys) ------------------------------------------


def _object(value: Any, info: ValidationInfo) -> Any:
    if value is not None and not isinstance(value, dict):
        raise refusal("must be an object", f"{info.field_name} must be an object")
    return None if value is None else dict(value)


def object_of(model: Any) -> PlainValidator:
    """A JSON object the service validates as ``model`` itself (merged with the stored values, or
    with paths of its own), documented as ``model``; here it is only checked to be an object."""
    return PlainValidator(_object, json_schema_input_type=model)


def _non_empty_string(value: Any, info: ValidationInfo) -> Any:
    if not isinstance(value, str) or not value:
        raise refusal("must be a non-empty string", f"invalid {info.field_name}")
    return value


Secret = Annotated[str, Field(min_length=1), BeforeValidator(_non_empty_string)]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def unchanged(**kwargs: Any) -> Any:
    """A patch field's default: absent means unchanged (None stands for "not given" and is never
    validated), so no default is documented."""
    return Field(default=None, json_schema_extra=_no_default, **kwargs)


class SettingsPatchBody(RequestBody, extra="forbid", invalid="invalid settings"):
    """What every settings patch has besides the settings themselves (SettingsPatch below)."""

    twilio_auth_token: Secret | None = Field(default=None, description="write-only; null: unchanged")

    def changes(self) -> dict[str, Any]:
        """The settings it names, as validated (not twilio_auth_token, which is stored apart)."""
        return {name: getattr(self, name) for name in self.model_fields_set - {"twilio_auth_token"}}


# Objects a patch gives in part (quiet_hours: only the keys it names change) or with write-only
# values left out (crm): validated once merged with the stored settings.
_MERGED_SETTINGS: dict[str, Any] = {
    "crm": Annotated[dict[str, Any] | None, object_of(CrmSettings | None)],
    "quiet_hours": Annotated[dict[str, Any], object_of(QuietHoursSettings)],
}


def _patch_field(name: str, field: FieldInfo) -> tuple[Any, Any]:
    if name in _MERGED_SETTINGS:
        return _MERGED_SETTINGS[name], unchanged()
    annotation = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return annotation, unchanged(description=field.description)


# PATCH /v1/settings: every setting of WorkspaceSettings, with its type and bounds, none required.
# Built from WorkspaceSettings so the two cannot drift apart; its validators run on the merged result.
_PATCH_FIELDS: dict[str, Any] = {
    name: _patch_field(name, field) for name, field in WorkspaceSettings.model_fields.items()
}
SettingsPatch = create_model(
    "SettingsPatch",
    __base__=SettingsPatchBody,
    __module__=__name__,
    __doc__="Any subset of the settings (absent: unchanged); twilio_auth_token and the email provider secrets "
    "are write-only. The <name>_set flags GET /v1/settings shows may be sent back; they are ignored.",
    **_PATCH_FIELDS,
)


class AdminWorkspacePatch(RequestBody, extra="forbid", invalid="invalid workspace change"):
    """Operator-only settings; ses_identities cannot be changed with a workspace key."""

    ses_identities: list[str] = unchanged(
        description="Sending domains, addresses or SES identity ARNs of this workspace; no freemail domain or "
        "public suffix (422); one registered elsewhere is 409 identity_taken."
    )
    twilio_auth_token: Secret | None = None
    settings: Annotated[dict[str, Any] | None, object_of(SettingsPatch | None)] = None

    @model_validator(mode="after")
    def _each_once(self) -> AdminWorkspacePatch:
        for name in ("ses_identities", "twilio_auth_token"):
            if name in self.model_fields_set and name in (self.settings or {}):
                raise InvalidInput(f"{name} given twice", fields={name: "give it at the top level or in settings"})
        return self

    def settings_patch(self) -> dict[str, Any]:
        """The body as one SettingsPatch: ``settings`` and the top-level fields given."""
        return {
            **(self.settings or {}),
            **self.model_dump(include={"ses_identities", "twilio_auth_token"}, exclude_unset=True),
        }


WORKSPACE_ID_RULE = ID_RULE + " (case-sensitive), not only dots"


class CreateWorkspaceBody(RequestBody, extra="ignore", invalid="invalid workspace"):
    """POST /v1/admin/workspaces. The settings are validated as the service saves them
    (WorkspaceSettings; a refusal is named settings.<name>)."""

    workspace_id: Annotated[str, Field(pattern=ID_PATTERN), id_rule(WORKSPACE_ID_RULE)]
    twilio_auth_token: Secret | None = None
    settings: Annotated[dict[str, Any] | None, object_of(WorkspaceSettings | None)] = None
