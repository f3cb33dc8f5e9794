"""R15: the contact's own words recorded by a team member (POST /v1/dnd source contact), free-text
reasons, and manual sends that never bypass the contact -- through HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import Api

EMAIL = "ann@example.com"
PHONE = "+14155552671"


@pytest.fixture()
def contact(api: Api) -> Api:
    assert api.put("/v1/contacts/c1", {"email": EMAIL, "phone": PHONE})[0] == 200
    return api


def dnd(api: Api, **body: Any) -> tuple[int, Any]:
    return api.post("/v1/dnd", {"contact_id": "c1", "channel": "call", "action": "enable", **body})


def audit(api: Api) -> list[dict[str, Any]]:
    status, body = api.get("/v1/audit?contact_id=c1")
    assert status == 200, body
    return body["entries"]


def test_r15_rep_records_contact_opt_out_heard_on_the_phone_as_permanent(contact: Api):
    # Given a rep who heard "don't call me" on a call
    status, body = dnd(contact, source="contact", actor="rep-7", via="dialer", reason="asked by phone")
    # Then the entry is permanent, source contact, with the free-text reason
    assert status == 200, body
    entry = body["dnd"]["outbound"]["call"]
    assert (entry["kind"], entry["source"], entry["reason"], entry["actor"]) == (
        "permanent",
        "contact",
        "asked by phone",
        "rep-7",
    )
    assert body["do_not_contact"] is True  # the contact's own opt-out
    # And the audit entry says who heard it and how
    (entry,) = audit(contact)
    assert (entry["source"], entry["actor"], entry["via"], entry["kind"]) == ("contact", "rep-7", "dialer", "permanent")


def test_r15_contact_entry_is_cleared_only_with_evidence(contact: Api):
    dnd(contact, source="contact", actor="rep-7", via="phone")
    # When a workflow or a user without evidence clears it / Then 409 permanent_dnd
    for source in ("workflow", "user"):
        status, body = contact.post(
            "/v1/dnd", {"contact_id": "c1", "channel": "call", "action": "disable", "source": source}
        )
        assert status == 409 and body["error"] == "permanent_dnd", body
    # And a user with the contact's opt-in evidence can
    status, body = contact.post(
        "/v1/dnd",
        {"contact_id": "c1", "channel": "call", "action": "disable", "source": "user", "evidence": "re-opt-in call 12"},
    )
    assert status == 200 and body["dnd"]["outbound"]["call"] is None, body


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"source": "contact"}, {"actor", "via"}),
        ({"source": "contact", "actor": "rep-7"}, {"via"}),
        ({"source": "contact", "via": "phone"}, {"actor"}),
        ({"source": "contact", "actor": "rep-7", "via": "fax"}, {"via"}),
        ({"source": "user", "via": "phone"}, {"via"}),
        ({"source": "contact", "actor": "rep-7", "via": "phone", "action": "disable"}, {"source"}),
        ({"source": "user", "reason": "x" * 501}, {"reason"}),
        ({"source": "contact", "actor": "r", "via": "letter", "evidence": "y" * 501}, {"evidence"}),
        ({"source": "user", "reason": "   "}, {"reason"}),
        ({"source": "user", "reason": "bad\u0000text"}, {"reason"}),
    ],
)
def test_r15_bad_contact_source_input_is_422_naming_the_field_and_writes_nothing(contact: Api, body, fields):
    status, answer = dnd(contact, **body)
    assert status == 422, answer
    assert fields <= set(answer["fields"]), answer
    assert audit(contact) == []


def test_r15_reason_and_evidence_are_free_text_up_to_500_characters(contact: Api):
    reason = "Asked by phone: \u00ab ne m'appelez plus \u00bb " + "x" * 460
    status, body = dnd(contact, source="contact", actor="rep-7", via="letter", reason=reason[:500], evidence="e" * 500)
    assert status == 200, body
    assert audit(contact)[0]["reason"] == reason[:500]
    status, body = dnd(contact, source="user", reason="asked by phone")
    assert status == 200, body


def check(api: Api, channel: str) -> dict[str, Any]:
    status, answer = api.post("/v1/send-check", {"contact_id": "c1", "channel": channel, "mode": "manual"})
    assert status == 200, answer
    return answer


def test_r15_manual_sends_never_bypass_the_contact(contact: Api):
    # Given a workspace letting manual sends through DND
    assert contact.patch("/v1/settings", {"manual_sends_respect_dnd": False})[0] == 200
    # And a team entry on email and the contact's own words on call
    assert dnd(contact, channel="email", source="user")[0] == 200
    assert dnd(contact, source="contact", actor="rep-7", via="phone")[0] == 200
    # Then a manual email is allowed with the warning, a manual call is blocked
    email = check(contact, "email")
    assert email["allowed"] is True and email["warnings"] == ["do_not_contact"]
    call = check(contact, "call")
    assert call["allowed"] is False and call["blocked_by"][0]["reason"] == "contact_request"
