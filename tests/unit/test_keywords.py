"""R6: SMS keyword matching -- whole message, trimmed, any case, surrounding punctuation ignored."""

from __future__ import annotations

import pytest

from chalicelib.logic.keywords import classify, looks_like_revocation, normalize_message


@pytest.mark.parametrize(
    "body",
    [
        "STOP",
        "stop",
        " Stop ",
        "STOP.",
        "stop!!",
        "'Stop'",
        "STOP 🛑",
        "\tstop\n",
        "StopAll",
        "UNSUBSCRIBE",
        "cancel",
        "End",
        "quit",
        "REVOKE",
        "optout",
        "OPT OUT",
        "opt out",
        "Opt  Out!",
        "Opt-Out",
        "¡stop!",
        "\u200bSTOP",
    ],
)
def test_r6_stop_family_is_opt_out(body):
    # Given an inbound text that is only a STOP-family keyword / When classified / Then opt_out
    assert classify(body) == "opt_out"


@pytest.mark.parametrize("body", ["START", "start", "Yes", "yes!", " UNSTOP. "])
def test_r6_start_family_is_opt_in(body):
    assert classify(body) == "opt_in"


@pytest.mark.parametrize("body", ["HELP", "help?", "Info", " INFO. "])
def test_r6_help_family_is_help(body):
    assert classify(body) == "help"


@pytest.mark.parametrize(
    "body",
    [
        "stop texting me",
        "STOP STOP",
        "please stop",
        "STOPPED",
        "yes please",
        "optout now",
        "end of day",
        "",
        "   ",
        "...",
        "I need help with my order",
        "S T O P",
    ],
)
def test_r6_anything_but_a_bare_keyword_is_not_a_keyword(body):
    # Given a longer text or a different word / Then it is not a keyword (no automatic DND)
    assert classify(body) is None


def test_r6_normalization_collapses_inner_whitespace_and_strips_edges():
    assert normalize_message("  opt \t out!! ") == "OPT OUT"


@pytest.mark.parametrize(
    "body",
    [
        "please stop texting me",
        "Don't text me",
        "do not contact me again",
        "Remove me from your list",
        "unsubscribe me",
        "Stop please",
        "please stop",
        "take me off your list",
        "I no longer want to receive texts",
        "opt me out",
        "wrong number",
        "Leave me alone",
        "stop sending me these messages",
        "Never call me again",
    ],
)
def test_r6_free_text_revocations_are_flagged_for_a_human(body):
    assert looks_like_revocation(body)


@pytest.mark.parametrize(
    "body",
    [
        "Yes I'm interested",
        "What time is the meeting?",
        "Thanks!",
        "Can you call me tomorrow?",
        "Sounds good, see you at the end of the call",
        "STOP",
        "help",
    ],
)
def test_r6_ordinary_replies_and_keywords_are_not_revocation_candidates(body):
    assert not looks_like_revocation(body)
