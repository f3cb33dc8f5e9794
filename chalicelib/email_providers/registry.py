"""The email providers whose webhooks we take (R19): one entry each.

Adding a provider: its module beside ``sendgrid.py`` (``authenticate`` and ``parse``), one entry here,
and its write-only secret on ``WorkspaceSettings`` (``chalicelib/models/domain.py``). The route
``POST /v1/webhooks/{name}/{workspace_id}``, its OpenAPI operation, the secret's write-only handling
on GET/PATCH /v1/settings and the path to ``record_email_feedback`` all read this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from chalicelib.email_providers import Verified, WebhookRequest, mailgun, postmark, sendgrid
from chalicelib.models.email_feedback import EmailFeedback


@dataclass(frozen=True)
class EmailProvider:
    name: str  # the route's path segment and the provider of its EmailFeedback records
    secret_setting: str  # the write-only WorkspaceSettings field that verifies its requests
    authenticate: Callable[[str, WebhookRequest, int], Verified]
    parse: Callable[[bytes], list[EmailFeedback]]
    # Its route's OpenAPI operation:
    summary: str
    description: str
    body_type: Literal["array", "object"]
    headers: tuple[str, ...] = ()  # what it authenticates with, where that is a header


EMAIL_PROVIDERS: dict[str, EmailProvider] = {
    "sendgrid": EmailProvider(
        "sendgrid",
        "sendgrid_webhook_public_key",
        sendgrid.authenticate,
        sendgrid.parse,
        summary="SendGrid Event Webhook: bounces, drops, spam reports, unsubscribes (R19)",
        description="A JSON array of SendGrid events, ECDSA-signed with the key in sendgrid_webhook_public_key.",
        body_type="array",
        headers=(sendgrid.SIGNATURE_HEADER, sendgrid.TIMESTAMP_HEADER),
    ),
    "mailgun": EmailProvider(
        "mailgun",
        "mailgun_signing_key",
        mailgun.authenticate,
        mailgun.parse,
        summary="Mailgun webhook: failed, complained, unsubscribed (R19)",
        description="Mailgun's {signature, event-data}, HMAC-signed with mailgun_signing_key.",
        body_type="object",
    ),
    "postmark": EmailProvider(
        "postmark",
        "postmark_webhook_secret",
        postmark.authenticate,
        postmark.parse,
        summary="Postmark webhook: Bounce, SpamComplaint, SubscriptionChange (R19)",
        description="One Postmark webhook record; HTTP Basic auth, password postmark_webhook_secret.",
        body_type="object",
        headers=("Authorization",),
    ),
}
