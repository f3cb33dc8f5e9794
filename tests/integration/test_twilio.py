"""R6/R7: Twilio inbound SMS keywords and delivery-status callbacks, signature-checked.

Bodies are the real-shaped samples in events/ (form-encoded, as Twilio posts them), signed the
way Twilio signs: OPTOUT_PUBLIC_URL + path + sorted parameters, with the workspace's auth token.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from tests.integration.conftest import AUTH_TOKEN, PHONE, PUBLIC_URL, Api, compute_signature, sample


def audit(api: Api, **query: str) -> list[dict[str, Any]]:
    status, body = api.get("/v1/audit?" + urlencode(query or {"phone": PHONE}))
    assert status == 200, body
    return body["entries"]


SMS_CLEAR = {"phone": PHONE, "channel": "sms", "action": "disable", "source": "user"}


def sms_allowed(api: Api, **target: str) -> bool:
    status, body = api.post("/v1/send-check", {**(target or {"phone": PHONE}), "channel": "sms"})
    assert status == 200, body
    return body["allowed"]


# --- R6 inbound keywords ----------------------------------------------------------------------------


def test_r6_stop_sets_permanent_sms_dnd_from_the_contact_and_redelivery_adds_nothing(twilio):
    # When Twilio posts the STOP sample
    status, body, headers = twilio.sms("twilio-sms-stop.txt")
    # Then it answers TwiML
    assert status == 200 and headers["Content-Type"].startswith("text/xml")
    assert body.startswith("<?xml") and "<Response" in body
    # And SMS is blocked on the very next check, for the address and the contact holding it
    assert not sms_allowed(twilio.api)
    assert not sms_allowed(twilio.api, contact_id="c1")
    status, check = twilio.api.post("/v1/send-check", {"contact_id": "c1", "channel": "email"})
    assert check["allowed"]  # only SMS
    entries = audit(twilio.api)
    assert [(e["action"], e["channel"], e["source"], e["reason"], e["kind"]) for e in entries] == [
        ("enabled", "sms", "contact", "sms_stop", "permanent")
    ]
    # When Twilio redelivers the same MessageSid
    assert twilio.sms("twilio-sms-stop.txt")[0] == 200
    # Then no second audit entry
    assert audit(twilio.api) == entries


@pytest.mark.parametrize("word", ["stopall", "Unsubscribe.", " CANCEL ", "end", "Quit!", "revoke", "OPTOUT", "opt out"])
def test_r6_every_stop_family_keyword_opts_out(twilio, word):
    assert twilio.sms("twilio-sms-stop.txt", changes={"Body": word, "MessageSid": "SM" + "1" * 32})[0] == 200
    assert not sms_allowed(twilio.api)


def test_r6_start_clears_keyword_dnd_but_not_other_reasons(twilio):
    # Given STOP, and a manual SMS DND by a user
    assert twilio.sms("twilio-sms-stop.txt")[0] == 200
    assert twilio.api.post("/v1/dnd", {**SMS_CLEAR, "action": "enable"})[0] == 200
    # When the person texts START
    assert twilio.sms("twilio-sms-start.txt")[0] == 200
    # Then the keyword opt-out is cleared by the contact, the manual entry stays
    entries = audit(twilio.api)
    assert ("disabled", "contact", "sms_stop") in {(e["action"], e["source"], e["reason"]) for e in entries}
    status, view = twilio.api.get("/v1/contacts/c1")
    assert view["dnd"]["outbound"]["sms"]["reasons"] == ["manual"]
    # When the user clears the manual entry, SMS is allowed again
    assert twilio.api.post("/v1/dnd", SMS_CLEAR)[0] == 200
    assert sms_allowed(twilio.api)


def test_r6_start_clears_a_21610_carrier_block_too(twilio):
    params = sample("twilio-status-30004.txt", ErrorCode="21610", MessageSid="SM" + "2" * 32)
    assert twilio.post("status", params)[0] == 200
    assert not sms_allowed(twilio.api)
    assert twilio.sms("twilio-sms-start.txt", changes={"Body": "YES"})[0] == 200
    assert sms_allowed(twilio.api)


def test_r6_help_replies_with_the_workspace_help_text_escaped(twilio):
    assert twilio.api.patch("/v1/settings", {"sms_help_text": "Acme <help> & support: reply STOP"})[0] == 200
    status, body, headers = twilio.sms("twilio-sms-help.txt")
    assert status == 200 and headers["Content-Type"].startswith("text/xml")
    assert "<Message>Acme &lt;help&gt; &amp; support: reply STOP</Message>" in body
    assert audit(twilio.api) == [] and sms_allowed(twilio.api)


def test_r6_a_revocation_in_free_text_is_flagged_once_not_applied(twilio):
    # R15: with sms_revocation_phrases "flag" a clear revocation is a flag, not an opt-out
    assert twilio.api.patch("/v1/settings", {"sms_revocation_phrases": "flag"})[0] == 200
    changes = {"Body": "Please stop texting me", "MessageSid": "SM" + "3" * 32}
    assert twilio.sms("twilio-sms-stop.txt", changes=changes)[0] == 200
    assert twilio.sms("twilio-sms-stop.txt", changes=changes)[0] == 200  # redelivered
    assert sms_allowed(twilio.api)
    assert [(e["action"], e["source"], e["reason"]) for e in audit(twilio.api)] == [
        ("flagged", "contact", "revocation_candidate")
    ]


def test_r6_ordinary_replies_change_nothing(twilio):
    assert twilio.sms("twilio-sms-stop.txt", changes={"Body": "Sounds good, talk Tuesday"})[0] == 200
    assert audit(twilio.api) == [] and sms_allowed(twilio.api)


# --- signatures -------------------------------------------------------------------------------------


def test_r6_forged_or_tampered_requests_get_403_and_change_nothing(twilio, other_api):
    params = sample("twilio-sms-stop.txt")
    path_url = f"{PUBLIC_URL}/v1/webhooks/twilio/{twilio.workspace_id}/sms"
    cases = [
        {"signature": None},  # unsigned
        {"signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="},  # garbage
        {"signature": compute_signature(path_url, params, "someone-elses-token")},  # wrong account
        {"signature": compute_signature(path_url, sample("twilio-sms-help.txt"), AUTH_TOKEN)},  # other body
    ]
    for case in cases:
        assert twilio.post("sms", params, **case)[0] == 403
    # a valid signature for workspace A replayed against workspace B (no Twilio token there)
    signed_for_a = compute_signature(path_url, params, AUTH_TOKEN)
    assert twilio.post("sms", params, signature=signed_for_a, workspace_id=other_api.workspace_id)[0] == 403
    assert twilio.post("sms", params, signature=signed_for_a, workspace_id="ws-unknown")[0] == 403
    assert audit(twilio.api) == [] and sms_allowed(twilio.api)


def test_r6_signature_covers_the_public_url_not_the_local_host(twilio):
    params = sample("twilio-sms-stop.txt")
    wrong_base = compute_signature(
        f"http://localhost:8000/v1/webhooks/twilio/{twilio.workspace_id}/sms", params, AUTH_TOKEN
    )
    assert twilio.post("sms", params, signature=wrong_base)[0] == 403
    assert sms_allowed(twilio.api)


# --- R7 status callbacks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("30004", "permanent"),
        ("21610", "permanent"),
        ("30003", "temporary"),
        ("30005", "temporary"),
        ("30006", "temporary"),
    ],
)
def test_r7_carrier_errors_set_sms_dnd_from_the_system(twilio, code, kind):
    params = sample("twilio-status-30004.txt", ErrorCode=code)
    status, _, _ = twilio.post("status", params)
    assert status == 200
    assert not sms_allowed(twilio.api)
    entries = audit(twilio.api)
    assert [(e["channel"], e["source"], e["reason"], e["kind"]) for e in entries] == [
        ("sms", "system", f"carrier_{code}", kind)
    ]
    # redelivery of the same callback adds nothing
    assert twilio.post("status", params)[0] == 200
    assert audit(twilio.api) == entries


@pytest.mark.parametrize("code", ["", "30007", "30008", "21211"])
def test_r7_other_outcomes_change_nothing(twilio, code):
    params = sample("twilio-status-30004.txt", ErrorCode=code, MessageStatus="delivered" if not code else "failed")
    assert twilio.post("status", params)[0] == 200
    assert audit(twilio.api) == [] and sms_allowed(twilio.api)


def test_r7_temporary_carrier_block_is_clearable_by_a_user_permanent_is_not(twilio):
    assert twilio.post("status", sample("twilio-status-30004.txt", ErrorCode="30003"))[0] == 200
    assert twilio.api.post("/v1/dnd", SMS_CLEAR)[0] == 200
    assert sms_allowed(twilio.api)
    assert twilio.post("status", sample("twilio-status-30004.txt"))[0] == 200  # 30004
    status, body = twilio.api.post("/v1/dnd", SMS_CLEAR)
    assert status == 409 and body["error"] == "permanent_dnd"
    assert not sms_allowed(twilio.api)


def test_r7_forged_status_callback_gets_403(twilio):
    assert twilio.post("status", sample("twilio-status-30004.txt"), signature="bogus")[0] == 403
    assert audit(twilio.api) == [] and sms_allowed(twilio.api)
