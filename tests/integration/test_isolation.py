"""R14: every record belongs to a workspace; nothing crosses workspaces. Workspace B's key
cannot read or change workspace A's contacts, DND, audit or settings on any spine route."""

from __future__ import annotations

import json
import os

from tests.integration.conftest import Api

EMAIL = "shared@example.com"
PHONE = "+14155552671"


def seed(a: Api) -> dict:
    """Workspace A: a contact with DND, audit entries and non-default settings."""
    assert a.put("/v1/contacts/c1", {"email": EMAIL, "phone": PHONE, "attributes": {"secret": "a-only"}})[0] == 200
    assert a.post("/v1/dnd", {"contact_id": "c1", "channel": "email", "action": "enable", "source": "user"})[0] == 200
    assert a.patch("/v1/settings", {"soft_bounce_limit": 9, "sms_help_text": "A's help"})[0] == 200
    return {
        "contact": a.get("/v1/contacts/c1")[1],
        "audit": a.get("/v1/audit?contact_id=c1")[1],
        "settings": a.get("/v1/settings")[1],
    }


def snapshot(a: Api) -> dict:
    return {
        "contact": a.get("/v1/contacts/c1")[1],
        "audit": a.get("/v1/audit?contact_id=c1")[1],
        "settings": a.get("/v1/settings")[1],
    }


def test_r14_other_workspace_cannot_read_contact_dnd_or_audit(api: Api, other_api: Api):
    seed(api)
    status, body = other_api.get("/v1/contacts/c1")
    assert status == 404
    assert "a-only" not in json.dumps(body)
    assert other_api.get("/v1/audit?contact_id=c1")[0] == 404
    # Address-keyed audit: B sees only its own (empty) history of that address
    assert other_api.get(f"/v1/audit?email={EMAIL}") == (200, {"entries": []})
    assert other_api.post("/v1/send-check", {"contact_id": "c1", "channel": "email"})[0] == 404


def test_r14_other_workspace_cannot_change_contact_or_dnd(api: Api, other_api: Api):
    before = seed(api)
    # When B tries every write on A's contact id
    assert other_api.delete("/v1/contacts/c1")[0] == 404
    status, _ = other_api.post(
        "/v1/dnd", {"contact_id": "c1", "channel": "email", "action": "disable", "source": "user"}
    )
    assert status == 404
    status, _ = other_api.post("/v1/dnd", {"contact_id": "c1", "channel": "sms", "action": "enable", "source": "user"})
    assert status == 404
    # Then A's records are exactly as they were
    assert snapshot(api) == before


def test_r14_settings_are_per_workspace(api: Api, other_api: Api):
    before = seed(api)
    assert other_api.get("/v1/settings")[1]["soft_bounce_limit"] == 3
    assert other_api.patch("/v1/settings", {"manual_sends_respect_dnd": False, "soft_bounce_limit": 4})[0] == 200
    assert snapshot(api) == before


def test_r14_same_contact_id_in_two_workspaces_is_independent(api: Api, other_api: Api):
    seed(api)
    # Given B creates its own c1 with a different address
    status, body = other_api.put("/v1/contacts/c1", {"email": "b@example.com"})
    assert status == 200
    assert body["dnd"]["status"] == "off" and body["attributes"] == {}
    # When B sets and clears DND on its c1, and then deletes it
    other_api.post("/v1/dnd", {"contact_id": "c1", "channel": "sms", "action": "enable", "source": "user"})
    assert other_api.post("/v1/send-check", {"contact_id": "c1", "channel": "email"})[1]["allowed"] is True
    assert api.post("/v1/send-check", {"contact_id": "c1", "channel": "sms"})[1]["allowed"] is True
    assert other_api.delete("/v1/contacts/c1")[0] == 204
    # Then A's c1 is untouched
    contact = api.get("/v1/contacts/c1")[1]
    assert contact["email"] == EMAIL and contact["attributes"] == {"secret": "a-only"}
    assert contact["dnd"]["outbound"]["email"] is not None and contact["dnd"]["outbound"]["sms"] is None


def test_r14_same_address_in_two_workspaces_is_suppressed_independently(api: Api, other_api: Api):
    # Given the same person is a contact of both workspaces and opts out of A only
    seed(api)
    other_api.put("/v1/contacts/c7", {"email": EMAIL.upper(), "phone": PHONE})
    # Then B may still send, by contact and by raw address
    assert other_api.post("/v1/send-check", {"contact_id": "c7", "channel": "email"})[1]["allowed"] is True
    assert other_api.post("/v1/send-check", {"email": EMAIL, "channel": "email"})[1]["allowed"] is True
    assert api.post("/v1/send-check", {"email": EMAIL, "channel": "email"})[1]["allowed"] is False
    # And B's clear of its (non-existent) address DND does not touch A's
    other_api.post("/v1/dnd", {"email": EMAIL, "channel": "email", "action": "disable", "source": "user"})
    assert api.post("/v1/send-check", {"email": EMAIL, "channel": "email"})[1]["allowed"] is False


def test_r14_batch_checks_see_only_the_callers_workspace(api: Api, other_api: Api):
    seed(api)
    other_api.put("/v1/contacts/c2", {"email": "b2@example.com"})
    checks = [{"contact_id": "c1", "channel": "email"}, {"contact_id": "c2", "channel": "email"}]
    results = other_api.post("/v1/send-check/batch", {"checks": checks})[1]["results"]
    assert results[0]["error"] == "contact_not_found"
    assert results[1]["allowed"] is True


def test_r14_every_stored_key_starts_with_its_workspace(api: Api, other_api: Api):
    seed(api)
    other_api.put("/v1/contacts/c1", {"email": EMAIL})
    other_api.post("/v1/dnd", {"contact_id": "c1", "channel": "email", "action": "enable", "source": "user"})
    from chalicelib.store.aws import client

    ddb = client("dynamodb")
    for variable in ("OPTOUT_CONTACTS_TABLE", "OPTOUT_DND_TABLE", "OPTOUT_AUDIT_TABLE"):
        for workspace in (api.workspace_id, other_api.workspace_id):
            # Items tagged with the workspace (ws attribute) or keyed under it must be the same set.
            kwargs = {
                "TableName": os.environ[variable],
                "FilterExpression": "ws = :w OR begins_with(pk, :p) OR contains(pk, :w)",
                "ExpressionAttributeValues": {":w": {"S": workspace}, ":p": {"S": workspace + "#"}},
            }
            mine = []
            while True:
                page = ddb.scan(**kwargs)
                mine.extend(page["Items"])
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            assert mine, (variable, workspace)
            assert all(i["pk"]["S"].startswith(workspace + "#") for i in mine), variable


def test_r14_a_key_of_one_workspace_never_authenticates_as_another(api: Api, other_api: Api):
    from chalicelib.services.context import get_services

    keys = get_services().api_keys
    assert keys.workspace_for(api.key) == api.workspace_id
    assert keys.workspace_for(other_api.key) == other_api.workspace_id
    assert keys.workspace_for(api.key + "x") is None


# --- R14 bad input sweep: every spine route, every kind of junk, always a 4xx JSON error ---------

ROUTES = [
    ("PUT", "/v1/contacts/c1"),
    ("GET", "/v1/contacts/c1"),
    ("DELETE", "/v1/contacts/c1"),
    ("POST", "/v1/dnd"),
    ("GET", "/v1/audit?contact_id=c1"),
    ("GET", "/v1/settings"),
    ("PATCH", "/v1/settings"),
    ("POST", "/v1/send-check"),
    ("POST", "/v1/send-check/batch"),
]
BODY_ROUTES = [route for route in ROUTES if route[0] in ("PUT", "POST", "PATCH")]
AUTH_HEADERS = [None, "", "Bearer", "Bearer    ", "bearer", "Basic dXNlcjpwYXNz", "Bearer not-a-key", "oo_nokey"]


def assert_json_4xx(status: int, body: object, *, expected: int | None = None) -> None:
    assert 400 <= status < 500, (status, body)
    if expected is not None:
        assert status == expected, (status, body)
    assert isinstance(body, dict) and {"error", "message", "fields"} <= set(body), body
    assert isinstance(body["fields"], dict)


def test_r14_missing_or_bad_auth_is_401_on_every_route_and_writes_nothing(api: Api):
    for method, path in ROUTES:
        for header in AUTH_HEADERS:
            headers = {} if header is None else {"Authorization": header}
            status, body = api.call(method, path, {"email": EMAIL, "channel": "email"}, key=None, headers=headers)
            assert_json_4xx(status, body, expected=401)
            assert "Authorization" in body["fields"]
    assert api.get("/v1/contacts/c1")[0] == 404
    assert api.get("/v1/settings")[1]["soft_bounce_limit"] == 3


def test_r14_malformed_and_non_object_json_is_400_on_every_body_route(api: Api):
    for method, path in BODY_ROUTES:
        for raw in ("{", '{"a": }', "[1]", '"text"', "42", "true", "null", "", b"\xff\xfe"):
            status, body = api.call(method, path, raw=raw)
            assert_json_4xx(status, body, expected=400)
            assert "body" in body["fields"], (method, path, raw, body)
    assert api.get("/v1/contacts/c1")[0] == 404


def test_r14_wrong_types_are_422_naming_the_field_on_every_body_route(api: Api):
    api.put("/v1/contacts/c1", {"email": EMAIL})
    cases = [
        ("PUT", "/v1/contacts/c1", {"email": ["a"]}, "email"),
        ("PUT", "/v1/contacts/c1", {"phone": {"n": 1}}, "phone"),
        ("PUT", "/v1/contacts/c1", {"company_domain": 3}, "company_domain"),
        ("PUT", "/v1/contacts/c1", {"attributes": "x"}, "attributes"),
        (
            "POST",
            "/v1/dnd",
            {"contact_id": ["c1"], "channel": "email", "action": "enable", "source": "user"},
            "contact_id",
        ),
        ("POST", "/v1/dnd", {"contact_id": "c1", "channel": 1, "action": "enable", "source": "user"}, "channel"),
        ("POST", "/v1/dnd", {"contact_id": "c1", "channel": "email", "action": True, "source": "user"}, "action"),
        (
            "POST",
            "/v1/dnd",
            {"contact_id": "c1", "channel": "email", "action": "disable", "source": "user", "evidence": 5},
            "evidence",
        ),
        ("PATCH", "/v1/settings", {"soft_bounce_limit": [3]}, "soft_bounce_limit"),
        ("PATCH", "/v1/settings", {"ses_identities": {"a": 1}}, "ses_identities"),
        ("POST", "/v1/send-check", {"contact_id": "c1", "channel": ["email"]}, "channel"),
        ("POST", "/v1/send-check", {"contact_id": "c1", "channel": "email", "mode": 1}, "mode"),
        ("POST", "/v1/send-check", {"contact_id": "c1", "channel": "email", "sequence_id": 5}, "sequence_id"),
        ("POST", "/v1/send-check/batch", {"checks": "all"}, "checks"),
        ("POST", "/v1/send-check/batch", {"checks": [None]}, "checks[0]"),
    ]
    before = (api.get("/v1/contacts/c1")[1], api.get("/v1/settings")[1], api.get("/v1/audit?contact_id=c1")[1])
    for method, path, body, field in cases:
        status, answer = api.call(method, path, body)
        assert_json_4xx(status, answer, expected=422)
        assert any(name.startswith(field) for name in answer["fields"]), (method, path, body, answer)
    after = (api.get("/v1/contacts/c1")[1], api.get("/v1/settings")[1], api.get("/v1/audit?contact_id=c1")[1])
    assert after == before
