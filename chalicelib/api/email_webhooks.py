"""Email providers' webhooks (R19): ``POST /v1/webhooks/{name}/{workspace_id}`` for every provider in
``chalicelib/email_providers/registry.py``. 403 for anything not the provider's."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import handles_errors, json_response, services
from chalicelib.email_providers.registry import EMAIL_PROVIDERS

bp = Blueprint(__name__)


def _handle(name: str, workspace_id: str):  # type: ignore[no-untyped-def]
    # Imported here: a cold start of other routes should not pay for these paths.
    from chalicelib.email_providers import WebhookRequest
    from chalicelib.services.email_webhooks import handle_email_webhook

    request = bp.current_request
    body = request.raw_body or b""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    webhook = WebhookRequest(workspace_id, dict(request.headers or {}), raw)
    return json_response(handle_email_webhook(services(), name, webhook))


def _add_route(name: str) -> None:
    @bp.route(f"/v1/webhooks/{name}/{{workspace_id}}", methods=["POST"], name=f"handle_{name}_webhook")
    @handles_errors
    def handle_email_provider_webhook(workspace_id):
        return _handle(name, workspace_id)


for _name in EMAIL_PROVIDERS:
    _add_route(_name)
