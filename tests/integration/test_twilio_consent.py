"""R15 over Twilio webhooks: keywords in three languages and a workspace's own, OptOutType,
sms_stop_channels, WhatsApp senders, free-text revocations, keyword_replies -- and issue 11.6/11.7
(padded STOP; URLs with a query string). Every request is signed by twilio's RequestValidator."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from tests.integration.conftest import AUTH_TOKEN, PHONE, PUBLIC_URL, Twilio, sample, sid
from tests.integration.test_twilio import audit

STOP_TEXT = "Acme: you are unsubscribed. Reply START to resubscribe."


def allowed(twilio: Twilio, channel: str) -> bool:
    status, body = twilio.api.post("/v1/send-check", {"phone": PHONE, "channel": channel})
    assert status == 200, body
    return body["allowed"]


def text(twilio: Twilio, body: str, n: int = 1, sample_name: str = "twilio-sms-stop.txt", **extra: str):
    return twilio.sms(sample_name, changes={"Body": body, "MessageSid": sid(n), **extra})


@pytest.mark.parametrize(
    "word",
    ["STOP ALL", "Opt-Out", "UNSUB", "remove", "ARRÊT", "arret!", "Alto", "BAJA", "parar", "STOP" + " " * 70],
)
def test_r15_built_in_stop_words_opt_out(twilio, word):
    # When the person texts a STOP-family word (issue 11.6: padded with 70 spaces too)
    status, body, _ = text(twilio, word)
    # Then SMS is blocked and the answer is the one confirmation
    assert status == 200 and "<Message>" in body
    assert not allowed(twilio, "sms")
    assert [(e["action"], e["reason"], e["kind"], e["source"]) for e in audit(twilio.api)] == [
        ("enabled", "sms_stop", "permanent", "contact")
    ]


def test_r15_french_and_spanish_keywords_are_answered_in_their_language_where_set(twilio):
    settings = {
        "sms_stop_text": STOP_TEXT,
        "sms_texts_by_language": {"fr": {"stop": "Acme : vous êtes désabonné."}, "es": {"help": "Acme: ayuda aquí."}},
    }
    assert twilio.api.patch("/v1/settings", settings)[0] == 200
    assert "<Message>Acme : vous êtes désabonné.</Message>" in twilio.sms("twilio-sms-arret.txt")[1]
    assert "<Message>Acme: ayuda aquí.</Message>" in text(twilio, "AYUDA", 2)[1]
    # Spanish STOP without a Spanish text: the default text
    assert f"<Message>{STOP_TEXT}</Message>" in text(twilio, "BAJA", 3)[1]
    assert f"<Message>{STOP_TEXT}</Message>" in text(twilio, "STOP", 4)[1]


def test_r15_workspace_keywords_per_class(twilio):
    keywords = {"opt_out": ["leave me be"], "opt_in": ["resume"], "help": ["support"]}
    status, view = twilio.api.patch("/v1/settings", {"sms_keywords": keywords})
    assert status == 200 and view["sms_keywords"]["opt_out"] == ["LEAVE ME BE"], view
    text(twilio, "Leave-me be!", 1)
    assert not allowed(twilio, "sms")
    text(twilio, "Resume", 2)
    assert allowed(twilio, "sms")
    assert "Reply STOP" in text(twilio, "support", 3)[1]


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"sms_keywords": {"opt_out": ["YES"]}}, "sms_keywords"),  # a built-in opt-in word
        ({"sms_keywords": {"opt_out": ["x" * 65]}}, "sms_keywords.opt_out"),
        ({"sms_keywords": {"stop": ["X"]}}, "sms_keywords.stop"),
        ({"sms_stop_channels": ["call"]}, "sms_stop_channels"),  # STOP always covers SMS
        ({"sms_stop_channels": ["sms", "email"]}, "sms_stop_channels.1"),
        ({"sms_revocation_phrases": "sometimes"}, "sms_revocation_phrases"),
        ({"keyword_replies": "both"}, "keyword_replies"),
        ({"sms_stop_text": ""}, "sms_stop_text"),
        ({"sms_texts_by_language": {"de": {"stop": "Halt"}}}, "sms_texts_by_language.de.[key]"),
    ],
)
def test_r15_bad_consent_settings_are_422_naming_the_field(twilio, settings, field):
    status, body = twilio.api.patch("/v1/settings", settings)
    assert status == 422 and field in body["fields"], body


def test_r15_twilio_opt_out_type_decides_the_class(twilio):
    # Given Twilio Advanced Opt-Out matched "Stop please" as STOP
    assert twilio.sms("twilio-sms-advanced-opt-out.txt")[0] == 200
    assert not allowed(twilio, "sms")
    # And a START typed type clears it whatever the words
    assert text(twilio, "ok go", 2, OptOutType="START")[0] == 200
    assert allowed(twilio, "sms")


def test_r15_sms_stop_channels_decide_what_a_stop_covers(twilio):
    assert twilio.api.patch("/v1/settings", {"sms_stop_channels": ["sms", "call", "whatsapp"]})[0] == 200
    text(twilio, "STOP")
    assert not allowed(twilio, "sms") and not allowed(twilio, "call") and not allowed(twilio, "whatsapp")
    text(twilio, "START", 2)
    assert allowed(twilio, "sms") and allowed(twilio, "call") and allowed(twilio, "whatsapp")


def test_r15_default_stop_covers_sms_only(twilio):
    text(twilio, "STOP")
    assert not allowed(twilio, "sms") and allowed(twilio, "call") and allowed(twilio, "whatsapp")


def test_r15_whatsapp_stop_applies_to_the_whatsapp_channel_of_that_number(twilio):
    # When the WhatsApp sample (From: whatsapp:+1...) says STOP
    status, body, _ = twilio.sms("twilio-sms-whatsapp-stop.txt")
    assert status == 200 and "<Message>" in body
    # Then WhatsApp is blocked for that number, SMS is not
    assert not allowed(twilio, "whatsapp") and allowed(twilio, "sms")
    assert [(e["channel"], e["reason"]) for e in audit(twilio.api)] == [("whatsapp", "sms_stop")]
    # And a WhatsApp revocation phrase too, redelivery adds nothing
    twilio.sms("twilio-sms-whatsapp-stop.txt")
    assert len(audit(twilio.api)) == 1


def test_r15_clear_revocation_phrase_opts_out_and_start_clears_it(twilio):
    # When the person writes a clear revocation
    status, body, _ = twilio.sms("twilio-sms-revocation.txt")
    assert status == 200 and "<Message>" in body  # the one confirmation
    # Then it opts out like STOP, reason revocation_phrase; a redelivery adds nothing
    twilio.sms("twilio-sms-revocation.txt")
    assert not allowed(twilio, "sms")
    assert [(e["action"], e["reason"], e["kind"], e["source"]) for e in audit(twilio.api)] == [
        ("enabled", "revocation_phrase", "permanent", "contact")
    ]
    # And the person's own START clears it
    text(twilio, "START", 9)
    assert allowed(twilio, "sms")


@pytest.mark.parametrize("body", ["not interested", "Who is this?", "stop texting me until Monday"])
def test_r15_ambiguous_messages_are_flags_not_opt_outs(twilio, body):
    status, answer, _ = text(twilio, body)
    assert status == 200 and "<Message>" not in answer
    assert allowed(twilio, "sms")
    assert [(e["action"], e["reason"]) for e in audit(twilio.api)] == [("flagged", "revocation_candidate")]


@pytest.mark.parametrize("body", ["don't stop", "stop by tomorrow?", "can you stop by", "I'll stop at the store"])
def test_r15_ordinary_messages_change_nothing(twilio, body):
    assert text(twilio, body)[0] == 200
    assert allowed(twilio, "sms") and audit(twilio.api) == []


def test_r15_keyword_replies_provider_leaves_stop_and_start_to_twilio_but_answers_help(twilio):
    assert twilio.api.patch("/v1/settings", {"keyword_replies": "provider"})[0] == 200
    empty = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    assert text(twilio, "STOP", 1)[1] == empty
    assert not allowed(twilio, "sms")
    assert text(twilio, "START", 2)[1] == empty
    assert "<Message>" in text(twilio, "HELP", 3)[1]


def test_r15_start_is_answered_with_the_start_text(twilio):
    assert twilio.api.patch("/v1/settings", {"sms_start_text": "Welcome back to Acme."})[0] == 200
    assert "<Message>Welcome back to Acme.</Message>" in text(twilio, "UNSTOP")[1]


# --- issue 11.7: the URL Twilio signed has a query string ----------------------------------------


def post_with_query(twilio: Twilio, query: str, signed_query: str | None = None) -> int:
    """POST the STOP sample to <route>?<query>, signed by RequestValidator over the URL as configured
    in Twilio (``signed_query``, default the same query)."""
    path = f"/v1/webhooks/twilio/{twilio.workspace_id}/sms"
    params = sample("twilio-sms-stop.txt")
    url = f"{PUBLIC_URL}{path}?{query if signed_query is None else signed_query}"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, dict(params))
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    response = twilio.api.client.http.request("POST", f"{path}?{query}", headers=headers, body=urlencode(params))
    return response.status_code


@pytest.mark.parametrize("query", ["note=x%20y", "note=x+y", "k=1&k=2", "a=%2Fb%3Fc&z=", "tag=a:b/c,d"])
def test_issue11_7_signed_urls_with_a_query_string_are_accepted(twilio, query):
    assert post_with_query(twilio, query) == 200
    assert not allowed(twilio, "sms")


def test_issue11_7_a_query_other_than_the_signed_one_is_403(twilio):
    assert post_with_query(twilio, "k=1&k=2", signed_query="k=1") == 403
    assert post_with_query(twilio, "note=x%20z", signed_query="note=x%20y") == 403
    assert allowed(twilio, "sms") and audit(twilio.api) == []
