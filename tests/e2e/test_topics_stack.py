"""R16 over real HTTP on the local stack (`make run`): topics, subscriptions, purposes."""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import pytest

from .conftest import LocalStack
from .test_local_stack import eventually, publish_to_ses_topic, require_handler, ses_complaint

pytestmark = pytest.mark.e2e


class Workspace:
    """A fresh workspace on the running stack, spoken to with its own key."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.workspace_id = "ws-" + uuid.uuid4().hex[:10]
        created = stack.request(
            "POST", "/v1/admin/workspaces", {"workspace_id": self.workspace_id}, key=stack.admin_key
        )
        assert created.status == 201, created.body
        self.key = created.json()["api_key"]

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.stack.request(method, path, body, key=self.key)
        assert response.status == expect, (method, path, response.status, response.body)
        return response.json() if response.body else None

    def check(self, **body: Any) -> dict[str, Any]:
        return self.call("POST", "/v1/send-check", body)


@pytest.fixture()
def ws(local_stack: LocalStack) -> Workspace:
    workspace = Workspace(local_stack)
    workspace.call("PUT", "/v1/topics/newsletter", {"name": "Newsletter", "channels": ["email", "sms"]})
    workspace.call("PUT", "/v1/topics/product-updates", {"name": "Product updates", "channels": ["email"]})
    return workspace


def test_r16_a_contact_unsubscribed_from_one_topic_is_blocked_for_it_and_allowed_for_others(ws: Workspace):
    # Given a contact
    ws.call("PUT", "/v1/contacts/c1", {"email": "ann@example.com", "phone": "+14155552671"})
    # When it is unsubscribed from the newsletter
    answer = ws.call(
        "POST",
        "/v1/subscriptions",
        {"contact_id": "c1", "topic_id": "newsletter", "action": "unsubscribe", "source": "user"},
    )
    assert answer["topics"]["newsletter"] == {"email": "unsubscribed", "sms": "unsubscribed"}
    # Then a newsletter is blocked, naming the topic; product updates and untopical sends go out
    blocked = ws.check(contact_id="c1", channel="email", topic_id="newsletter")
    assert blocked["allowed"] is False
    assert blocked["blocked_by"] == [{"type": "topic", "topic_id": "newsletter", "channel": "email"}]
    assert ws.check(contact_id="c1", channel="email", topic_id="product-updates")["allowed"] is True
    assert ws.check(contact_id="c1", channel="email")["allowed"] is True
    # And the contact shows it
    assert ws.call("GET", "/v1/contacts/c1")["topics"] == {
        "newsletter": {"email": "unsubscribed", "sms": "unsubscribed"},
        "product-updates": {"email": "subscribed"},
    }


def test_r16_an_address_level_topic_unsubscribe_reaches_a_contact_created_later(ws: Workspace):
    # Given an address unsubscribed from product updates before any contact has it
    ws.call(
        "POST",
        "/v1/subscriptions",
        {"email": "later@example.com", "topic_id": "product-updates", "action": "unsubscribe", "source": "user"},
    )
    # When a contact is created with that address
    ws.call("PUT", "/v1/contacts/c-later", {"email": "Later@Example.com"})
    # Then checks for that topic are blocked, other topics are not
    assert ws.check(contact_id="c-later", channel="email", topic_id="product-updates")["allowed"] is False
    assert ws.check(contact_id="c-later", channel="email", topic_id="newsletter")["allowed"] is True


def test_r16_transactional_passes_marketing_opt_outs_and_nothing_else(ws: Workspace):
    stack = ws.stack
    # Given c1 used an email's one-click link and left the newsletter
    ws.call("PUT", "/v1/contacts/c1", {"email": "ann@example.com"})
    link = ws.call("POST", "/v1/unsubscribe-links", {"contact_id": "c1", "channel": "email"})
    one_click = stack.request(
        "POST",
        urlparse(link["url"]).path,
        b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status == 200
    ws.call(
        "POST",
        "/v1/subscriptions",
        {"contact_id": "c1", "topic_id": "newsletter", "action": "unsubscribe", "source": "user"},
    )
    # Then marketing is blocked, a transactional send goes out with the warning
    assert ws.check(contact_id="c1", channel="email", topic_id="newsletter")["allowed"] is False
    receipt = ws.check(contact_id="c1", channel="email", topic_id="newsletter", purpose="transactional")
    assert receipt["allowed"] is True and receipt["warnings"] == ["marketing_opt_out"]
    # And an unknown purpose is refused
    status = stack.request(
        "POST", "/v1/send-check", {"contact_id": "c1", "channel": "email", "purpose": "x"}, key=ws.key
    )
    assert status.status == 422 and "purpose" in status.json()["fields"]

    # Given c2 with the team's DND on email: transactional is blocked
    ws.call("PUT", "/v1/contacts/c2", {"email": "bob@example.com"})
    ws.call("POST", "/v1/dnd", {"contact_id": "c2", "channel": "email", "action": "enable", "source": "user"})
    team = ws.check(contact_id="c2", channel="email", purpose="transactional")
    assert team["allowed"] is False and team["blocked_by"][0]["reason"] == "manual"

    # Given c3 whose address complained through SES: transactional is blocked
    require_handler(stack, "on_ses_notification")
    address = f"complainer-{uuid.uuid4().hex[:8]}@example.com"
    ws.call("PUT", "/v1/contacts/c3", {"email": address})
    publish_to_ses_topic(stack, ses_complaint(address, workspace=ws.workspace_id))

    def complaint_blocks() -> dict[str, Any] | None:
        answer = ws.check(contact_id="c3", channel="email", purpose="transactional")
        return answer if answer["allowed"] is False else None

    answer = eventually(complaint_blocks)
    assert answer["blocked_by"][0]["reason"] == "spam_complaint" and answer["warnings"] == []


# -- R16 round trips: the embedded endpoint's request recorder ---------------------------------


def moto_api(stack: LocalStack, action: str) -> bytes:
    request = urllib.request.Request(f"{stack.aws_url}/moto-api/recorder/{action}", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (local URL)
        return response.read()


def recorded_dynamodb_requests(stack: LocalStack, call: Callable[[], Any]) -> list[tuple[str, dict[str, Any]]]:
    """(operation, body) of every DynamoDB request the embedded endpoint received during ``call``."""
    moto_api(stack, "reset-recording")
    moto_api(stack, "start-recording")
    try:
        call()
    finally:
        moto_api(stack, "stop-recording")
    with urllib.request.urlopen(f"{stack.aws_url}/moto-api/recorder/download-recording", timeout=10) as response:  # noqa: S310
        lines = response.read().decode().splitlines()
    found = []
    for line in lines:
        entry = json.loads(line)
        target = next((v for k, v in entry["headers"].items() if k.lower() == "x-amz-target"), "")
        if target.startswith("DynamoDB_"):
            body = base64.b64decode(entry["body"]) if entry.get("body_encoded") else entry.get("body") or "{}"
            found.append((target.split(".", 1)[1], json.loads(body)))
    return found


def test_r16_a_check_by_contact_and_its_address_is_one_dynamodb_request(ws: Workspace):
    # Given a contact with email and phone, unsubscribed from the newsletter by email
    ws.call("PUT", "/v1/contacts/c1", {"email": "ann@example.com", "phone": "+14155552671"})
    ws.call(
        "POST",
        "/v1/subscriptions",
        {"contact_id": "c1", "topic_id": "newsletter", "channel": "email", "action": "unsubscribe", "source": "user"},
    )
    body = {"contact_id": "c1", "email": "ann@example.com", "channel": "email", "topic_id": "newsletter"}
    answers: list[dict[str, Any]] = []

    def measured() -> list[tuple[str, dict[str, Any]]]:
        ws.check(**body)  # warm this API process's key and config caches (refreshed at most once a second)
        return recorded_dynamodb_requests(ws.stack, lambda: answers.append(ws.check(**body)))

    # When the check names the contact and the address it will use (a config refresh or the outbox
    # sweeper landing in the window is another process's request: measure again)
    requests = measured()
    for _ in range(4):
        if [op for op, _ in requests] == ["BatchGetItem"]:
            break
        requests = measured()
    # Then the embedded endpoint saw one DynamoDB request: a BatchGetItem of the contact and the address item
    assert [op for op, _ in requests] == ["BatchGetItem"], [op for op, _ in requests]
    tables = sorted(requests[0][1]["RequestItems"])
    assert (
        len(tables) == 2 and any("contacts" in t.lower() for t in tables) and any("dnd" in t.lower() for t in tables)
    ), tables
    # And the answer is right
    assert answers[-1]["blocked_by"] == [{"type": "topic", "topic_id": "newsletter", "channel": "email"}]
