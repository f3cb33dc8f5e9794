"""Email providers' webhooks (R19): how each one authenticates its requests and what its events mean.

Each provider module is pure (no I/O) and offers two functions, entered with its setting and route
documentation in ``registry.py`` (``EMAIL_PROVIDERS``):

- ``authenticate(secret, request, now) -> Verified``: raises Forbidden unless the request is the
  provider's (signature, freshness); may name a one-time token the caller must refuse to see twice;
- ``parse(body) -> list[EmailFeedback]``: the provider-neutral records of the body's events
  (MalformedBody / InvalidInput for bodies that are not the provider's shape).

``POST /v1/webhooks/{name}/{workspace_id}`` exists for every registered provider;
``chalicelib/services/email_webhooks.py`` runs them and hands the records to ``record_email_feedback``
(the same path SES notifications take).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.errors import Forbidden, MalformedBody
from chalicelib.logic.bounded_json import loads_bounded

if TYPE_CHECKING:
    from chalicelib.email_providers.registry import EmailProvider

# Signed timestamps further than this from our clock (either way) are refused: a captured request
# cannot be replayed later, and providers sign every delivery attempt afresh.
TIMESTAMP_TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class WebhookRequest:
    workspace_id: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), "")


@dataclass(frozen=True)
class Verified:
    """An authentic request. ``replay_token``: a one-time value (Mailgun's token) to refuse if reused."""

    replay_token: str | None = None


def forbidden(detail: str, field: str) -> Forbidden:
    return Forbidden("webhook not authenticated", fields={field: detail})


def check_timestamp(value: Any, now: int, field: str) -> None:
    try:
        moment = int(float(str(value)))
    except (TypeError, ValueError):
        raise forbidden("missing or not a Unix timestamp", field) from None
    if abs(now - moment) > TIMESTAMP_TOLERANCE_SECONDS:
        raise forbidden(f"more than {TIMESTAMP_TOLERANCE_SECONDS} s from now", field)


def json_document(body: bytes) -> Any:
    if len(body) > MAX_BODY_BYTES:
        raise MalformedBody("body too large", fields={"body": f"at most {MAX_BODY_BYTES} bytes"})
    try:
        return loads_bounded(body)  # JsonTooDeep is a ValueError: hostile nesting is a 400 too
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody("body is not valid JSON", fields={"body": "invalid JSON"}) from None


def json_object(body: bytes) -> dict[str, Any]:
    """A body that must be one JSON object (one event or record per request)."""
    document = json_document(body)
    if not isinstance(document, dict):
        raise MalformedBody("expected a JSON object", fields={"body": "must be an object"})
    return document


def provider(name: str) -> EmailProvider:
    from chalicelib.email_providers.registry import EMAIL_PROVIDERS  # lazily: it imports every provider module

    return EMAIL_PROVIDERS[name]
