"""POST /v1/webhooks/{sendgrid|mailgun|postmark}/{workspace_id} (R19).

The workspace's write-only secret is read fresh (one consistent GetItem: a rotated key applies at
once); an unknown workspace, one without the provider's secret and a bad or stale signature are the
same 403, and nothing is recorded before the request is authenticated. The events then go through
the provider-neutral ``record_email_feedback``, exactly once per event. A store failure is a 503, so
the provider retries (events already applied are skipped by their markers).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from chalicelib.email_providers import TIMESTAMP_TOLERANCE_SECONDS, WebhookRequest, forbidden, provider
from chalicelib.errors import NotFound
from chalicelib.logic.normalize import is_valid_id
from chalicelib.observability import SERVICE
from chalicelib.services.context import Services
from chalicelib.services.email_feedback import record_email_feedback

logger = Logger(service=SERVICE, child=True)  # a child of the service logger: correlation ids

# Used tokens are kept a little longer than a signed timestamp stays acceptable.
TOKEN_TTL_SECONDS = 2 * TIMESTAMP_TOLERANCE_SECONDS + 60


def handle_email_webhook(services: Services, name: str, request: WebhookRequest) -> dict[str, Any]:
    spec = provider(name)
    workspace_id = request.workspace_id
    secret = None
    if is_valid_id(workspace_id):
        try:
            secret = getattr(services.workspaces.get_settings(workspace_id), spec.secret_setting)
        except NotFound:
            secret = None
    if not secret:
        raise forbidden("unknown workspace or no webhook secret configured", "workspace_id")
    verified = spec.authenticate(secret, request, int(services.clock().timestamp()))
    if verified.replay_token and services.webhook_tokens.seen(workspace_id, name, verified.replay_token):
        raise forbidden("already used", "signature.token")
    feedback = spec.parse(request.body)
    summary = record_email_feedback(services, workspace_id, feedback)
    if verified.replay_token:
        services.webhook_tokens.remember(workspace_id, name, verified.replay_token, TOKEN_TTL_SECONDS)
    logger.info(
        "email provider webhook handled",
        extra={
            "provider": name,
            "workspace_id": workspace_id,
            "events": len(feedback),
            "applied": summary.applied,
            "duplicates": summary.duplicates,
            "counted": summary.counted,
            "skipped": summary.skipped,
        },
    )
    return {
        "received": len(feedback),
        "applied": summary.applied,
        "duplicates": summary.duplicates,
        "counted": summary.counted,
        "skipped": summary.skipped,
    }
