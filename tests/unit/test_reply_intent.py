"""R9: a reply asking to unsubscribe is recognized from the person's own words only."""

from __future__ import annotations

import pytest

from chalicelib.logic.reply_intent import asks_to_unsubscribe, own_words


@pytest.mark.parametrize(
    "text",
    [
        "Please unsubscribe me.",
        "UNSUBSCRIBE",
        "stop",
        "Remove me from your list",
        "please take me off your mailing list, thanks",
        "Stop emailing me!",
        "Do not contact me again.",
        "don\u2019t email me",
        "No more emails please",
        "I want to opt-out",
        "How do I opt out?",
        "Please delete my email address from your system",
        "Thanks, but unsubscribe.\n\nOn Mon, Jan 5, 2026 at 10:00 AM Bob <bob@x.com> wrote:\n> Hi there",
    ],
)
def test_r9_unsubscribe_requests_are_recognized(text):
    assert asks_to_unsubscribe(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        "Sounds good, let's talk Tuesday.",
        "Not interested right now.",
        "Please don't remove me, these are useful!",
        "I do not want to unsubscribe, just forward this to Kim.",
        "Interesting! Who else stopped by the booth?",
        "I got your name from the list at the conference.",
        # The quoted original carries the footer; the reply itself is friendly
        "Yes, send me the deck.\n\nOn Mon, Jan 5, 2026 at 10:00 AM Bob <bob@x.com> wrote:\n"
        "> Here is our offer.\n> Unsubscribe: https://x/u/abc",
        "Great.\n> unsubscribe\n> remove me",
        "Sure.\n-----Original Message-----\nFrom: Bob\nUnsubscribe here",
        "Sure.\n\nOn Mon, Jan 5, 2026 at 10:00 AM Bob\n<bob@x.com> wrote:\n> To stop emails, unsubscribe",
    ],
)
def test_r9_other_replies_are_left_to_a_human(text):
    assert asks_to_unsubscribe(text) is False


def test_r9_own_words_drop_quotes_and_signature():
    assert own_words("Hi\n> quoted\nthere\n-- \nBob\nunsubscribe").strip() == "Hi\nthere"
