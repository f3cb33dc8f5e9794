"""R16: the preference center's save changes exactly what the person changed (pure)."""

from __future__ import annotations

from chalicelib.logic.preferences import pair_value, parse_pairs, preference_changes

CURRENT = {"news": {"email": "subscribed", "sms": "unsubscribed"}, "offers": {"email": "subscribed"}}
SHOWN = {("news", "email"), ("news", "sms"), ("offers", "email")}


def test_r16_untouched_boxes_change_nothing():
    ticked = {("news", "email"), ("offers", "email")}
    assert preference_changes(CURRENT, SHOWN, ticked) == {}


def test_r16_an_unticked_box_unsubscribes_and_a_ticked_one_resubscribes():
    ticked = {("news", "sms"), ("offers", "email")}
    assert preference_changes(CURRENT, SHOWN, ticked) == {"news": {"email": "unsubscribed", "sms": "subscribed"}}


def test_r16_boxes_not_shown_or_no_longer_offered_never_change():
    # a topic added after the page was loaded, a ticked value that was never shown, a topic gone since
    current = {**CURRENT, "events": {"email": "subscribed"}}
    shown = {("news", "email"), ("gone", "email")}
    assert preference_changes(current, shown, {("news", "email"), ("offers", "sms")}) == {}


def test_r16_form_values_round_trip_and_junk_is_dropped():
    assert parse_pairs([pair_value("news.v2", "email"), "sms/a:b", "pigeon/x", "email/", "nothing", ""]) == {
        ("news.v2", "email"),
        ("a:b", "sms"),
    }
