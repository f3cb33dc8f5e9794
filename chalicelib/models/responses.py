"""What the internal API answers (API.md), as pydantic models: chalicelib/openapi.py documents every
JSON response from these (``model_json_schema``), so the schema of an answer is written once.

Conventions: a field without a default is always in the answer (``str | None``: present, maybe
null); ``X | Absent = None``: left out when it does not apply, never null; ``X | None = None``:
left out or null. Extra fields are allowed (clients must ignore what they do not know).
Only chalicelib/openapi.py imports this module: the request path never pays for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, RootModel, create_model
from pydantic.json_schema import SkipJsonSchema, WithJsonSchema

from chalicelib.models.domain import CHANNELS, Channel, ChannelOrAll, Direction, Kind, Mode, Source, SubscriptionStatus

Absent = SkipJsonSchema[None]  # the field is left out of the answer when it does not apply
Count = Annotated[int, Field(ge=0)]
JobStatus = Literal["queued", "running", "done", "failed"]
# The settings as answered: the component chalicelib/openapi.py derives from WorkspaceSettings
# ("x-component": a reference to a component no model here describes).
SettingsView = Annotated[dict[str, Any], WithJsonSchema({"x-component": "Settings"})]


def page_of(name: str, items: str, item: type[BaseModel]) -> type[BaseModel]:
    """A page of a list: the items, oldest first, and ``next``, the cursor of the following page
    (null on the last)."""
    fields: dict[str, Any] = {items: (list[item], ...), "next": (str | None, ...)}  # type: ignore[valid-type]
    return create_model(name, __doc__=page_of.__doc__, **fields)


class Error(BaseModel):
    """Every 4xx/5xx JSON answer (API.md); some add fields (e.g. matching_contacts)."""

    error: str
    message: str
    fields: dict[str, str]


class Health(BaseModel):
    status: Literal["ok"]


class GatewayError(BaseModel):
    """Chalice's own answer before a view runs (e.g. 415 for a Content-Type the route does not take)."""

    Code: str
    Message: str


class CreatedWorkspace(BaseModel):
    workspace_id: str
    api_key: str


class AdminWorkspace(BaseModel):
    workspace_id: str
    settings: SettingsView


class CreatedKey(BaseModel):
    key_id: str
    api_key: str
    prefix: str | Absent = None


class ApiKey(BaseModel):
    key_id: str
    prefix: str
    created_at: str
    last_used_at: str | None


class ApiKeyList(BaseModel):
    keys: list[ApiKey]


# --- contacts, DND, audit, flags ----------------------------------------------------------------


class DndEntry(BaseModel):
    """One active reason for DND on one channel/direction (chalicelib/logic/dnd_rules.dnd_view)."""

    reason: str
    kind: Kind
    source: Source
    actor: str | None = None
    at: str
    reasons: list[str] | Absent = None


_OUTBOUND_FIELDS: dict[str, Any] = {channel: (DndEntry | None, ...) for channel in CHANNELS}
# One field per channel (null when the channel is clear): made from CHANNELS, so a new channel is in.
DndOutbound = create_model("DndOutbound", **_OUTBOUND_FIELDS)


class Dnd(BaseModel):
    status: Literal["on", "off", "partial"]
    outbound: DndOutbound  # type: ignore[valid-type]
    inbound: DndEntry | None


class TopicsView(RootModel[dict[str, dict[str, SubscriptionStatus]]]):
    """topic_id -> channel -> subscribed | unsubscribed (R16)"""


class Contact(BaseModel):
    contact_id: str
    email: str | None
    phone: str | None
    company_domain: str | None
    attributes: dict[str, Any]
    dnd: Dnd
    do_not_contact: bool
    topics: TopicsView | Absent = None
    created_at: str | None = None
    updated_at: str | None = None


class DndChangeResult(BaseModel):
    contact_id: str | Absent = None
    changed: bool
    dnd: Dnd
    do_not_contact: bool


class AuditEntry(BaseModel):
    topic_id: str | Absent = None
    at: str
    channel: str | None
    direction: Direction
    action: Literal["enabled", "disabled", "flagged"]
    reason: str
    kind: str | None
    source: str
    actor: str | None
    evidence: str | None = None
    via: str | Absent = None
    flag_id: str | Absent = None


class Audit(BaseModel):
    entries: list[AuditEntry]


class FlagResolution(BaseModel):
    """What a resolved flag adds (R15)."""

    resolution: Literal["opt_out", "dismiss"] | Absent = None
    resolved_at: str | Absent = None
    resolved_by: str | Absent = None
    resolution_reason: str | Absent = None


class Flag(FlagResolution):
    flag_id: str
    contact_ids: list[str]
    channel: str
    channels: list[str] | Absent = None
    reason: str
    origin: str | Absent = None
    at: str
    due_by: str
    status: Literal["open", "resolved"]


FlagPage = page_of("FlagPage", "flags", Flag)


# --- topics -------------------------------------------------------------------------------------


class Topic(BaseModel):
    topic_id: str
    name: str
    description: str | None = None
    channels: list[Channel]
    sendgrid_asm_group_id: int | None = None
    created_at: str | None = None
    updated_at: str | None = None


class TopicList(BaseModel):
    topics: list[Topic]


class SubscriptionResult(BaseModel):
    contact_id: str | Absent = None
    changed: bool
    topics: TopicsView


# --- send-check and unsubscribe links -----------------------------------------------------------


class Block(BaseModel):
    """One reason a send is not allowed. quiet_hours (R17): ``timezone``, the recipient's zone that
    is in quiet hours (null: unknown); ``next_allowed_at``, the first instant allowed in every
    candidate zone (UTC; null: none within 15 days, or an unknown zone with unknown_timezone=block);
    ``state``, the US state whose rule applied."""

    type: Literal["dnd", "exclusion", "enrollment", "cooldown", "company_cap", "topic", "quiet_hours"]
    channel: str | Absent = None
    reason: str | Absent = None
    kind: str | Absent = None
    exclusion_id: str | Absent = None
    topic_id: str | Absent = None
    timezone: str | None = None
    next_allowed_at: datetime | None = None
    state: str | Absent = None


class SendCheckResult(BaseModel):
    allowed: bool
    dnd_status: Literal["on", "off", "partial", "unknown"]
    blocked_by: list[Block]
    warnings: list[str]
    error: str | Absent = None


class SendCheckBatchResult(BaseModel):
    results: list[SendCheckResult]


class UnsubscribeHeaders(BaseModel):
    list_unsubscribe: str = Field(alias="List-Unsubscribe")
    list_unsubscribe_post: Literal["List-Unsubscribe=One-Click"] = Field(alias="List-Unsubscribe-Post")


class UnsubscribeLink(BaseModel):
    url: str
    headers: UnsubscribeHeaders


# --- webhooks -----------------------------------------------------------------------------------


class EmailWebhookResult(BaseModel):
    received: Count
    applied: Count
    duplicates: Count
    counted: Count
    skipped: Count


class CrmRecordResult(BaseModel):
    status: str


class CrmWebhookResult(BaseModel):
    applied: Count
    results: list[CrmRecordResult]


# --- exclusions, sequences, enrollments, replies ------------------------------------------------


class Condition(BaseModel):
    """A stored condition; a list of more than 100 values is summarized as ``values_count``."""

    field: str
    op: str
    value: Any = None
    values: list[Any] | Absent = None


class Exclusion(BaseModel):
    exclusion_id: str
    name: str
    level: Literal["person", "company"]
    conditions: list[Condition]
    enabled: bool
    exclude_from_sequences: bool
    proactive_unenroll: bool
    created_at: str | None = None
    updated_at: str | None = None
    job_id: str | Absent = None


class ExclusionList(BaseModel):
    exclusions: list[Exclusion]


class ExclusionPreview(BaseModel):
    matching_contacts: Count
    active_enrollments: Count
    sample: list[str]
    total_contacts: Count | Absent = None
    confirm_required: bool | Absent = None


class Rejection(BaseModel):
    """A line of an imported file that was not taken, and why."""

    line: Count
    error: str


class ExclusionImport(BaseModel):
    exclusion_id: str
    imported: Count
    rejected: list[Rejection]
    rejected_count: Count | Absent = None
    job_id: str | Absent = None


class Sequence(BaseModel):
    sequence_id: str
    exclusions_enabled: bool
    reenroll_cooldown_days: Count
    max_enrollments_per_company: Annotated[int, Field(ge=1)] | None = None
    unenroll_company_on_reply: bool


class Audience(BaseModel):
    audience_id: str
    disabled_exclusions: list[str]


class Enrollment(BaseModel):
    contact_id: str
    sequence_id: str | Absent = None
    status: Literal["active", "unenrolled"]
    audience_id: str | Absent = None
    mode: Mode | Absent = None
    enrolled_at: str | Absent = None
    unenrolled_at: str | Absent = None
    unenroll_reason: str | Absent = None


EnrollmentPage = page_of("EnrollmentPage", "enrollments", Enrollment)


class EnrollmentBlocked(BaseModel):
    """409 of POST /v1/sequences/{sequence_id}/enrollments: every reason the enrollment is refused."""

    error: Literal["enrollment_blocked"]
    message: str
    fields: dict[str, Any] | Absent = None
    blocked_by: list[Block]


class ReplyResult(BaseModel):
    unenrolled: list[str]
    opted_out: bool
    unsubscribe_intent: bool | Absent = None
    ignored: Literal["auto_reply"] | Absent = None
    flag_id: str | Absent = None


# --- jobs and suppressions ----------------------------------------------------------------------


class JobAccepted(BaseModel):
    job_id: str


class ImportOutcome(BaseModel):
    """What an import job adds: the lines taken, the lines already there, the lines refused."""

    imported: Count | Absent = None
    unchanged: Count | Absent = None
    rejected: list[Rejection] | Absent = None
    rejected_count: Count | Absent = None


class ExportOutcome(BaseModel):
    """What a done export job adds: where to fetch the file, for how long (seconds), its format."""

    download_url: str | Absent = None
    expires_in: Count | Absent = None
    format: str | None = None


class Job(ExportOutcome, ImportOutcome):
    """A job's progress (bulk unenrollment, suppression import or export)."""

    job_id: str
    status: JobStatus
    kind: str | None = None
    created_at: str | None = None
    total: Count
    processed: Count
    failed: Count
    unenrolled: Count | Absent = None
    error: str | Absent = None


class Suppression(BaseModel):
    suppression_id: str | Absent = None
    contact_ids: list[str]
    channel: ChannelOrAll
    direction: Direction
    reason: str
    kind: Kind
    source: Source
    at: str
    subject: Literal["email", "phone", "contact"] | Absent = None


SuppressionPage = page_of("SuppressionPage", "suppressions", Suppression)


# Every JSON answer's model, by the component name the operations use.
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    Error, Health, GatewayError, CreatedWorkspace, AdminWorkspace, CreatedKey, ApiKeyList, Contact,
    DndChangeResult, Audit, FlagPage, Flag, Topic, TopicList, SubscriptionResult, SendCheckResult,
    SendCheckBatchResult, UnsubscribeLink, EmailWebhookResult, CrmWebhookResult, Exclusion, ExclusionList,
    ExclusionPreview, ExclusionImport, Sequence, Audience, Enrollment, EnrollmentPage, EnrollmentBlocked,
    ReplyResult, JobAccepted, Job, SuppressionPage,
)  # fmt: skip
