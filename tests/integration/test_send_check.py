"""R4: POST /v1/send-check and /v1/send-check/batch -- the answer before every send."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.integration.conftest import Api

EMAIL = "ann@example.com"
PHONE = "+14155552671"


def check(api: Api, **body: Any) -> dict[str, Any]:
    status, answer = api.post("/v1/send-check", body)
    assert status == 200, answer
    return answer


def put_enrollment(workspace_id: str, sequence_id: str, contact_id: str, status: str) -> None:
    """Enrollment items as the enrollment routes store them (pk <ws>#<sequence>, sk contact)."""
    from chalicelib.store import keys
    from chalicelib.store.aws import client
    from chalicelib.store.items import to_item

    client("dynamodb").put_item(
        TableName=os.environ["OPTOUT_ENROLLMENTS_TABLE"],
        Item=to_item(
            {
                "pk": keys.enrollment_pk(workspace_id, sequence_id),
                "sk": contact_id,
                "contact_id": contact_id,
                "sequence_id": sequence_id,
                "status": status,
                "ws": workspace_id,
            }
        ),
    )


@pytest.fixture()
def contact(api: Api) -> Api:
    assert api.put("/v1/contacts/c1", {"email": EMAIL, "phone": PHONE})[0] == 200
    return api


def test_r4_clean_contact_is_allowed_in_the_api_md_shape(contact: Api):
    answer = check(contact, contact_id="c1", channel="email")
    assert answer == {"allowed": True, "dnd_status": "off", "blocked_by": [], "warnings": []}


def test_r4_opt_out_is_visible_to_the_very_next_check(contact: Api):
    # Given a check that passed (and so warmed every cache)
    assert check(contact, contact_id="c1", channel="sms")["allowed"] is True
    # When the contact opts out of SMS
    opt_out = {"contact_id": "c1", "channel": "sms", "action": "enable", "source": "user"}
    assert contact.post("/v1/dnd", opt_out)[0] == 200
    # Then the very next check is blocked, by contact and by raw phone
    answer = check(contact, contact_id="c1", channel="sms")
    assert answer["allowed"] is False
    assert answer["dnd_status"] == "partial"
    assert answer["blocked_by"] == [{"type": "dnd", "channel": "sms", "reason": "manual", "kind": "temporary"}]
    assert check(contact, phone="(415) 555-2671", channel="sms")["allowed"] is False
    # And a clear is just as immediate
    contact.post("/v1/dnd", {"contact_id": "c1", "channel": "sms", "action": "disable", "source": "user"})
    assert check(contact, contact_id="c1", channel="sms")["allowed"] is True


def test_r4_manual_and_automated_modes(contact: Api):
    contact.post("/v1/dnd", {"contact_id": "c1", "channel": "email", "action": "enable", "source": "user"})
    assert check(contact, contact_id="c1", channel="email", mode="automated")["allowed"] is False
    assert check(contact, contact_id="c1", channel="email", mode="manual")["allowed"] is False
    contact.patch("/v1/settings", {"manual_sends_respect_dnd": False})
    manual = check(contact, contact_id="c1", channel="email", mode="manual")
    assert manual["allowed"] is True and manual["warnings"] == ["do_not_contact"]
    automated = check(contact, contact_id="c1", channel="email")  # mode defaults to automated
    assert automated["allowed"] is False and automated["blocked_by"][0]["type"] == "dnd"


def test_r3_raw_email_and_phone_checks(api: Api):
    # Given suppressions by raw address only (no contact exists)
    api.post("/v1/dnd", {"email": EMAIL, "channel": "email", "action": "enable", "source": "user"})
    api.post("/v1/dnd", {"phone": PHONE, "channel": "call", "action": "enable", "source": "user"})
    # Then checks by any spelling of those addresses see them
    assert check(api, email=" ANN@Example.com", channel="email")["allowed"] is False
    assert check(api, phone="415-555-2671", channel="call")["allowed"] is False
    assert check(api, phone=PHONE, channel="sms")["allowed"] is True
    assert check(api, email="other@example.com", channel="email")["allowed"] is True


def test_r4_sequence_send_needs_an_active_enrollment(contact: Api):
    ws = contact.workspace_id
    blocked = check(contact, contact_id="c1", channel="email", sequence_id="s1")
    assert blocked["allowed"] is False
    assert blocked["blocked_by"] == [{"type": "enrollment", "reason": "not_enrolled"}]
    put_enrollment(ws, "s1", "c1", "active")
    assert check(contact, contact_id="c1", channel="email", sequence_id="s1")["allowed"] is True
    # An unenrollment stops already-queued sends at once
    put_enrollment(ws, "s1", "c1", "unenrolled")
    answer = check(contact, contact_id="c1", channel="email", sequence_id="s1")
    assert answer["blocked_by"] == [{"type": "enrollment", "reason": "unenrolled"}]


def test_r4_every_blocking_reason_is_listed(contact: Api):
    contact.post("/v1/dnd", {"contact_id": "c1", "channel": "email", "action": "enable", "source": "user"})
    answer = check(contact, contact_id="c1", channel="email", sequence_id="s1")
    assert [b["type"] for b in answer["blocked_by"]] == ["dnd", "enrollment"]


# --- batch -----------------------------------------------------------------------------------


def test_r4_batch_answers_in_order(contact: Api):
    contact.put("/v1/contacts/c2", {"email": "bob@example.com"})
    contact.post("/v1/dnd", {"contact_id": "c2", "channel": "email", "action": "enable", "source": "user"})
    checks = [
        {"contact_id": "c1", "channel": "email"},
        {"contact_id": "c2", "channel": "email"},
        {"contact_id": "ghost", "channel": "email"},
        {"email": "bob@example.com", "channel": "email"},
        {"phone": PHONE, "channel": "sms"},
        {"contact_id": "c1", "channel": "email", "sequence_id": "s1"},
    ]
    status, body = contact.post("/v1/send-check/batch", {"checks": checks})
    assert status == 200, body
    results = body["results"]
    assert len(results) == len(checks)
    assert [r["allowed"] for r in results] == [True, False, False, False, True, False]
    assert results[1]["blocked_by"][0]["type"] == "dnd"
    assert results[2]["error"] == "contact_not_found"
    assert results[5]["blocked_by"] == [{"type": "enrollment", "reason": "not_enrolled"}]


def test_r4_batch_of_100_is_accepted_and_101_is_422(contact: Api):
    hundred = [{"contact_id": f"c{i}", "channel": "email"} for i in range(100)]
    status, body = contact.post("/v1/send-check/batch", {"checks": hundred})
    assert status == 200 and len(body["results"]) == 100
    one_more = [*hundred, {"contact_id": "c1", "channel": "email"}]
    status, body = contact.post("/v1/send-check/batch", {"checks": one_more})
    assert status == 422
    assert "checks" in body["fields"]


def test_r4_batch_same_contact_many_times(contact: Api):
    checks = [{"contact_id": "c1", "channel": c} for c in ("email", "sms", "call", "email")]
    status, body = contact.post("/v1/send-check/batch", {"checks": checks})
    assert status == 200 and [r["allowed"] for r in body["results"]] == [True] * 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "checks"),
        ({"checks": []}, "checks"),
        ({"checks": {"contact_id": "c1"}}, "checks"),
        ({"checks": ["c1"]}, "checks[0]"),
        (
            {"checks": [{"contact_id": "c1", "channel": "email"}, {"contact_id": "c1", "channel": "fax"}]},
            "checks[1].channel",
        ),
        (
            {"checks": [{"contact_id": "c1", "channel": "email"}, {"email": "bad", "channel": "email"}]},
            "checks[1].email",
        ),
    ],
)
def test_r14_bad_batch_is_422_naming_the_item(contact: Api, body, field):
    status, answer = contact.post("/v1/send-check/batch", body)
    assert status == 422, answer
    assert field in answer["fields"], answer


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contact_id": "c1", "channel": "fax"}, "channel"),
        ({"contact_id": "c1", "channel": "all"}, "channel"),
        ({"contact_id": "c1"}, "channel"),
        ({"contact_id": "c1", "channel": "email", "mode": "robot"}, "mode"),
        ({"email": "not-an-email", "channel": "email"}, "email"),
        ({"phone": "12", "channel": "sms"}, "phone"),
        ({"channel": "email"}, "contact_id"),
        # R16: contact_id may come with the address the send uses -- the channel's own kind
        ({"contact_id": "c1", "email": EMAIL, "channel": "sms"}, "phone"),
        ({"contact_id": "c1", "email": "not-an-email", "channel": "email"}, "email"),
        ({"contact_id": "bad id", "channel": "email"}, "contact_id"),
        ({"contact_id": 17, "channel": "email"}, "contact_id"),
        ({"email": EMAIL, "channel": "sms"}, "channel"),
        ({"phone": PHONE, "channel": "facebook"}, "channel"),
        ({"email": EMAIL, "channel": "email", "sequence_id": "s1"}, "sequence_id"),
        ({"contact_id": "c1", "channel": "email", "sequence_id": "a#b"}, "sequence_id"),
        ({"contact_id": "c1", "channel": "email", "audience_id": ""}, "audience_id"),
    ],
)
def test_r14_bad_check_is_422_naming_the_field(contact: Api, body, field):
    status, answer = contact.post("/v1/send-check", body)
    assert status == 422, answer
    assert answer["error"] == "validation_error"
    assert field in answer["fields"], answer


def test_r14_unknown_contact_is_404(api: Api):
    status, body = api.post("/v1/send-check", {"contact_id": "ghost", "channel": "email"})
    assert status == 404
    assert body["fields"] == {"contact_id": "no such contact"}


def test_r14_other_workspaces_contact_is_not_found(contact: Api, other_api: Api):
    # Given c1 exists only in the first workspace
    status, body = other_api.post("/v1/send-check", {"contact_id": "c1", "channel": "email"})
    assert status == 404
    status, body = other_api.post("/v1/send-check/batch", {"checks": [{"contact_id": "c1", "channel": "email"}]})
    assert status == 200 and body["results"][0]["error"] == "contact_not_found"


def test_r14_deleted_contact_is_not_found(contact: Api):
    contact.delete("/v1/contacts/c1")
    assert contact.post("/v1/send-check", {"contact_id": "c1", "channel": "email"})[0] == 404


@pytest.mark.parametrize("path", ["/v1/send-check", "/v1/send-check/batch"])
@pytest.mark.parametrize("raw", ["{", "[]", "null", "7", ""])
def test_r14_malformed_json_is_400(api: Api, path, raw):
    status, body = api.call("POST", path, raw=raw)
    assert status == 400, body
    assert body["error"] == "invalid_json"
    assert "body" in body["fields"]


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer ", "Basic abc", "Bearer wrong-key", "token"])
def test_r14_missing_or_bad_auth_is_401(api: Api, header):
    headers = {"Authorization": header} if header is not None else {}
    status, body = api.call("POST", "/v1/send-check", {"email": EMAIL, "channel": "email"}, key=None, headers=headers)
    assert status == 401, body
    assert body["error"] == "unauthorized"
    assert set(body) >= {"error", "message", "fields"}
