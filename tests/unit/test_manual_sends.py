"""R15 (amends R4): manual sends never bypass the contact. With manual_sends_respect_dnd false,
only the team's own temporary entries become a do_not_contact warning."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.logic.exclusions import MatchSubject, compile_rules
from chalicelib.logic.verdict import CheckRequest, Policy, Recipient, decide_send
from chalicelib.models.domain import DndEntry, DndState, WorkspaceSettings

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def state(*entries: tuple[str, str, str]) -> DndState:
    """Entries as (reason, kind, source) on email."""
    return DndState(
        outbound={
            "email": {
                reason: DndEntry(reason=reason, kind=kind, source=source, at="2026-05-01T00:00:00Z")
                for reason, kind, source in entries
            }
        }
    )


def manual_check(*entries: tuple[str, str, str], respect: bool = False) -> dict:
    policy = Policy(WorkspaceSettings(manual_sends_respect_dnd=respect), compile_rules([]), {}, {})
    subject = MatchSubject(email="ann@example.com", email_domain="example.com")
    return decide_send(CheckRequest("email", "manual"), Recipient("c1", subject, [state(*entries)]), policy, NOW)


@pytest.mark.parametrize("source", ["user", "workflow", "crm"])
def test_r15_team_temporary_entry_is_a_warning_for_manual_sends(source: str):
    # Given only the team's temporary entry / When a manual send is checked with respect=false
    answer = manual_check(("manual", "temporary", source))
    # Then it is allowed with the do_not_contact warning
    assert answer["allowed"] is True and answer["warnings"] == ["do_not_contact"]


@pytest.mark.parametrize(
    "entry",
    [
        ("unsubscribed", "permanent", "contact"),  # the contact's own opt-out
        ("asked on a call", "permanent", "contact"),  # recorded by a rep with source contact
        ("spam_complaint", "permanent", "system"),
        ("hard_bounce", "temporary", "system"),  # bounces are not the team's
        ("carrier_30003", "temporary", "system"),
        ("crm_opt_out", "permanent", "user"),  # a team entry made permanent (e.g. import) still blocks
    ],
)
def test_r15_contact_complaint_bounce_carrier_entries_block_manual_sends(entry):
    # Given an entry the team did not set as temporary / When a manual send is checked
    answer = manual_check(entry)
    # Then it is blocked by that entry, with no warning
    assert answer["allowed"] is False and answer["warnings"] == []
    assert answer["blocked_by"] == [{"type": "dnd", "channel": "email", "reason": entry[0], "kind": entry[1]}]


def test_r15_mixed_entries_block_by_the_non_team_entry():
    # Given a team temporary entry and a hard bounce / Then the bounce blocks (it is what explains it)
    answer = manual_check(("manual", "temporary", "user"), ("hard_bounce", "temporary", "system"))
    assert answer["allowed"] is False
    assert answer["blocked_by"][0]["reason"] == "hard_bounce"


def test_r4_default_respect_true_still_blocks_team_entries():
    answer = manual_check(("manual", "temporary", "user"), respect=True)
    assert answer["allowed"] is False and answer["warnings"] == []
