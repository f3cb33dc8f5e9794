"""R16: topics and purposes in the send-check verdict (pure), and the topics view."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.logic.exclusions import MatchSubject, compile_rules
from chalicelib.logic.topics import topics_view
from chalicelib.logic.verdict import CheckRequest, Policy, Recipient, decide_send
from chalicelib.models.domain import DndEntry, DndState, Topic, WorkspaceSettings

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
AT = "2024-05-01T00:00:00Z"


def entry(reason: str, source: str = "contact", kind: str = "permanent") -> DndEntry:
    return DndEntry(reason=reason, kind=kind, source=source, at=AT)


def topic_state(topic_id: str, channel: str) -> DndState:
    return DndState(topics={topic_id: {channel: entry("topic_unsubscribed")}})


def dnd_state(channel: str, *entries: DndEntry) -> DndState:
    return DndState(outbound={channel: {e.reason: e for e in entries}})


def decide(states: list[DndState], channel: str = "email", **request: str) -> dict:
    subject = MatchSubject(email="ann@example.com", email_domain="example.com")
    policy = Policy(WorkspaceSettings(), compile_rules([]), {}, {})
    return decide_send(CheckRequest(channel, **request), Recipient("c1", subject, states), policy, NOW)


def test_r16_a_topic_unsubscribe_blocks_checks_naming_that_topic_on_that_channel_only():
    states = [DndState(), topic_state("news", "email")]
    assert decide(states, topic_id="news") == {
        "allowed": False,
        "dnd_status": "off",
        "blocked_by": [{"type": "topic", "topic_id": "news", "channel": "email"}],
        "warnings": [],
    }
    assert decide(states, topic_id="updates")["allowed"] is True
    assert decide(states, "sms", topic_id="news")["allowed"] is True
    assert decide(states)["allowed"] is True


def test_r16_manual_sends_do_not_bypass_a_topic_unsubscribe():
    states = [topic_state("news", "email")]
    assert decide(states, topic_id="news", mode="manual")["allowed"] is False


def test_r16_transactional_passes_topic_and_link_unsubscribes_with_a_warning():
    states = [dnd_state("email", entry("unsubscribed")), topic_state("news", "email")]
    assert decide(states, topic_id="news")["allowed"] is False
    answer = decide(states, topic_id="news", purpose="transactional")
    assert answer["allowed"] is True and answer["blocked_by"] == []
    assert answer["warnings"] == ["marketing_opt_out"]


@pytest.mark.parametrize(
    "blocking",
    [
        entry("spam_complaint", "system"),
        entry("hard_bounce", "system"),
        entry("carrier_30007", "system"),
        entry("sms_stop", "contact"),
        entry("reply_unsubscribe", "contact"),
        entry("manual", "user", "temporary"),
        entry("unsubscribed", "user", "temporary"),
        entry("unsubscribed", "workflow", "temporary"),
    ],
)
def test_r16_transactional_is_blocked_by_everything_but_marketing_opt_outs(blocking: DndEntry):
    # (entries are keyed by reason: the team's own "unsubscribed" stands alone)
    with_link = blocking.reason != "unsubscribed"
    states = [dnd_state("email", entry("unsubscribed"), blocking) if with_link else dnd_state("email", blocking)]
    answer = decide(states, purpose="transactional")
    assert answer["allowed"] is False
    assert answer["blocked_by"] == [
        {"type": "dnd", "channel": "email", "reason": blocking.reason, "kind": blocking.kind}
    ]
    assert answer["warnings"] == (["marketing_opt_out"] if with_link else [])


def test_r16_topics_view_lists_live_topics_and_leftovers():
    topics = {
        "news": Topic(topic_id="news", name="News", channels=["email", "sms"]),
        "gone": Topic(topic_id="gone", name="Gone", channels=["email"], deleted=True),
        "clean": Topic(topic_id="clean", name="Deleted, nothing left", channels=["email"], deleted=True),
    }
    states = [topic_state("news", "sms"), topic_state("gone", "email"), DndState()]
    assert topics_view(states, topics) == {
        "gone": {"email": "unsubscribed"},
        "news": {"email": "subscribed", "sms": "unsubscribed"},
    }
    assert topics_view(states, topics, ("email",)) == {
        "gone": {"email": "unsubscribed"},
        "news": {"email": "subscribed"},
    }
