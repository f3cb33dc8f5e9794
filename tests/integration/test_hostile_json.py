"""Issue 11 point 5: JSON nested 100,000 levels deep is a 4xx naming ``body`` on every route that
reads a body, a dropped SNS message, a 422 cursor — never a 503 that tells a client to retry a
request that can never succeed."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from chalicelib.logic.bounded_json import MAX_JSON_DEPTH, JsonTooDeep, loads_bounded, nesting_depth
from tests.integration.conftest import ADMIN_KEY, Api, post_signed_crm_webhook

LEVELS = 100_000
DEEP_ARRAY = "[" * LEVELS + "]" * LEVELS
DEEP_OBJECT = '{"a":' * LEVELS + "1" + "}" * LEVELS


def json_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every route that takes a body, path parameters filled in."""
    found = []
    for path, methods in app.routes.items():
        for method in methods:
            if method in ("POST", "PUT", "PATCH"):
                found.append((method, re.sub(r"\{[^}]+\}", "x1", path)))
    return sorted(found)


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT, '{"contact_id": "c1", "channel": ' + DEEP_ARRAY + "}"])
def test_deep_json_is_400_naming_body_on_every_json_route(chalice_app: Any, api: Api, body: str):
    routes = json_routes(chalice_app)
    assert ("POST", "/v1/send-check") in routes and ("PATCH", "/v1/settings") in routes
    for method, path in routes:
        key = ADMIN_KEY if path.startswith("/v1/admin/") else api.key
        # When a body nested 100,000 levels deep is sent
        status, answer = api.call(method, path, raw=body, key=key)
        # Then it is a 4xx, never a 5xx "retry"
        assert 400 <= status < 500, (method, path, status, answer)
        if isinstance(answer, dict) and answer.get("error") == "invalid_json":
            assert "body" in answer["fields"], (method, path, answer)
    # And the JSON routes themselves answer 400 naming body
    for method, path in [("POST", "/v1/send-check"), ("PATCH", "/v1/settings"), ("POST", "/v1/dnd")]:
        status, answer = api.call(method, path, raw=body)
        assert status == 400 and answer["error"] == "invalid_json" and "body" in answer["fields"], answer


def test_deep_json_at_the_limit_still_parses_and_one_more_level_does_not():
    at_limit = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert loads_bounded(at_limit) is not None
    with pytest.raises(JsonTooDeep):
        loads_bounded("[" + at_limit + "]")
    # Brackets inside strings (escaped quotes included) are text, not nesting
    assert nesting_depth('{"a": "[[[[\\"[[[", "b": ["}}}"]}') == 2


def test_deep_json_in_a_signed_crm_webhook_is_4xx(api: Api):
    # Given a workspace reading CRM changes, and a correctly signed body nested 100,000 deep
    secret = "crm-deep-secret"
    assert (
        api.patch("/v1/settings", {"crm": {"provider": "hubspot", "mode": "read", "webhook_secret": secret}})[0] == 200
    )
    # When it is delivered
    status, answer = post_signed_crm_webhook(api, secret, DEEP_ARRAY.encode())
    # Then 400 naming the body: the CRM must not retry it
    assert status == 400, answer
    assert "body" in answer["fields"]


def test_deep_json_in_a_cursor_is_422_naming_cursor(api: Api):
    cursor = base64.urlsafe_b64encode(("[" * 5000 + "]" * 5000).encode()).decode().rstrip("=")
    status, answer = api.get(f"/v1/sequences/s1/enrollments?cursor={cursor}")
    assert status == 422, answer
    assert "cursor" in answer["fields"]


def test_deep_json_in_an_sns_message_is_dropped_not_retried(aws_env: dict[str, str]):
    from chalicelib.consumers.ses_notifications import handle_ses_notification

    # When the SES topic delivers a message nested 100,000 deep / Then it is dropped (no raise = no retry)
    assert handle_ses_notification(DEEP_OBJECT) is None
    assert handle_ses_notification(DEEP_ARRAY) is None
