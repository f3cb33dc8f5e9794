"""R16 over real HTTP on the local stack (`make run`): topics, subscriptions, purposes."""

from __future__ import annotations

import uuid
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
