"""Email providers' webhooks (R19): SendGrid, Mailgun, Postmark. 403 for anything not the provider's."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import handles_errors, json_response, services

bp = Blueprint(__name__)

PROVIDERS = ("sendgrid", "mailgun", "postmark")


def _handle(name: str, workspace_id: str):  # type: ignore[no-untyped-def]
    # Imported here: a cold start of other routes should not pay for these paths.
    from chalicelib.email_providers import WebhookRequest
    from chalicelib.services.email_webhooks import handle_email_webhook

    request = bp.current_request
    body = request.raw_body or b""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    webhook = WebhookRequest(workspace_id, dict(request.headers or {}), raw)
    return json_response(handle_email_webhook(services(), name, webhook))


@bp.route("/v1/webhooks/sendgrid/{workspace_id}", methods=["POST"])
@handles_errors
def handle_sendgrid_events(workspace_id):
    return _handle("sendgrid", workspace_id)


@bp.route("/v1/webhooks/mailgun/{workspace_id}", methods=["POST"])
@handles_errors
def handle_mailgun_event(workspace_id):
    return _handle("mailgun", workspace_id)


@bp.route("/v1/webhooks/postmark/{workspace_id}", methods=["POST"])
@handles_errors
def handle_postmark_event(workspace_id):
    return _handle("postmark", workspace_id)
