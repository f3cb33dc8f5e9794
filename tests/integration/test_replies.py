"""Replies to sequences (R9) through POST /v1/replies."""

from __future__ import annotations


def contact(api, contact_id, company=None):
    body = {"email": f"{contact_id}@{company or 'example.com'}"}
    if company:
        body["company_domain"] = company
    status, created = api.put(f"/v1/contacts/{contact_id}", body)
    assert status == 200, created


def enroll(api, sequence_id, contact_id):
    status, body = api.post(f"/v1/sequences/{sequence_id}/enrollments", {"contact_id": contact_id})
    assert status == 201, body


def active(api, sequence_id):
    return sorted(
        e["contact_id"] for e in api.get(f"/v1/sequences/{sequence_id}/enrollments?status=active")[1]["enrollments"]
    )


def reply(api, contact_id, sequence_id, body="Thanks, let's talk next week."):
    status, answer = api.post("/v1/replies", {"contact_id": contact_id, "sequence_id": sequence_id, "body": body})
    assert status == 200, answer
    return answer


def email_dnd(api, contact_id):
    return api.get(f"/v1/contacts/{contact_id}")[1]["dnd"]["outbound"]["email"]


def test_r9_reply_unenrolls_only_that_contact_from_that_sequence(api):
    # Given two coworkers in s1, and the replier also in s2
    contact(api, "ann", "acme.com")
    contact(api, "bob", "acme.com")
    for contact_id in ("ann", "bob"):
        enroll(api, "s1", contact_id)
    enroll(api, "s2", "ann")
    # When ann replies to s1
    answer = reply(api, "ann", "s1")
    # Then only ann leaves only s1, and she is not opted out
    assert answer == {"unenrolled": ["ann"], "opted_out": False, "unsubscribe_intent": False}
    assert active(api, "s1") == ["bob"]
    assert active(api, "s2") == ["ann"]
    assert email_dnd(api, "ann") is None
    # And a repeated delivery of the reply changes nothing
    assert reply(api, "ann", "s1")["unenrolled"] == []


def test_r9_reply_unenrolls_the_company_when_the_sequence_says_so(api):
    api.put("/v1/sequences/s1", {"unenroll_company_on_reply": True})
    for contact_id in ("ann", "bob", "cy"):
        contact(api, contact_id, "acme.com")
    contact(api, "dee", "other.com")
    for contact_id in ("ann", "bob", "cy", "dee"):
        enroll(api, "s1", contact_id)
    enroll(api, "s2", "bob")
    answer = reply(api, "ann", "s1")
    assert answer["unenrolled"] == ["ann", "bob", "cy"]
    assert active(api, "s1") == ["dee"]
    assert active(api, "s2") == ["bob"]  # only that sequence


def test_r9_unsubscribe_reply_opts_out_of_email_permanently(api):
    contact(api, "ann")
    enroll(api, "s1", "ann")
    enroll(api, "s2", "ann")
    # When the reply asks to be removed
    answer = reply(api, "ann", "s1", "Please remove me from your list.\n\nOn Mon, Bob wrote:\n> Hi Ann")
    # Then she is opted out of email by her own request (permanent, source contact) ...
    assert answer["opted_out"] is True and answer["unenrolled"] == ["ann"]
    entry = email_dnd(api, "ann")
    assert (entry["reason"], entry["kind"], entry["source"]) == ("reply_unsubscribe", "permanent", "contact")
    verdict = api.post("/v1/send-check", {"contact_id": "ann", "channel": "email"})[1]
    assert verdict["allowed"] is False
    # ... which makes her do-not-contact: she leaves every sequence
    assert active(api, "s2") == []
    # And the audit has one entry even if the reply is delivered again
    reply(api, "ann", "s1", "Please remove me from your list.\n\nOn Mon, Bob wrote:\n> Hi Ann")
    entries = api.get("/v1/audit?contact_id=ann")[1]["entries"]
    assert [e["reason"] for e in entries] == ["reply_unsubscribe"]


def test_r9_setting_off_leaves_the_unsubscribe_reply_to_a_human(api):
    api.patch("/v1/settings", {"reply_unsubscribe_opts_out": False})
    contact(api, "ann")
    enroll(api, "s1", "ann")
    answer = reply(api, "ann", "s1", "unsubscribe")
    flag_id = answer.pop("flag_id")  # R15: "left to a human" is a flag the human sees at GET /v1/flags
    assert answer == {"unenrolled": ["ann"], "opted_out": False, "unsubscribe_intent": True}
    assert email_dnd(api, "ann") is None
    assert [f["flag_id"] for f in api.get("/v1/flags")[1]["flags"]] == [flag_id]


def test_r9_quoted_unsubscribe_footer_is_not_an_opt_out(api):
    contact(api, "ann")
    enroll(api, "s1", "ann")
    answer = reply(api, "ann", "s1", "Yes please send the deck.\n> To stop these emails, unsubscribe here")
    assert answer["opted_out"] is False
    assert email_dnd(api, "ann") is None


def test_r9_invalid_replies(api):
    assert api.post("/v1/replies", {"contact_id": "ghost", "sequence_id": "s1", "body": "hi"})[0] == 404
    status, body = api.post("/v1/replies", {"contact_id": "ann", "body": "hi"})
    assert status == 422 and "sequence_id" in body["fields"]
    status, body = api.post("/v1/replies", {"contact_id": "a b", "sequence_id": "s1", "body": "hi"})
    assert status == 422 and "contact_id" in body["fields"]
