"""Recording email feedback from every provider (R8, R19): one path for SES, SendGrid, Mailgun, Postmark.

Each ``EmailFeedback`` becomes, for its recipient's address in the workspace:

- ``suppress``: email DND with the signal's reason, kind and source (``models/email_feedback.py``);
- ``count_soft_bounce``: one more soft bounce on the address's counter (one counter per address,
  whichever provider reported it); ``soft_bounce_limit`` of them within ``soft_bounce_window_days``
  -> temporary ``soft_bounce_limit`` DND;
- ``clear``: a provider's reactivation clears only what bounces and provider suppressions set;
- a provider group (un)subscribe (SendGrid ASM group) that a topic maps (``sendgrid_asm_group_id``,
  R16) changes that topic on email for the address, as the person's own choice; an unsubscribe from
  a group no topic maps covers email as a whole, a resubscribe to one changes nothing.

Every change carries the marker ``<provider>:<event id>:<recipient key>:<reason>`` (the recipient as
its keyed hash: the marker holds no readable address), so a redelivered event changes nothing and adds
no audit entry. A store failure raises, so the provider (or SNS) retries; recipients already applied are
then skipped by their markers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import parseaddr

from aws_lambda_powertools import Logger

from chalicelib.logic.normalize import try_normalize_email
from chalicelib.models.domain import SubscriptionStatus
from chalicelib.models.email_feedback import REACTIVATION_CLEARS, EmailFeedback
from chalicelib.observability import SERVICE
from chalicelib.services.context import Services
from chalicelib.services.dnd import DndChange, apply_dnd_change
from chalicelib.services.recipients import Target, address_pk
from chalicelib.store import keys

logger = Logger(service=SERVICE, child=True)  # a child of the service logger: correlation ids


@dataclass
class FeedbackSummary:
    workspace_id: str
    applied: int = 0
    duplicates: int = 0
    counted: int = 0
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)


def recipient_email(raw: str) -> str | None:
    """The normalized address of a recipient as a provider wrote it (``Name <a@b.com>`` or bare)."""
    return try_normalize_email(parseaddr(raw)[1] or raw)


def record_email_feedback(services: Services, workspace_id: str, feedback: Iterable[EmailFeedback]) -> FeedbackSummary:
    summary = FeedbackSummary(workspace_id=workspace_id)
    for item in feedback:
        _record_one(services, workspace_id, item, summary)
    return summary


def _record_one(services: Services, workspace_id: str, item: EmailFeedback, summary: FeedbackSummary) -> None:
    email = recipient_email(item.recipient)
    if email is None:
        summary.skipped += 1
        logger.warning(
            "feedback recipient is not a valid address; skipped",
            extra={"provider": item.provider, "event_id": item.event_id},
        )
        return
    digest = keys.address_hash(services.config.address_key, "email", email)
    if item.action == "count_soft_bounce":
        settings = services.config_cache.get(workspace_id).settings
        counted = services.bounces.record_soft_bounce(
            workspace_id,
            address_pk(services, workspace_id, "email", email),
            item.delivery_key,
            int(services.clock().timestamp()),
            settings.soft_bounce_window_days * 24 * 3600,
        )
        summary.counted += 0 if counted.duplicate else 1
        if counted.count < settings.soft_bounce_limit:
            return
    grouped = item.group_id is not None and item.action in ("suppress", "resubscribe")
    if grouped and _record_topic_change(services, workspace_id, item, email, digest, summary):
        return
    if item.action == "resubscribe":
        return  # a group resubscribe means something only for the topic that maps the group
    event_id = f"{item.provider}:{item.event_id}:{digest[:32]}:{item.reason}"
    clear = item.action == "clear"  # a reactivation: only what bounces and provider suppressions set
    change = DndChange(
        workspace_id,
        Target(email=email),
        "outbound",
        ("email",),
        "disable" if clear else "enable",
        item.source,
        item.reason,
        kind=item.kind,
        actor=item.provider,
        note=item.note,
        only_reasons=REACTIVATION_CLEARS if clear else None,
        event_id=event_id,
    )
    result = apply_dnd_change(services, change)
    summary.applied += 1 if result.changed else 0
    summary.duplicates += 1 if result.duplicate else 0
    summary.reasons.append(item.reason)


def _record_topic_change(
    services: Services, workspace_id: str, item: EmailFeedback, email: str, digest: str, summary: FeedbackSummary
) -> bool:
    """A provider group (un)subscribe as the person's own change of the topic that maps the group (R16).
    False when no live topic maps it on email: an unsubscribe then covers email as a whole."""
    from chalicelib.services.subscriptions import apply_topic_changes
    from chalicelib.services.topics import topic_for_sendgrid_group

    topic = (
        topic_for_sendgrid_group(services, workspace_id, item.group_id or 0) if item.provider == "sendgrid" else None
    )
    if topic is None or "email" not in topic.channels:
        return False
    status: SubscriptionStatus = "subscribed" if item.action == "resubscribe" else "unsubscribed"
    result = apply_topic_changes(
        services,
        workspace_id,
        Target(email=email),
        {topic.topic_id: {"email": status}},
        source="contact",
        actor=item.provider,
        note=item.note,
        event_id=f"{item.provider}:{item.event_id}:{digest[:32]}:topic_{status}",
    )
    summary.applied += 1 if result.changed else 0
    summary.duplicates += 1 if result.duplicate else 0
    summary.reasons.append(f"topic_{status}")
    return True
