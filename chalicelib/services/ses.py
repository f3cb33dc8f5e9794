"""SES bounces and complaints (R8): every recipient of a notification becomes an ``EmailFeedback``
(``chalicelib/models/email_feedback.py``), recorded in the right workspace by the provider-neutral
``record_email_feedback`` (exactly once, soft bounces counted per address):

- permanent bounce -> ``hard_bounce`` (temporary, SPEC R2: clearable once the address is fixed);
- permanent bounce of subtype Suppressed / OnAccountSuppressionList -> permanent
  ``suppression_list_bounce``;
- complaint (unless the feedback type is ``not-spam``) -> permanent ``spam_complaint``;
- transient bounce -> a counted soft bounce.

The event id is the notification's ``mail.messageId``; the exactly-once marker is
``ses:<messageId>:<recipient key>:<reason>``.
"""

from __future__ import annotations

from email.utils import parseaddr

from chalicelib.logic.normalize import email_domain, is_valid_id, try_normalize_email
from chalicelib.models.email_feedback import EmailFeedback, Signal
from chalicelib.models.ses import SesNotification
from chalicelib.services.context import Services
from chalicelib.services.email_feedback import FeedbackSummary, record_email_feedback

DEFAULT_WORKSPACE = "default"
WORKSPACE_TAG = "workspace"
WORKSPACE_HEADER = "X-Optout-Workspace"

SesSummary = FeedbackSummary


def outcomes(notification: SesNotification) -> list[EmailFeedback]:
    """Per-recipient feedback of a notification (no I/O). Other event types yield nothing."""
    message_id = notification.mail.message_id

    def each(recipients: list[str], signal: Signal) -> list[EmailFeedback]:
        return [EmailFeedback("ses", message_id, r, signal) for r in recipients]

    if notification.type == "Bounce" and notification.bounce is not None:
        bounce = notification.bounce
        recipients = [r.email_address for r in bounce.bounced_recipients]
        if bounce.bounce_type == "Permanent":
            return each(recipients, "suppression_list_bounce" if bounce.is_suppression_list else "hard_bounce")
        if bounce.bounce_type == "Transient":
            return each(recipients, "soft_bounce")
        return []  # Undetermined: SES could not tell; nothing to act on
    if notification.type == "Complaint" and notification.complaint is not None:
        if notification.complaint.is_not_spam:
            return []
        return each([r.email_address for r in notification.complaint.complained_recipients], "complaint")
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


def record_ses_notification(services: Services, notification: SesNotification) -> SesSummary:
    feedback = outcomes(notification)
    if not feedback:
        return SesSummary(workspace_id="")
    return record_email_feedback(services, resolve_workspace(services, notification), feedback)
