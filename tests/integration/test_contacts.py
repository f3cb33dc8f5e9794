"""R1/R3: contacts are stored normalized, shown with their DND, and erased without losing
their suppressions."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from chalicelib.models.domain import CHANNELS
from tests.integration.conftest import Api
from tests.integration.conftest import scan_table as _scan


def _unique_email() -> str:
    return f"erase-{uuid.uuid4().hex[:10]}@example.com"


def _unique_phone() -> str:
    # +1 415 2xx xxxx: valid US numbers, unique enough per test run.
    return "+1415" + str(2000000 + uuid.uuid4().int % 7999999)


def test_r3_put_normalizes_every_address(api: Api):
    # Given addresses as a CRM might send them
    status, body = api.put(
        "/v1/contacts/c1",
        {
            "email": "  Ann.Smith@Example.COM ",
            "phone": "(415) 555-2671",
            "company_domain": "https://www.Example.com/about",
            "attributes": {"title": "CEO", "score": 1.5, "tags": ["a"]},
        },
    )
    # Then the contact holds their normalized forms
    assert status == 200, body
    assert body["email"] == "ann.smith@example.com"
    assert body["phone"] == "+14155552671"
    assert body["company_domain"] == "example.com"
    assert body["attributes"] == {"title": "CEO", "score": 1.5, "tags": ["a"]}


def test_r1_get_has_the_api_md_shape(api: Api):
    api.put("/v1/contacts/c1", {"email": "ann@example.com"})
    status, body = api.get("/v1/contacts/c1")
    assert status == 200
    assert {"contact_id", "email", "phone", "company_domain", "attributes", "dnd", "do_not_contact"} <= set(body)
    assert body["contact_id"] == "c1"
    assert body["phone"] is None and body["company_domain"] is None and body["attributes"] == {}
    assert body["dnd"] == {"status": "off", "outbound": {c: None for c in CHANNELS}, "inbound": None}
    assert body["do_not_contact"] is False


def test_r1_put_replaces_fields_and_keeps_dnd(api: Api):
    # Given a contact with email DND
    api.put("/v1/contacts/c1", {"email": "ann@example.com", "phone": "+14155552671", "attributes": {"a": 1}})
    api.post("/v1/dnd", {"contact_id": "c1", "channel": "facebook", "action": "enable", "source": "user"})
    # When it is PUT again without phone and attributes
    status, body = api.put("/v1/contacts/c1", {"email": "ann@example.com"})
    # Then those fields are gone but its DND is not reset
    assert status == 200
    assert body["phone"] is None and body["attributes"] == {}
    assert body["dnd"]["outbound"]["facebook"]["reason"] == "manual"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "ann@localhost"}, "email"),
        ({"email": 5}, "email"),
        ({"phone": "12"}, "phone"),
        ({"phone": "+1 (000) 000-0000"}, "phone"),
        ({"phone": 4155552671}, "phone"),
        ({"company_domain": "not a domain"}, "company_domain"),
        ({"company_domain": "localhost"}, "company_domain"),
        ({"attributes": ["x"]}, "attributes"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_r3_invalid_contact_is_422_naming_the_field_and_writes_nothing(api: Api, body, field):
    status, answer = api.put("/v1/contacts/c1", {"email": "ok@example.com", **body})
    assert status == 422, answer
    assert answer["error"] == "validation_error"
    assert field in answer["fields"], answer
    assert api.get("/v1/contacts/c1")[0] == 404


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "attributes",
    [
        {"x": 10**40},  # more digits than DynamoDB numbers hold
        {"x": 1e300},
        {"": 1},  # DynamoDB map keys cannot be empty
        {"x": "y" * 70_000},  # the contact would outgrow its item
        _nested(20),
    ],
)
def test_r14_unstorable_attributes_are_422_not_a_failed_write(api: Api, attributes):
    status, answer = api.put("/v1/contacts/c1", {"attributes": attributes})
    assert status == 422, answer
    assert "attributes" in answer["fields"]
    assert api.get("/v1/contacts/c1")[0] == 404


@pytest.mark.parametrize("raw", ['{"attributes": {"x": NaN}}', '{"attributes": {"x": -Infinity}}'])
def test_r14_non_json_numbers_are_400(api: Api, raw):
    status, answer = api.call("PUT", "/v1/contacts/c1", raw=raw)
    assert status == 400, answer
    assert "body" in answer["fields"]
    assert api.get("/v1/contacts/c1")[0] == 404


def test_storable_attribute_values_round_trip(api: Api):
    attributes = {
        "n": 10**37,
        "f": 0.25,
        "neg": -3,
        "t": True,
        "none": None,
        "list": [1, "a", {"b": []}],
        "deep": _nested(10),
        "empty": "",
    }
    status, body = api.put("/v1/contacts/c1", {"attributes": attributes})
    assert status == 200, body
    assert api.get("/v1/contacts/c1")[1]["attributes"] == {k: v for k, v in attributes.items() if v is not None}


def test_r3_every_invalid_field_is_named_at_once(api: Api):
    status, answer = api.put("/v1/contacts/c1", {"email": "bad", "phone": "12", "company_domain": "x"})
    assert status == 422
    assert set(answer["fields"]) == {"email", "phone", "company_domain"}


def test_r3_invalid_update_leaves_the_existing_contact_unchanged(api: Api):
    api.put("/v1/contacts/c1", {"email": "ann@example.com"})
    assert api.put("/v1/contacts/c1", {"email": "ann@example.com", "phone": "12"})[0] == 422
    assert api.get("/v1/contacts/c1")[1]["email"] == "ann@example.com"


@pytest.mark.parametrize("contact_id", ["a%20b", "a%23b", "x" * 129])
def test_r14_invalid_contact_id_is_422(api: Api, contact_id):
    status, answer = api.put(f"/v1/contacts/{contact_id}", {})
    assert status == 422
    assert "contact_id" in answer["fields"]


def test_unknown_contact_is_404(api: Api):
    status, body = api.get("/v1/contacts/nobody")
    assert status == 404
    assert body["fields"] == {"contact_id": "no such contact"}
    assert api.delete("/v1/contacts/nobody")[0] == 404


def test_r3_delete_is_204_then_404(api: Api):
    api.put("/v1/contacts/c1", {"email": "ann@example.com"})
    assert api.delete("/v1/contacts/c1") == (204, None)
    assert api.get("/v1/contacts/c1")[0] == 404
    assert api.delete("/v1/contacts/c1")[0] == 404


def test_r3_suppression_set_by_raw_address_survives_contact_deletion(api: Api):
    # Given an address suppressed by itself (as a bounce or STOP webhook would)
    email = _unique_email()
    api.put("/v1/contacts/c1", {"email": email})
    status, _ = api.post("/v1/dnd", {"email": email.upper(), "channel": "email", "action": "enable", "source": "user"})
    assert status == 200
    # When the contact is deleted and a NEW contact is created with the same address
    assert api.delete("/v1/contacts/c1")[0] == 204
    api.put("/v1/contacts/c2", {"email": f"  {email} "})
    # Then the new contact is blocked on that channel, and so is the raw address
    status, answer = api.post("/v1/send-check", {"contact_id": "c2", "channel": "email"})
    assert status == 200 and answer["allowed"] is False
    assert answer["blocked_by"][0]["type"] == "dnd"
    assert api.post("/v1/send-check", {"email": email, "channel": "email"})[1]["allowed"] is False
    assert api.get("/v1/contacts/c2")[1]["dnd"]["outbound"]["email"]["reason"] == "manual"


def test_r3_suppression_set_via_contact_survives_deletion(api: Api):
    # Given DND set through the contact on its email and phone channels
    email, phone = _unique_email(), _unique_phone()
    api.put("/v1/contacts/c1", {"email": email, "phone": phone})
    for channel in ("email", "sms"):
        change = {"contact_id": "c1", "channel": channel, "action": "enable", "source": "user"}
        assert api.post("/v1/dnd", change)[0] == 200
    api.delete("/v1/contacts/c1")
    # When a different contact id later holds the same addresses
    api.put("/v1/contacts/c9", {"email": email, "phone": phone})
    # Then both suppressions apply to it
    for channel in ("email", "sms"):
        assert api.post("/v1/send-check", {"contact_id": "c9", "channel": channel})[1]["allowed"] is False
    assert api.post("/v1/send-check", {"contact_id": "c9", "channel": "call"})[1]["allowed"] is True


def test_r3_suppression_applies_to_existing_and_later_contacts_with_the_address(api: Api):
    email = _unique_email()
    api.put("/v1/contacts/early", {"email": email})
    api.post("/v1/dnd", {"email": email, "channel": "email", "action": "enable", "source": "workflow"})
    api.put("/v1/contacts/late", {"email": email.upper()})
    for contact_id in ("early", "late"):
        assert api.post("/v1/send-check", {"contact_id": contact_id, "channel": "email"})[1]["allowed"] is False


def test_r3_after_delete_no_readable_address_remains_in_contacts_dnd_or_audit(api: Api):
    # Given a contact with email + phone, DND set through it and by raw address, with opt-in evidence
    email, phone = _unique_email(), _unique_phone()
    api.put(
        "/v1/contacts/c1",
        {"email": email, "phone": phone, "company_domain": "example.com", "attributes": {"owner_note": email}},
    )
    api.post("/v1/dnd", {"contact_id": "c1", "channel": "all", "action": "enable", "source": "user", "actor": "rep-1"})
    api.post(
        "/v1/dnd", {"phone": phone, "channel": "sms", "direction": "inbound", "action": "enable", "source": "workflow"}
    )
    api.post(
        "/v1/dnd",
        {
            "contact_id": "c1",
            "channel": "email",
            "action": "disable",
            "source": "user",
            "evidence": f"re-opt-in form signed by {email} / {phone}",
        },
    )
    # When the contact is deleted
    assert api.delete("/v1/contacts/c1")[0] == 204
    # Then no table holds the address in any readable form
    national = phone[2:]
    for variable in ("OPTOUT_CONTACTS_TABLE", "OPTOUT_DND_TABLE", "OPTOUT_AUDIT_TABLE"):
        dump = json.dumps(_scan(os.environ[variable])).lower()
        for needle in (email, email.split("@")[0], phone, national):
            assert needle not in dump, (variable, needle)
    # And the suppressions are still there
    api.put("/v1/contacts/c2", {"email": email, "phone": phone})
    view = api.get("/v1/contacts/c2")[1]["dnd"]
    assert view["outbound"]["sms"] is not None and view["inbound"] is not None
    assert view["outbound"]["email"] is None  # it was cleared with evidence before the deletion


def test_r3_company_domain_alone_is_not_an_address_suppression(api: Api):
    api.put("/v1/contacts/c1", {"company_domain": "example.com"})
    status, answer = api.post("/v1/dnd", {"contact_id": "c1", "channel": "email", "action": "enable", "source": "user"})
    # A contact without an email still gets channel DND, kept on the contact itself
    assert status == 200, answer
    assert answer["dnd"]["outbound"]["email"]["reason"] == "manual"
    api.put("/v1/contacts/c1", {"company_domain": "example.com", "email": _unique_email()})
    assert api.post("/v1/send-check", {"contact_id": "c1", "channel": "email"})[1]["allowed"] is False


def test_contacts_need_auth(api: Api):
    assert api.put("/v1/contacts/c1", {"email": "ann@example.com"}, key=None)[0] == 401
    assert api.get("/v1/contacts/c1")[0] == 404
