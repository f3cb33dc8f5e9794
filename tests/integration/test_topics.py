"""R16: topics, topic subscriptions and send-check purposes, through the Chalice app."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlparse

import pytest

from tests.integration import test_dnd_events
from tests.integration.conftest import Api
from tests.integration.test_dnd_events import assert_valid_and_anonymous

EMAIL = "ann@example.com"
PHONE = "+14155552671"
NEWSLETTER = {"name": "Newsletter", "description": "Monthly news", "channels": ["email", "sms"]}
UPDATES = {"name": "Product updates", "channels": ["email"]}


@pytest.fixture()
def topics(api: Api) -> Api:
    """Given a workspace with topics newsletter (email, sms) and product-updates (email), and a contact c1."""
    for topic_id, body in (("newsletter", NEWSLETTER), ("product-updates", UPDATES)):
        status, answer = api.put(f"/v1/topics/{topic_id}", body)
        assert status == 200, answer
    assert api.put("/v1/contacts/c1", {"email": EMAIL, "phone": PHONE})[0] == 200
    return api


def check(api: Api, **body: Any) -> dict[str, Any]:
    status, answer = api.post("/v1/send-check", body)
    assert status == 200, answer
    return answer


def subscription(api: Api, **body: Any) -> dict[str, Any]:
    body.setdefault("source", "user")
    status, answer = api.post("/v1/subscriptions", body)
    assert status == 200, answer
    return answer


def audit(api: Api, **query: str) -> list[dict[str, Any]]:
    status, body = api.get("/v1/audit?" + urlencode(query))
    assert status == 200, body
    return body["entries"]


def dnd(**change: Any) -> Any:
    """A DND change through the one recording function every intake path uses."""
    from chalicelib.services.context import get_services
    from chalicelib.services.dnd import DndChange, apply_dnd_change

    return apply_dnd_change(get_services(), DndChange(**change))


# --- topics ------------------------------------------------------------------------------------


def test_r16_put_get_list_and_delete_topics(api: Api):
    # When a topic is created
    status, topic = api.put("/v1/topics/newsletter", NEWSLETTER)
    # Then it comes back as stored, and is listed
    assert status == 200
    assert {k: topic[k] for k in ("topic_id", "name", "description", "channels")} == {
        "topic_id": "newsletter",
        **NEWSLETTER,
    }
    assert api.get("/v1/topics/newsletter") == (200, topic)
    assert [t["topic_id"] for t in api.get("/v1/topics")[1]["topics"]] == ["newsletter"]
    # When it is replaced, then the new definition holds and created_at stays
    status, replaced = api.put("/v1/topics/newsletter", {"name": "News", "channels": ["email"]})
    assert status == 200 and replaced["channels"] == ["email"] and replaced["created_at"] == topic["created_at"]
    # When it is deleted, then it is gone from the API
    assert api.delete("/v1/topics/newsletter")[0] == 204
    assert api.get("/v1/topics/newsletter")[0] == 404
    assert api.get("/v1/topics")[1] == {"topics": []}
    assert api.delete("/v1/topics/newsletter")[0] == 404


@pytest.mark.parametrize(
    ("topic_id", "body", "field"),
    [
        ("bad id", NEWSLETTER, "topic_id"),
        ("t", {"channels": ["email"]}, "name"),
        ("t", {"name": "T", "channels": []}, "channels"),
        ("t", {"name": "T", "channels": ["fax"]}, "channels.0"),
        ("t", {"name": "T", "channels": ["email", "email"]}, "channels"),
        ("t", {"name": "T", "channels": ["email"], "colour": "red"}, "colour"),
        ("t", {"name": "T", "channels": ["email"], "sendgrid_asm_group_id": 0}, "sendgrid_asm_group_id"),
    ],
)
def test_r16_bad_topic_is_422_naming_the_field(api: Api, topic_id: str, body: dict[str, Any], field: str):
    status, answer = api.put(f"/v1/topics/{topic_id}", body)
    assert status == 422, answer
    assert field in answer["fields"], answer
    assert api.get("/v1/topics")[1] == {"topics": []}


def test_r16_topics_are_workspace_scoped(topics: Api, other_api: Api):
    assert other_api.get("/v1/topics") == (200, {"topics": []})
    assert other_api.get("/v1/topics/newsletter")[0] == 404
    assert other_api.delete("/v1/topics/newsletter")[0] == 404
    # A check in the other workspace cannot name this workspace's topic
    status, answer = other_api.post("/v1/send-check", {"email": EMAIL, "channel": "email", "topic_id": "newsletter"})
    assert status == 422 and "topic_id" in answer["fields"]


def test_r16_a_sendgrid_group_maps_one_topic(api: Api):
    from chalicelib.services.context import get_services
    from chalicelib.services.topics import topic_for_sendgrid_group

    # Given a topic standing for SendGrid unsubscribe group 42
    assert api.put("/v1/topics/newsletter", {**NEWSLETTER, "sendgrid_asm_group_id": 42})[0] == 200
    # Then the group finds it, and a second topic cannot take the same group
    topic = topic_for_sendgrid_group(get_services(), api.workspace_id, 42)
    assert topic is not None and topic.topic_id == "newsletter"
    status, answer = api.put("/v1/topics/other", {**UPDATES, "sendgrid_asm_group_id": 42})
    assert status == 409 and answer["error"] == "sendgrid_group_taken"
    # And once the topic is deleted, the group maps nothing
    assert api.delete("/v1/topics/newsletter")[0] == 204
    assert topic_for_sendgrid_group(get_services(), api.workspace_id, 42) is None


# --- subscriptions -----------------------------------------------------------------------------


def test_r16_a_contact_unsubscribed_from_one_topic_is_blocked_for_it_only(topics: Api):
    # When c1 is unsubscribed from the newsletter (every channel of the topic)
    answer = subscription(topics, contact_id="c1", topic_id="newsletter", action="unsubscribe", actor="rep@acme")
    # Then the answer and the contact show the topic state, and no DND
    expected = {
        "newsletter": {"email": "unsubscribed", "sms": "unsubscribed"},
        "product-updates": {"email": "subscribed"},
    }
    assert answer == {"contact_id": "c1", "changed": True, "topics": expected}
    status, contact = topics.get("/v1/contacts/c1")
    assert contact["topics"] == expected and contact["dnd"]["status"] == "off"
    # And a check for the newsletter is blocked, naming the topic and channel
    blocked = check(topics, contact_id="c1", channel="email", topic_id="newsletter")
    assert blocked["allowed"] is False
    assert blocked["blocked_by"] == [{"type": "topic", "topic_id": "newsletter", "channel": "email"}]
    assert check(topics, contact_id="c1", channel="sms", topic_id="newsletter")["allowed"] is False
    # And other topics, and sends naming no topic, are allowed
    assert check(topics, contact_id="c1", channel="email", topic_id="product-updates")["allowed"] is True
    assert check(topics, contact_id="c1", channel="email")["allowed"] is True
    # And the unsubscribe went to the address items (email, phone), audited with topic_id
    entries = audit(topics, contact_id="c1")
    assert sorted((e["channel"], e["topic_id"], e["action"], e["reason"], e["source"]) for e in entries) == [
        ("email", "newsletter", "enabled", "topic_unsubscribed", "user"),
        ("sms", "newsletter", "enabled", "topic_unsubscribed", "user"),
    ]
    assert {e["actor"] for e in entries} == {"rep@acme"}


def test_r16_one_channel_of_a_topic(topics: Api):
    # When c1 leaves the newsletter by SMS only
    answer = subscription(topics, contact_id="c1", topic_id="newsletter", channel="sms", action="unsubscribe")
    # Then email newsletters still go out, SMS ones do not
    assert answer["topics"]["newsletter"] == {"email": "subscribed", "sms": "unsubscribed"}
    assert check(topics, contact_id="c1", channel="email", topic_id="newsletter")["allowed"] is True
    assert check(topics, contact_id="c1", channel="sms", topic_id="newsletter")["allowed"] is False


def test_r16_an_address_unsubscribe_reaches_later_contacts_and_survives_erasure(topics: Api):
    # Given a raw address unsubscribed from the newsletter (its own channel only: email)
    answer = subscription(topics, email="Later@Example.com", topic_id="newsletter", action="unsubscribe")
    assert answer == {
        "changed": True,
        "topics": {"newsletter": {"email": "unsubscribed"}, "product-updates": {"email": "subscribed"}},
    }
    # When a contact is created later with that address
    assert topics.put("/v1/contacts/c2", {"email": "later@example.com"})[0] == 200
    # Then it is unsubscribed too
    assert topics.get("/v1/contacts/c2")[1]["topics"]["newsletter"]["email"] == "unsubscribed"
    assert check(topics, contact_id="c2", channel="email", topic_id="newsletter")["allowed"] is False
    assert check(topics, email="later@example.com", channel="email", topic_id="newsletter")["allowed"] is False
    # And after the contact is erased and created again, it still is
    assert topics.delete("/v1/contacts/c2")[0] == 204
    assert topics.put("/v1/contacts/c3", {"email": "later@example.com"})[0] == 200
    assert check(topics, contact_id="c3", channel="email", topic_id="newsletter")["allowed"] is False


def test_r16_a_contact_unsubscribe_survives_the_contacts_erasure(topics: Api):
    subscription(topics, contact_id="c1", topic_id="newsletter", action="unsubscribe")
    assert topics.delete("/v1/contacts/c1")[0] == 204
    assert topics.put("/v1/contacts/c9", {"email": EMAIL})[0] == 200
    assert check(topics, contact_id="c9", channel="email", topic_id="newsletter")["allowed"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contact_id": "c1", "topic_id": "nope", "action": "unsubscribe"}, "topic_id"),
        ({"contact_id": "c1", "topic_id": "product-updates", "channel": "sms", "action": "unsubscribe"}, "channel"),
        ({"contact_id": "c1", "topic_id": "newsletter", "channel": "fax", "action": "unsubscribe"}, "channel"),
        ({"contact_id": "c1", "topic_id": "newsletter", "action": "leave"}, "action"),
        ({"contact_id": "c1", "topic_id": "newsletter", "action": "unsubscribe", "source": "system"}, "source"),
        ({"contact_id": "c1", "topic_id": "newsletter", "action": "unsubscribe", "source": "contact"}, "actor"),
        ({"topic_id": "newsletter", "action": "unsubscribe"}, "contact_id"),
        ({"email": "not-an-email", "topic_id": "newsletter", "action": "unsubscribe"}, "email"),
        ({"email": EMAIL, "topic_id": "newsletter", "channel": "sms", "action": "unsubscribe"}, "channel"),
        ({"phone": PHONE, "topic_id": "product-updates", "action": "unsubscribe"}, "channel"),
        ({"contact_id": "c1", "action": "unsubscribe"}, "topic_id"),
    ],
)
def test_r16_bad_subscription_change_is_422_naming_the_field_and_changes_nothing(
    topics: Api, body: dict[str, Any], field: str
):
    status, answer = topics.post("/v1/subscriptions", {"source": "user", **body})
    assert status == 422, answer
    assert field in answer["fields"], answer
    assert audit(topics, contact_id="c1") == []


def test_r16_unknown_contact_is_404(topics: Api):
    status, answer = topics.post(
        "/v1/subscriptions",
        {"contact_id": "nobody", "topic_id": "newsletter", "action": "unsubscribe", "source": "user"},
    )
    assert status == 404, answer


def test_r16_repeats_change_nothing_and_resubscribe_restores(topics: Api):
    subscription(topics, contact_id="c1", topic_id="newsletter", action="unsubscribe")
    # When the same unsubscribe comes again, then nothing changes and nothing is audited twice
    assert subscription(topics, contact_id="c1", topic_id="newsletter", action="unsubscribe")["changed"] is False
    assert len(audit(topics, contact_id="c1")) == 2
    # When the team resubscribes (a user's unsubscribe is temporary), the next check agrees
    answer = subscription(topics, contact_id="c1", topic_id="newsletter", action="resubscribe")
    assert answer["changed"] is True
    assert answer["topics"]["newsletter"] == {"email": "subscribed", "sms": "subscribed"}
    assert check(topics, contact_id="c1", channel="email", topic_id="newsletter")["allowed"] is True
    entries = audit(topics, contact_id="c1")
    assert sorted(e["action"] for e in entries) == ["disabled", "disabled", "enabled", "enabled"]
    assert {e["topic_id"] for e in entries} == {"newsletter"}


def test_r16_the_persons_own_unsubscribe_needs_their_re_opt_in_or_evidence(topics: Api):
    # Given the person told a rep they want no newsletter (source contact: permanent)
    subscription(
        topics,
        contact_id="c1",
        topic_id="newsletter",
        action="unsubscribe",
        source="contact",
        actor="rep@acme",
        via="phone",
    )
    assert {e["kind"] for e in audit(topics, contact_id="c1")} == {"permanent"}
    # When a workflow tries to resubscribe them, then it is refused and nothing changes
    status, answer = topics.post(
        "/v1/subscriptions",
        {"contact_id": "c1", "topic_id": "newsletter", "action": "resubscribe", "source": "workflow"},
    )
    assert status == 409 and answer["error"] == "permanent_unsubscribe", answer
    assert check(topics, contact_id="c1", channel="email", topic_id="newsletter")["allowed"] is False
    # When a user resubscribes with the person's opt-in evidence, then it is undone
    answer = subscription(
        topics, contact_id="c1", topic_id="newsletter", action="resubscribe", evidence="signed form 2025-01-31"
    )
    assert answer["topics"]["newsletter"] == {"email": "subscribed", "sms": "subscribed"}


def test_r16_deleting_a_topic_keeps_its_unsubscribes_blocking(topics: Api):
    # Given c1 unsubscribed from the newsletter
    subscription(topics, contact_id="c1", topic_id="newsletter", action="unsubscribe")
    # When the topic is deleted
    assert topics.delete("/v1/topics/newsletter")[0] == 204
    # Then a check naming it is still blocked, and the contact still shows the unsubscribe
    blocked = check(topics, contact_id="c1", channel="email", topic_id="newsletter")
    assert blocked["blocked_by"] == [{"type": "topic", "topic_id": "newsletter", "channel": "email"}]
    assert topics.get("/v1/contacts/c1")[1]["topics"]["newsletter"] == {"email": "unsubscribed", "sms": "unsubscribed"}
    # And no new unsubscribe can be recorded for it, but the leftovers can be cleared
    status, _ = topics.post(
        "/v1/subscriptions", {"contact_id": "c1", "topic_id": "newsletter", "action": "unsubscribe", "source": "user"}
    )
    assert status == 422
    answer = subscription(topics, contact_id="c1", topic_id="newsletter", action="resubscribe")
    assert "newsletter" not in answer["topics"]
    assert check(topics, contact_id="c1", channel="email", topic_id="newsletter")["allowed"] is True
    # And re-creating the topic starts from what is recorded
    assert topics.put("/v1/topics/newsletter", NEWSLETTER)[0] == 200
    assert topics.get("/v1/contacts/c1")[1]["topics"]["newsletter"] == {"email": "subscribed", "sms": "subscribed"}


def test_r16_a_check_naming_a_never_defined_topic_or_purpose_is_422(topics: Api):
    for body, field in (
        ({"topic_id": "typo"}, "topic_id"),
        ({"topic_id": "bad id"}, "topic_id"),
        ({"purpose": "promotional"}, "purpose"),
    ):
        status, answer = topics.post("/v1/send-check", {"contact_id": "c1", "channel": "email", **body})
        assert status == 422 and field in answer["fields"], answer
        status, answer = topics.post(
            "/v1/send-check/batch", {"checks": [{"contact_id": "c1", "channel": "email", **body}]}
        )
        assert status == 422 and f"checks[0].{field}" in answer["fields"], answer


def test_r16_subscriptions_are_workspace_scoped(topics: Api, other_api: Api):
    subscription(topics, email=EMAIL, topic_id="newsletter", action="unsubscribe")
    assert other_api.put("/v1/topics/newsletter", NEWSLETTER)[0] == 200
    assert check(other_api, email=EMAIL, channel="email", topic_id="newsletter")["allowed"] is True
    status, _ = other_api.post(
        "/v1/subscriptions", {"contact_id": "c1", "topic_id": "newsletter", "action": "unsubscribe", "source": "user"}
    )
    assert status == 404


def test_r16_batch_checks_topics_per_check(topics: Api):
    subscription(topics, contact_id="c1", topic_id="newsletter", channel="email", action="unsubscribe")
    checks = [
        {"contact_id": "c1", "channel": "email", "topic_id": "newsletter"},
        {"contact_id": "c1", "channel": "email", "topic_id": "product-updates"},
        {"email": EMAIL, "channel": "email", "topic_id": "newsletter"},
        {"contact_id": "c1", "channel": "email", "topic_id": "newsletter", "purpose": "transactional"},
    ]
    status, body = topics.post("/v1/send-check/batch", {"checks": checks})
    assert status == 200
    assert [r["allowed"] for r in body["results"]] == [False, True, False, True]
    assert body["results"][3]["warnings"] == ["marketing_opt_out"]


# --- the service API other capabilities use ---------------------------------------------------


def test_r16_service_applies_many_changes_exactly_once(topics: Api):
    from chalicelib.services.context import get_services
    from chalicelib.services.recipients import Target
    from chalicelib.services.subscriptions import apply_topic_changes, current_topics

    services, ws = get_services(), topics.workspace_id
    changes = {
        "newsletter": {"email": "unsubscribed", "sms": "subscribed"},
        "product-updates": {"email": "unsubscribed"},
    }
    # When a webhook delivery applies two topics at once, twice
    first = apply_topic_changes(services, ws, Target(contact_id="c1"), changes, source="contact", event_id="sg-1")
    again = apply_topic_changes(services, ws, Target(contact_id="c1"), changes, source="contact", event_id="sg-1")
    # Then it is applied once: one audit entry per change
    assert first.changed and not first.duplicate and again.duplicate and not again.changed
    assert len(audit(topics, contact_id="c1")) == 2
    view = {"newsletter": {"email": "unsubscribed", "sms": "subscribed"}, "product-updates": {"email": "unsubscribed"}}
    assert first.topics == view == current_topics(services, ws, Target(contact_id="c1"))
    # And the address view is the address's own channels
    assert current_topics(services, ws, Target(email=EMAIL)) == {
        "newsletter": {"email": "unsubscribed"},
        "product-updates": {"email": "unsubscribed"},
    }


topic_events = test_dnd_events.dnd_events  # the R12 fixture: a queue subscribed to dnd-events


def test_r16_topic_changes_are_published_with_topic_id(topics: Api, topic_events: Any):
    subscription(topics, contact_id="c1", topic_id="newsletter", channel="email", action="unsubscribe")
    published = topic_events(topics.workspace_id)
    assert len(published) == 1
    raw, event = published[0]
    assert_valid_and_anonymous(raw, event)
    assert {k: event[k] for k in ("channel", "action", "reason", "source", "topic_id", "contact_ids")} == {
        "channel": "email",
        "action": "enabled",
        "reason": "topic_unsubscribed",
        "source": "user",
        "topic_id": "newsletter",
        "contact_ids": ["c1"],
    }


# --- purpose: transactional -------------------------------------------------------------------


def one_click(api: Api, **link_body: Any) -> None:
    status, link = api.post("/v1/unsubscribe-links", link_body)
    assert status == 200, link
    response = api.client.http.request(
        "POST",
        urlparse(link["url"]).path,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body="List-Unsubscribe=One-Click",
    )
    assert response.status_code == 200


def test_r16_transactional_passes_link_and_topic_unsubscribes_with_a_warning(topics: Api):
    # Given c1 used an email's one-click link and left the newsletter
    one_click(topics, contact_id="c1", channel="email")
    subscription(topics, contact_id="c1", topic_id="newsletter", action="unsubscribe")
    # Then marketing is blocked
    marketing = check(topics, contact_id="c1", channel="email", topic_id="newsletter")
    assert marketing["allowed"] is False
    assert {b["type"] for b in marketing["blocked_by"]} == {"dnd", "topic"}
    # And a receipt (transactional) goes out, with the warning
    for body in ({"topic_id": "newsletter"}, {}):
        answer = check(topics, contact_id="c1", channel="email", purpose="transactional", **body)
        assert answer["allowed"] is True and answer["warnings"] == ["marketing_opt_out"], answer
        assert answer["dnd_status"] == "on"
    # And a raw-address check agrees
    assert check(topics, email=EMAIL, channel="email", purpose="transactional")["allowed"] is True
    # And an explicit marketing purpose is the default's answer
    assert check(topics, contact_id="c1", channel="email", purpose="marketing")["allowed"] is False


def test_r16_transactional_without_opt_outs_has_no_warning(topics: Api):
    assert check(topics, contact_id="c1", channel="email", purpose="transactional") == {
        "allowed": True,
        "dnd_status": "off",
        "blocked_by": [],
        "warnings": [],
    }


@pytest.mark.parametrize(
    ("channel", "reason", "source", "kind"),
    [
        ("email", "spam_complaint", "system", "permanent"),
        ("email", "hard_bounce", "system", "permanent"),
        ("sms", "carrier_30004", "system", "permanent"),
        ("sms", "sms_stop", "contact", "permanent"),
        ("email", "reply_unsubscribe", "contact", "permanent"),
        ("email", "manual", "user", "temporary"),
        ("email", "unsubscribed", "user", "temporary"),  # the team's own DND, whatever its word
        ("email", "crm_opt_out", "crm", "temporary"),
    ],
)
def test_r16_transactional_is_still_blocked_by_everything_else(
    topics: Api, channel: str, reason: str, source: str, kind: str
):
    from chalicelib.services.recipients import Target

    # Given c1 with a DND entry that is not a link unsubscribe
    dnd(
        workspace_id=topics.workspace_id,
        target=Target(contact_id="c1"),
        direction="outbound",
        channels=(channel,),
        action="enable",
        source=source,
        reason=reason,
        kind=kind,
    )
    # Then a transactional send is blocked by it, with no warning
    answer = check(topics, contact_id="c1", channel=channel, purpose="transactional")
    assert answer["allowed"] is False
    assert answer["blocked_by"] == [{"type": "dnd", "channel": channel, "reason": reason, "kind": kind}]
    assert answer["warnings"] == []


def test_r16_transactional_with_a_link_unsubscribe_and_a_bounce_is_blocked_by_the_bounce(topics: Api):
    from chalicelib.services.recipients import Target

    one_click(topics, contact_id="c1", channel="email")
    dnd(
        workspace_id=topics.workspace_id,
        target=Target(email=EMAIL),
        direction="outbound",
        channels=("email",),
        action="enable",
        source="system",
        reason="hard_bounce",
        kind="permanent",
    )
    answer = check(topics, contact_id="c1", channel="email", purpose="transactional")
    assert answer["allowed"] is False
    assert answer["blocked_by"] == [{"type": "dnd", "channel": "email", "reason": "hard_bounce", "kind": "permanent"}]
    assert answer["warnings"] == ["marketing_opt_out"]


def test_r16_transactional_is_still_blocked_by_exclusions(topics: Api):
    status, rule = topics.post(
        "/v1/exclusions",
        {
            "name": "Competitors",
            "level": "person",
            "conditions": [{"field": "email", "op": "eq", "value": EMAIL}],
            "confirm": True,
        },
    )
    assert status == 201, rule
    answer = check(topics, contact_id="c1", channel="email", purpose="transactional")
    assert answer["allowed"] is False and answer["blocked_by"][0]["type"] == "exclusion"
