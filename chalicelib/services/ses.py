"""SES bounces and complaints (R8): every recipient of a notification becomes email DND (or a
soft-bounce count), in the right workspace, exactly once.

- permanent bounce -> temporary ``hard_bounce`` (SPEC R2: clearable once the address is fixed);
- permanent bounce of subtype Suppressed / OnAccountSuppressionList -> permanent
  ``suppression_list_bounce``;
- complaint (unless the feedback type is ``not-spam``) -> permanent ``spam_complaint``;
- transient bounce -> counted per address; ``soft_bounce_limit`` of them within
  ``soft_bounce_window_days`` -> temporary ``soft_bounce_limit``.

Every DND change carries the event id ``ses:<messageId>:<recipient key>:<reason>`` (the
recipient as its keyed hash, so the marker holds no readable address). A store failure raises,
so SNS/Lambda retries; already-applied recipients are then skipped by their markers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Literal

from chalicelib.logic.normalize import email_domain, is_valid_id, try_normalize_email
from chalicelib.models.domain import (
    REASON_HARD_BOUNCE,
    REASON_SOFT_BOUNCES,
    REASON_SPAM_COMPLAINT,
    REASON_SUPPRESSED_BOUNCE,
    Kind,
)
from chalicelib.models.ses import SesNotification
from chalicelib.services import context
from chalicelib.services.context import Services
from chalicelib.services.dnd import DndChange, apply_dnd_change
from chalicelib.services.recipients import Target, address_pk
from chalicelib.store import keys
from chalicelib.store.bounces import BounceStore

logger = logging.getLogger(__name__)

DEFAULT_WORKSPACE = "default"
WORKSPACE_TAG = "workspace"
WORKSPACE_HEADER = "X-Optout-Workspace"


@dataclass(frozen=True)
class SesOutcome:
    """What one recipient of a notification means for DND. Pure data."""

    recipient: str  # as SES reported it (normalized later)
    action: Literal["suppress", "count_soft_bounce"]
    reason: str
    kind: Kind


def outcomes(notification: SesNotification) -> list[SesOutcome]:
    """Per-recipient decisions for a notification (no I/O). Other event types yield nothing."""
    if notification.type == "Bounce" and notification.bounce is not None:
        bounce = notification.bounce
        recipients = [r.email_address for r in bounce.bounced_recipients]
        if bounce.bounce_type == "Permanent":
            if bounce.is_suppression_list:
                return [SesOutcome(r, "suppress", REASON_SUPPRESSED_BOUNCE, "permanent") for r in recipients]
            return [SesOutcome(r, "suppress", REASON_HARD_BOUNCE, "temporary") for r in recipients]
        if bounce.bounce_type == "Transient":
            return [SesOutcome(r, "count_soft_bounce", REASON_SOFT_BOUNCES, "temporary") for r in recipients]
        return []  # Undetermined: SES could not tell; nothing to act on
    if notification.type == "Complaint" and notification.complaint is not None:
        if notification.complaint.is_not_spam:
            return []
        return [
            SesOutcome(r.email_address, "suppress", REASON_SPAM_COMPLAINT, "permanent")
            for r in notification.complaint.complained_recipients
        ]
    return []


def resolve_workspace(services: Services, notification: SesNotification) -> str:
    """R8 order: tag ``workspace``, header ``X-Optout-Workspace``, registered sending identity
    (sourceArn, then source address, then its domain), else ``default``."""
    mail = notification.mail
    for candidate in (mail.tag(WORKSPACE_TAG), mail.header(WORKSPACE_HEADER)):
        candidate = (candidate or "").strip()
        if candidate and is_valid_id(candidate) and services.workspaces.exists(candidate):
            return candidate
    identities: list[str] = []
    if mail.source_arn:
        identities.append(mail.source_arn)
    source = try_normalize_email(parseaddr(mail.source or "")[1])
    if source:
        identities += [source, email_domain(source)]
    for identity in identities:
        workspace_id = services.workspaces.workspace_for_ses_identity(identity)
        if workspace_id:
            return workspace_id
    return DEFAULT_WORKSPACE


@dataclass
class SesSummary:
    workspace_id: str
    applied: int = 0
    duplicates: int = 0
    counted: int = 0
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)


_bounce_stores: dict[int, BounceStore] = {}


def _bounce_store(services: Services) -> BounceStore:
    store = _bounce_stores.get(id(services))
    if store is None or store.config is not services.config:
        store = BounceStore(services.config)
        _bounce_stores.clear()
        _bounce_stores[id(services)] = store
    return store


def record_ses_notification(services: Services, notification: SesNotification) -> SesSummary:
    decisions = outcomes(notification)
    if not decisions:
        return SesSummary(workspace_id="")
    workspace_id = resolve_workspace(services, notification)
    summary = SesSummary(workspace_id=workspace_id)
    message_id = notification.mail.message_id
    for decision in decisions:
        email = try_normalize_email(parseaddr(decision.recipient)[1] or decision.recipient)
        if email is None:
            summary.skipped += 1
            logger.warning("SES recipient is not a valid address; skipped", extra={"message_id": message_id})
            continue
        digest = keys.address_hash(services.config.address_key, "email", email)
        if decision.action == "count_soft_bounce":
            settings = services.config_cache.get(workspace_id).settings
            counted = _bounce_store(services).record_soft_bounce(
                workspace_id,
                address_pk(services, workspace_id, "email", email),
                message_id,
                int(context.utcnow().timestamp()),
                settings.soft_bounce_window_days * 24 * 3600,
            )
            summary.counted += 0 if counted.duplicate else 1
            if counted.count < settings.soft_bounce_limit:
                continue
        result = apply_dnd_change(
            services,
            DndChange(
                workspace_id,
                Target(email=email),
                "outbound",
                ("email",),
                "enable",
                "system",
                decision.reason,
                kind=decision.kind,
                actor="ses",
                event_id=f"ses:{message_id}:{digest[:32]}:{decision.reason}",
            ),
        )
        summary.applied += 1 if result.changed else 0
        summary.duplicates += 1 if result.duplicate else 0
        summary.reasons.append(decision.reason)
    return summary
