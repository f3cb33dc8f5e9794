"""Email providers' webhooks (R19): SendGrid, Mailgun, Postmark. 403 for anything not the provider's."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import ApiCall, api_route
from chalicelib.api.lazy import email_webhooks

bp = Blueprint(__name__)

PROVIDERS = ("sendgrid", "mailgun", "postmark")


def _handle(call: ApiCall, name: str, workspace_id: str):  # type: ignore[no-untyped-def]
    # Imported here: a cold start of other routes should not pay for this path.
    from chalicelib.email_providers import WebhookRequest

    webhook = WebhookRequest(workspace_id, dict(call.request.headers or {}), call.raw_body)
    return email_webhooks.handle_email_webhook(call.services, name, webhook)


@api_route(bp, "/v1/webhooks/sendgrid/{workspace_id}", "POST", auth="public")
def handle_sendgrid_events(call: ApiCall, workspace_id):
    return _handle(call, "sendgrid", workspace_id)


@api_route(bp, "/v1/webhooks/mailgun/{workspace_id}", "POST", auth="public")
def handle_mailgun_event(call: ApiCall, workspace_id):
    return _handle(call, "mailgun", workspace_id)


@api_route(bp, "/v1/webhooks/postmark/{workspace_id}", "POST", auth="public")
def handle_postmark_event(call: ApiCall, workspace_id):
    return _handle(call, "postmark", workspace_id)
