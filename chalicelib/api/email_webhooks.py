"""Email providers' webhooks (R19): ``POST /v1/webhooks/{name}/{workspace_id}`` for every provider in
``chalicelib/email_providers/registry.py``. 403 for anything not the provider's."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import ApiCall, api_route
from chalicelib.api.lazy import email_webhooks
from chalicelib.email_providers.registry import EMAIL_PROVIDERS

bp = Blueprint(__name__)


def _add_route(name: str) -> None:
    @api_route(bp, f"/v1/webhooks/{name}/{{workspace_id}}", "POST", auth="public", name=f"handle_{name}_webhook")
    def handle_email_provider_webhook(call: ApiCall, workspace_id):
        # Imported here: a cold start of other routes should not pay for this path.
        from chalicelib.email_providers import WebhookRequest

        webhook = WebhookRequest(workspace_id, dict(call.request.headers or {}), call.raw_body)
        return email_webhooks.handle_email_webhook(call.services, name, webhook)


for _name in EMAIL_PROVIDERS:
    _add_route(_name)
