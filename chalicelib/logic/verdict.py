"""The send-check verdict (R4) and the enrollment verdict (R11): pure functions of loaded
records, the same code on every path that asks "allowed?"."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.logic.dnd_rules import dnd_view, is_do_not_contact, merged_entries, strongest
from chalicelib.logic.exclusions import CompiledRule, MatchSubject, matching_rules
from chalicelib.logic.quiet_hours import quiet_hours_block
from chalicelib.logic.topics import unsubscribed_from
from chalicelib.models.domain import (
    REASON_UNSUBSCRIBED,
    WARNING_MARKETING_OPT_OUT,
    Audience,
    DndEntry,
    DndState,
    Sequence,
    WorkspaceSettings,
)
from chalicelib.models.records import Enrollment


@dataclass(frozen=True)
class CheckRequest:
    channel: str
    mode: str = "automated"
    sequence_id: str | None = None
    audience_id: str | None = None
    topic_id: str | None = None
    purpose: str = "marketing"
    send_at: datetime | None = None  # a scheduled instant to ask about (quiet hours); None: now


@dataclass
class Recipient:
    """Everything loaded about one recipient. ``states`` holds the DND of the contact and of
    each of its addresses; ``enrollment`` the enrollment item for the asked sequence."""

    contact_id: str | None
    subject: MatchSubject
    states: list[DndState] = field(default_factory=list)
    enrollment: Enrollment | None = None
    phone: str | None = None  # E.164, for quiet hours (R17)


@dataclass(frozen=True)
class Policy:
    """The workspace configuration a verdict reads (from the <= 1 s config cache)."""

    settings: WorkspaceSettings
    rules: list[CompiledRule]
    sequences: dict[str, Sequence]
    audiences: dict[str, Audience]


def _exclusion_blocks(
    policy: Policy, recipient: Recipient, sequence_id: str | None, audience_id: str | None, now: datetime
) -> list[dict[str, Any]]:
    if audience_id is None and recipient.enrollment is not None:
        audience_id = recipient.enrollment.audience_id
    hits = matching_rules(
        policy.rules,
        recipient.subject,
        now,
        sequence=policy.sequences.get(sequence_id) if sequence_id else None,
        sequence_id=sequence_id,
        audience=policy.audiences.get(audience_id) if audience_id else None,
    )
    return [{"type": "exclusion", "exclusion_id": rule.exclusion_id, "reason": rule.name} for rule in hits]


def is_marketing_opt_out(entry: DndEntry) -> bool:
    """The person's own unsubscribe from an email's link or one-click (R5): it refuses marketing,
    not receipts or password resets. Complaints, bounces, carrier errors, STOP, replies and the
    team's DND are not marketing opt-outs (R16)."""
    return entry.reason == REASON_UNSUBSCRIBED and entry.source == "contact"


def _topic_blocks(request: CheckRequest, recipient: Recipient) -> list[dict[str, Any]]:
    if request.topic_id is None or unsubscribed_from(recipient.states, request.topic_id, request.channel) is None:
        return []
    return [{"type": "topic", "topic_id": request.topic_id, "channel": request.channel}]


_TEAM_SOURCES = frozenset({"user", "workflow", "crm"})


def _team_temporary(entry: DndEntry) -> bool:
    return entry.source in _TEAM_SOURCES and entry.kind == "temporary"


def decide_send(request: CheckRequest, recipient: Recipient, policy: Policy, now: datetime) -> dict[str, Any]:
    blocked_by: list[dict[str, Any]] = []
    warnings: list[str] = []
    view = dnd_view(recipient.states)
    entries = list(merged_entries(recipient.states, "outbound", request.channel).values())
    topic_blocks = _topic_blocks(request, recipient)
    if request.purpose == "transactional":
        # R16: a transactional send passes topic unsubscribes and link unsubscribes, with a warning.
        passed = [entry for entry in entries if is_marketing_opt_out(entry)]
        if passed or topic_blocks:
            warnings.append(WARNING_MARKETING_OPT_OUT)
        entries = [entry for entry in entries if not is_marketing_opt_out(entry)]
        topic_blocks = []
    if request.mode == "manual" and not policy.settings.manual_sends_respect_dnd and entries:
        # R15: only the team's own temporary entries yield to a manual send; the contact's
        # opt-outs, complaints, bounces and carrier errors block it too.
        if all(_team_temporary(entry) for entry in entries):
            warnings.append("do_not_contact")
            entries = []
        else:
            entries = [entry for entry in entries if not _team_temporary(entry)]
    best = strongest(entries)
    if best is not None:
        blocked_by.append({"type": "dnd", "channel": request.channel, "reason": best.reason, "kind": best.kind})
    blocked_by.extend(topic_blocks)
    blocked_by.extend(_exclusion_blocks(policy, recipient, request.sequence_id, request.audience_id, now))
    if request.sequence_id is not None:
        status = recipient.enrollment.status if recipient.enrollment is not None else None
        if status != "active":
            blocked_by.append({"type": "enrollment", "reason": "unenrolled" if status else "not_enrolled"})
    quiet = quiet_hours_block(
        policy.settings.quiet_hours,
        request.channel,
        request.send_at or now,
        phone=recipient.phone,
        attributes=recipient.subject.attributes,
        default_region=policy.settings.default_phone_region,
    )
    if quiet is not None:
        blocked_by.append(quiet)
    return {"allowed": not blocked_by, "dnd_status": view["status"], "blocked_by": blocked_by, "warnings": warnings}


def decide_enrollment(
    recipient: Recipient,
    sequence: Sequence,
    policy: Policy,
    now: datetime,
    *,
    audience_id: str | None = None,
    company_active_enrollments: int = 0,
) -> list[dict[str, Any]]:
    """Reasons an enrollment (automated or manual alike) is refused; empty when allowed."""
    blocked_by: list[dict[str, Any]] = []
    if is_do_not_contact(recipient.states):
        blocked_by.append({"type": "dnd", "reason": "do_not_contact"})
    blocked_by.extend(_exclusion_blocks(policy, recipient, sequence.sequence_id, audience_id, now))
    enrollment = recipient.enrollment
    status = enrollment.status if enrollment is not None else None
    if status == "active":
        blocked_by.append({"type": "enrollment", "reason": "already_enrolled"})
    unenrolled_at = enrollment.unenrolled_at if enrollment is not None else None
    if status == "unenrolled" and unenrolled_at and sequence.reenroll_cooldown_days:
        until = datetime.fromisoformat(unenrolled_at) + timedelta(days=sequence.reenroll_cooldown_days)
        if now < until:
            blocked_by.append({"type": "cooldown", "reason": "reenroll_cooldown", "until": until.isoformat()})
    cap = sequence.max_enrollments_per_company
    if cap is not None and recipient.subject.company_domain and company_active_enrollments >= cap:
        blocked_by.append({"type": "company_cap", "reason": "max_enrollments_per_company", "limit": cap})
    return blocked_by
