"""R4/R10/R11: the send-check and enrollment verdicts, pure functions of loaded records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.logic.exclusions import MatchSubject, compile_rules
from chalicelib.logic.verdict import CheckRequest, Policy, Recipient, decide_enrollment, decide_send
from chalicelib.models.domain import Audience, DndEntry, DndState, ExclusionRule, Sequence, WorkspaceSettings
from chalicelib.models.records import Enrollment

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def dnd(channel: str, reason: str = "manual", kind: str = "temporary", source: str = "user") -> DndState:
    entry = DndEntry(reason=reason, kind=kind, source=source, at="2024-05-01T00:00:00Z")
    return DndState(outbound={channel: {reason: entry}})


def policy(
    *,
    respect: bool = True,
    rules: list[ExclusionRule] | None = None,
    sequences: dict[str, Sequence] | None = None,
    audiences: dict[str, Audience] | None = None,
) -> Policy:
    settings = WorkspaceSettings(manual_sends_respect_dnd=respect)
    return Policy(settings, compile_rules(rules or []), sequences or {}, audiences or {})


def recipient(
    states: list[DndState] | None = None,
    enrollment: dict | None = None,
    email: str = "ann@example.com",
    company: str | None = "example.com",
) -> Recipient:
    subject = MatchSubject(email=email, email_domain=email.rsplit("@", 1)[1], company_domain=company)
    record = Enrollment("w1", "s1", "c1", **enrollment) if enrollment is not None else None
    return Recipient("c1", subject, states or [DndState()], record)


def gmail_rule(**flags) -> ExclusionRule:
    return ExclusionRule(
        exclusion_id="x1",
        name="no gmail",
        level="person",
        conditions=[{"field": "email", "op": "ends_with", "value": "@example.com"}],
        **flags,
    )


ACTIVE = {"status": "active", "audience_id": None}


# --- DND -----------------------------------------------------------------------------------


def test_r4_nothing_blocks_an_unsuppressed_recipient():
    answer = decide_send(CheckRequest("email"), recipient(), policy(), NOW)
    assert answer == {"allowed": True, "dnd_status": "off", "blocked_by": [], "warnings": []}


@pytest.mark.parametrize("respect", [True, False])
def test_r4_dnd_blocks_automated_sends_always(respect):
    answer = decide_send(CheckRequest("email", "automated"), recipient([dnd("email")]), policy(respect=respect), NOW)
    assert answer["allowed"] is False
    assert answer["blocked_by"] == [{"type": "dnd", "channel": "email", "reason": "manual", "kind": "temporary"}]
    assert answer["dnd_status"] == "partial"


def test_r4_dnd_blocks_manual_sends_by_default():
    answer = decide_send(CheckRequest("email", "manual"), recipient([dnd("email")]), policy(), NOW)
    assert answer["allowed"] is False
    assert answer["blocked_by"][0]["type"] == "dnd"
    assert answer["warnings"] == []


def test_r4_manual_send_allowed_with_warning_when_workspace_does_not_respect_dnd():
    answer = decide_send(CheckRequest("email", "manual"), recipient([dnd("email")]), policy(respect=False), NOW)
    assert answer["allowed"] is True
    assert answer["blocked_by"] == []
    assert answer["warnings"] == ["do_not_contact"]


def test_r1_dnd_on_another_channel_does_not_block():
    answer = decide_send(CheckRequest("sms"), recipient([dnd("email")]), policy(), NOW)
    assert answer["allowed"] is True
    assert answer["dnd_status"] == "partial"


def test_r4_dnd_reason_is_the_strongest_across_subjects():
    states = [dnd("email", "hard_bounce", "temporary", "system"), dnd("email", "unsubscribed", "permanent", "contact")]
    answer = decide_send(CheckRequest("email"), recipient(states), policy(), NOW)
    assert answer["blocked_by"] == [{"type": "dnd", "channel": "email", "reason": "unsubscribed", "kind": "permanent"}]


# --- exclusions --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["automated", "manual"])
@pytest.mark.parametrize("respect", [True, False])
def test_r4_exclusions_block_both_modes(mode, respect):
    answer = decide_send(CheckRequest("email", mode), recipient(), policy(respect=respect, rules=[gmail_rule()]), NOW)
    assert answer["allowed"] is False
    assert answer["blocked_by"] == [{"type": "exclusion", "exclusion_id": "x1", "reason": "no gmail"}]


def test_r4_every_blocking_reason_is_listed():
    answer = decide_send(
        CheckRequest("email", sequence_id="s1"), recipient([dnd("email")]), policy(rules=[gmail_rule()]), NOW
    )
    assert [b["type"] for b in answer["blocked_by"]] == ["dnd", "exclusion", "enrollment"]


def test_r10_disabled_rule_does_not_block():
    answer = decide_send(CheckRequest("email"), recipient(), policy(rules=[gmail_rule(enabled=False)]), NOW)
    assert answer["allowed"] is True


def test_r10_sequence_with_exclusions_disabled_ignores_rules():
    sequences = {"s1": Sequence(sequence_id="s1", exclusions_enabled=False)}
    answer = decide_send(
        CheckRequest("email", sequence_id="s1"),
        recipient(enrollment=ACTIVE),
        policy(rules=[gmail_rule()], sequences=sequences),
        NOW,
    )
    assert answer["allowed"] is True


def test_r10_rule_not_excluding_from_sequences_does_not_block_sequence_sends():
    rules = [gmail_rule(exclude_from_sequences=False)]
    in_sequence = decide_send(
        CheckRequest("email", sequence_id="s1"), recipient(enrollment=ACTIVE), policy(rules=rules), NOW
    )
    direct = decide_send(CheckRequest("email"), recipient(), policy(rules=rules), NOW)
    assert in_sequence["allowed"] is True
    assert direct["allowed"] is False


def test_r10_audience_that_disabled_the_rule_is_not_blocked():
    audiences = {"a1": Audience(audience_id="a1", disabled_exclusions=["x1"])}
    pol = policy(rules=[gmail_rule()], audiences=audiences)
    assert decide_send(CheckRequest("email", audience_id="a1"), recipient(), pol, NOW)["allowed"] is True
    # The audience the contact was enrolled from counts when the check names none.
    enrolled = recipient(enrollment={"status": "active", "audience_id": "a1"})
    assert decide_send(CheckRequest("email", sequence_id="s1"), enrolled, pol, NOW)["allowed"] is True
    assert decide_send(CheckRequest("email", audience_id="other"), recipient(), pol, NOW)["allowed"] is False


# --- enrollment ------------------------------------------------------------------------------


@pytest.mark.parametrize(("enrollment", "reason"), [(None, "not_enrolled"), ({"status": "unenrolled"}, "unenrolled")])
def test_r4_sequence_send_to_contact_not_actively_enrolled_is_blocked(enrollment, reason):
    answer = decide_send(CheckRequest("email", sequence_id="s1"), recipient(enrollment=enrollment), policy(), NOW)
    assert answer["allowed"] is False
    assert answer["blocked_by"] == [{"type": "enrollment", "reason": reason}]


def test_r4_sequence_send_to_active_enrollment_is_allowed():
    answer = decide_send(CheckRequest("email", sequence_id="s1"), recipient(enrollment=ACTIVE), policy(), NOW)
    assert answer["allowed"] is True


def test_r4_without_sequence_enrollment_is_not_asked():
    answer = decide_send(CheckRequest("email"), recipient(enrollment={"status": "unenrolled"}), policy(), NOW)
    assert answer["allowed"] is True


# --- decide_enrollment (R11) ----------------------------------------------------------------


SEQ = Sequence(sequence_id="s1")


def test_r11_clean_contact_may_enroll():
    assert decide_enrollment(recipient(), SEQ, policy(), NOW) == []


def test_r11_do_not_contact_refuses_enrollment():
    reasons = decide_enrollment(recipient([dnd("email", "unsubscribed", "permanent", "contact")]), SEQ, policy(), NOW)
    assert reasons == [{"type": "dnd", "reason": "do_not_contact"}]


def test_r11_partial_user_dnd_does_not_refuse_enrollment():
    assert decide_enrollment(recipient([dnd("sms")]), SEQ, policy(), NOW) == []


def test_r11_exclusion_refuses_enrollment():
    reasons = decide_enrollment(recipient(), SEQ, policy(rules=[gmail_rule()]), NOW)
    assert reasons == [{"type": "exclusion", "exclusion_id": "x1", "reason": "no gmail"}]


def test_r11_already_enrolled():
    reasons = decide_enrollment(recipient(enrollment=ACTIVE), SEQ, policy(), NOW)
    assert reasons == [{"type": "enrollment", "reason": "already_enrolled"}]


def test_r11_cooldown_counts_from_unenrollment():
    sequence = Sequence(sequence_id="s1", reenroll_cooldown_days=30)
    recent = {"status": "unenrolled", "unenrolled_at": (NOW - timedelta(days=29)).isoformat()}
    old = {"status": "unenrolled", "unenrolled_at": (NOW - timedelta(days=31)).isoformat()}
    reasons = decide_enrollment(recipient(enrollment=recent), sequence, policy(), NOW)
    assert [r["type"] for r in reasons] == ["cooldown"]
    assert reasons[0]["reason"] == "reenroll_cooldown"
    assert reasons[0]["until"] == (NOW + timedelta(days=1)).isoformat()
    assert decide_enrollment(recipient(enrollment=old), sequence, policy(), NOW) == []
    # Without a cooldown, re-enrollment is immediate.
    assert decide_enrollment(recipient(enrollment=recent), SEQ, policy(), NOW) == []


def test_r11_company_cap():
    sequence = Sequence(sequence_id="s1", max_enrollments_per_company=2)
    assert decide_enrollment(recipient(), sequence, policy(), NOW, company_active_enrollments=1) == []
    reasons = decide_enrollment(recipient(), sequence, policy(), NOW, company_active_enrollments=2)
    assert reasons == [{"type": "company_cap", "reason": "max_enrollments_per_company", "limit": 2}]
    # No company known: the cap cannot apply.
    assert decide_enrollment(recipient(company=None), sequence, policy(), NOW, company_active_enrollments=5) == []


def test_r11_manual_enrollment_cannot_bypass_exclusions_and_audience_hierarchy_applies():
    audiences = {"a1": Audience(audience_id="a1", disabled_exclusions=["x1"])}
    pol = policy(rules=[gmail_rule()], audiences=audiences)
    assert decide_enrollment(recipient(), SEQ, pol, NOW, audience_id="a1") == []
    assert decide_enrollment(recipient(), SEQ, pol, NOW)[0]["type"] == "exclusion"
