"""The email providers whose webhooks we take (R19): one entry each.

Adding a provider: its module beside ``sendgrid.py`` (``authenticate`` and ``parse``), one entry here,
and its write-only secret on ``WorkspaceSettings`` (``chalicelib/models/domain.py``). The route
``POST /v1/webhooks/{name}/{workspace_id}``, its OpenAPI operation, the secret's write-only handling
on GET/PATCH /v1/settings and the path to ``record_email_feedback`` all read this table.

The table names modules rather than importing them: the app registers the routes and reads the
secret settings at every cold start, and the parsers are needed only when a webhook arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from chalicelib.email_providers import Verified, WebhookRequest
    from chalicelib.models.email_feedback import EmailFeedback


@dataclass(frozen=True)
class EmailProvider:
    name: str  # the route's path segment and the provider of its EmailFeedback records
    secret_setting: str  # the write-only WorkspaceSettings field that verifies its requests
    # Its route's OpenAPI operation:
    summary: str
    description: str
    body_type: Literal["array", "object"]
    headers: tuple[str, ...] = ()  # what it authenticates with, where that is a header
    module: str = ""  # where authenticate() and parse() are; chalicelib.email_providers.<name> by default

    def _module(self) -> Any:
        return import_module(self.module or f"chalicelib.email_providers.{self.name}")

    def authenticate(self, secret: str, request: WebhookRequest, now: int) -> Verified:
        """Raises Forbidden unless the request is the provider's (signature, freshness)."""
        verified: Verified = self._module().authenticate(secret, request, now)
        return verified

    def parse(self, body: bytes) -> list[EmailFeedback]:
        """The provider-neutral records of the body's events."""
        feedback: list[EmailFeedback] = self._module().parse(body)
        return feedback


EMAIL_PROVIDERS: dict[str, EmailProvider] = {
    "sendgrid": EmailProvider(
        "sendgrid",
        "sendgrid_webhook_public_key",
        summary="SendGrid Event Webhook: bounces, drops, spam reports, unsubscribes (R19)",
        description="A JSON array of SendGrid events, ECDSA-signed with the key in sendgrid_webhook_public_key.",
        body_type="array",
        headers=("X-Twilio-Email-Event-Webhook-Signature", "X-Twilio-Email-Event-Webhook-Timestamp"),
    ),
    "mailgun": EmailProvider(
        "mailgun",
        "mailgun_signing_key",
        summary="Mailgun webhook: failed, complained, unsubscribed (R19)",
        description="Mailgun's {signature, event-data}, HMAC-signed with mailgun_signing_key.",
        body_type="object",
    ),
    "postmark": EmailProvider(
        "postmark",
        "postmark_webhook_secret",
        summary="Postmark webhook: Bounce, SpamComplaint, SubscriptionChange (R19)",
        description="One Postmark webhook record; HTTP Basic auth, password postmark_webhook_secret.",
        body_type="object",
        headers=("Authorization",),
    ),
}
