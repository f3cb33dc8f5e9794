"""R14: the admin route creates workspaces and keys; keys are stored hashed."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from tests.integration.conftest import ADMIN_KEY, Api
from tests.integration.conftest import scan_table as _scan


def _id() -> str:
    return "ws-" + uuid.uuid4().hex[:12]


def test_r14_admin_creates_workspace_with_a_working_key(admin: Api):
    # Given the admin key / When a workspace is created
    workspace_id = _id()
    status, body = admin.post("/v1/admin/workspaces", {"workspace_id": workspace_id})
    # Then 201 with its id and a fresh API key that authenticates for that workspace
    assert status == 201, body
    assert body["workspace_id"] == workspace_id
    assert isinstance(body["api_key"], str) and len(body["api_key"]) >= 32
    workspace = Api(admin.client, body["api_key"])
    assert workspace.get("/v1/settings")[0] == 200


def test_r14_create_with_settings_and_twilio_token(admin: Api):
    workspace_id = _id()
    status, body = admin.post(
        "/v1/admin/workspaces",
        {"workspace_id": workspace_id, "twilio_auth_token": "tw-secret", "settings": {"sms_help_text": "Help!"}},
    )
    assert status == 201, body
    status, settings = Api(admin.client, body["api_key"]).get("/v1/settings")
    assert status == 200
    assert settings["sms_help_text"] == "Help!"
    assert "twilio_auth_token" not in settings


def test_r14_existing_workspace_id_is_409_and_keeps_the_first_key(admin: Api):
    workspace_id = _id()
    first = admin.post("/v1/admin/workspaces", {"workspace_id": workspace_id})[1]
    again = {"workspace_id": workspace_id, "settings": {"soft_bounce_limit": 9}}
    status, body = admin.post("/v1/admin/workspaces", again)
    assert status == 409
    assert body["error"] == "workspace_exists"
    # And the original workspace is untouched
    status, settings = Api(admin.client, first["api_key"]).get("/v1/settings")
    assert status == 200 and settings["soft_bounce_limit"] == 3


def test_r14_missing_admin_key_is_401(admin: Api):
    status, body = admin.post("/v1/admin/workspaces", {"workspace_id": _id()}, key=None)
    assert status == 401
    assert body["error"] == "unauthorized"
    assert "Authorization" in body["fields"]


def test_r14_wrong_admin_key_is_403(admin: Api):
    status, body = admin.post("/v1/admin/workspaces", {"workspace_id": _id()}, key="not-the-admin-key")
    assert status == 403
    assert body["error"] == "forbidden"


def test_r14_a_workspace_key_is_not_an_admin_key(admin: Api, api: Api):
    status, _ = admin.post("/v1/admin/workspaces", {"workspace_id": _id()}, key=api.key)
    assert status == 403


def test_r14_the_admin_key_is_not_a_workspace_key(admin: Api):
    status, body = admin.get("/v1/settings")
    assert status == 401
    assert body["error"] == "unauthorized"


def test_r14_refused_create_writes_nothing(admin: Api):
    workspace_id = _id()
    assert admin.post("/v1/admin/workspaces", {"workspace_id": workspace_id}, key="wrong")[0] == 403
    # The id is still free
    assert admin.post("/v1/admin/workspaces", {"workspace_id": workspace_id})[0] == 201


def test_r14_bad_workspace_input_is_422_naming_the_field(admin: Api):
    for body, field in [
        ({}, "workspace_id"),
        ({"workspace_id": "has space"}, "workspace_id"),
        ({"workspace_id": "a#b"}, "workspace_id"),
        ({"workspace_id": 7}, "workspace_id"),
        ({"workspace_id": _id(), "settings": []}, "settings"),
        ({"workspace_id": _id(), "settings": {"nope": 1}}, "settings.nope"),
        ({"workspace_id": _id(), "settings": {"soft_bounce_limit": 0}}, "settings.soft_bounce_limit"),
        ({"workspace_id": _id(), "twilio_auth_token": 5}, "twilio_auth_token"),
    ]:
        status, answer = admin.post("/v1/admin/workspaces", body)
        assert status == 422, (body, answer)
        assert answer["error"] == "validation_error"
        assert field in answer["fields"], (body, answer)


def test_r14_malformed_admin_body_is_400(admin: Api):
    for raw in ("{not json", "[1, 2]", '"text"', ""):
        status, answer = admin.call("POST", "/v1/admin/workspaces", raw=raw)
        assert status == 400, (raw, answer)
        assert set(answer) >= {"error", "message", "fields"}


def test_r14_keys_and_tokens_are_stored_hashed(admin: Api):
    # Given a workspace created with a known twilio token
    workspace_id = _id()
    status, body = admin.post("/v1/admin/workspaces", {"workspace_id": workspace_id})
    assert status == 201
    api_key = body["api_key"]
    # When the workspaces table is read directly
    dump = json.dumps(_scan(os.environ["OPTOUT_WORKSPACES_TABLE"]))
    # Then neither the API key nor the admin key appears in plaintext anywhere
    assert api_key not in dump
    assert ADMIN_KEY not in dump
    # but its hash does (that is how the key is found)
    import hashlib

    assert hashlib.sha256(api_key.encode()).hexdigest() in dump


def test_r8_identity_registered_elsewhere_is_409_identity_taken_and_nothing_is_created(admin: Api):
    # Given a workspace that registered a sending identity
    first, second = _id(), _id()
    identity = f"mail-{uuid.uuid4().hex[:8]}.example.com"
    claim = {"settings": {"ses_identities": [identity]}}
    assert admin.post("/v1/admin/workspaces", {"workspace_id": first, **claim})[0] == 201
    # When another workspace is created claiming the same identity
    status, body = admin.post("/v1/admin/workspaces", {"workspace_id": second, **claim})
    # Then 409 names the identity (not "workspace exists") and the second workspace does not exist
    assert status == 409
    assert body["error"] == "identity_taken"
    assert admin.post("/v1/admin/workspaces", {"workspace_id": second})[0] == 201


def test_r14_repeated_identity_in_create_is_not_a_5xx(admin: Api):
    identity = f"dup-{uuid.uuid4().hex[:8]}.example.com"
    status, body = admin.post(
        "/v1/admin/workspaces", {"workspace_id": _id(), "settings": {"ses_identities": [identity, identity.upper()]}}
    )
    assert status == 201, body
    status, settings = Api(admin.client, body["api_key"]).get("/v1/settings")
    assert settings["ses_identities"] == [identity]


def test_health_needs_no_key(admin: Api):
    assert admin.get("/health", key=None) == (200, {"status": "ok"})


# --- issue 11 point 3: sending identities are the operator's ------------------------------------


def test_r8_a_workspace_key_cannot_claim_a_sending_identity(api: Api):
    # Given a workspace key
    identity = f"claim-{uuid.uuid4().hex[:8]}.example.com"
    for claimed in ([identity], ["gmail.com"], [f"arn:aws:ses:us-east-1:123456789012:identity/{identity}"]):
        # When it tries to set ses_identities (alone or with other settings)
        for body in ({"ses_identities": claimed}, {"ses_identities": claimed, "soft_bounce_limit": 5}):
            status, answer = api.patch("/v1/settings", body)
            # Then 403 with an error code naming the field, and nothing changed
            assert status == 403, answer
            assert answer["error"] == "ses_identities_admin_only"
            assert "ses_identities" in answer["fields"]
    from chalicelib.services.context import get_services

    assert get_services().workspaces.workspace_for_ses_identity(identity) is None
    settings = api.get("/v1/settings")[1]
    assert settings["ses_identities"] == [] and settings["soft_bounce_limit"] == 3
    # But a GET -> edit -> PATCH round trip that sends the list back unchanged is fine
    assert api.patch("/v1/settings", {**settings, "soft_bounce_limit": 6})[0] == 200


def test_r8_the_admin_sets_identities_token_and_settings_of_a_workspace(admin: Api, api: Api):
    identity = f"ops-{uuid.uuid4().hex[:8]}.example.co.uk"
    # When the admin PATCHes the workspace
    status, body = admin.patch(
        f"/v1/admin/workspaces/{api.workspace_id}",
        {"ses_identities": [identity], "twilio_auth_token": "tw-admin-set", "settings": {"soft_bounce_limit": 4}},
    )
    # Then all three are stored; the token is never shown
    assert status == 200, body
    assert body["workspace_id"] == api.workspace_id
    assert body["settings"]["ses_identities"] == [identity] and body["settings"]["soft_bounce_limit"] == 4
    assert "tw-admin-set" not in json.dumps(body)
    from chalicelib.services.context import get_services

    services = get_services()
    assert services.workspaces.twilio_auth_token(api.workspace_id) == "tw-admin-set"
    assert services.workspaces.workspace_for_ses_identity(identity) == api.workspace_id
    assert api.get("/v1/settings")[1]["ses_identities"] == [identity]


@pytest.mark.parametrize(
    "identity",
    [
        "gmail.com",
        "GoogleMail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "yahoo.com",
        "yahoo.co.nz",
        "icloud.com",
        "aol.com",
        "gmx.de",
        "proton.me",
        "mail.ru",
        "yandex.ru",
        "com",
        "co.uk",
        "github.io",
        "localhost",
        "arn:aws:ses:us-east-1:123456789012:identity/gmail.com",
        "arn:aws:ses:us-east-1:123456789012:identity/co.uk",
    ],
)
def test_r8_freemail_and_public_suffix_identities_are_422(admin: Api, api: Api, identity: str):
    status, body = admin.patch(f"/v1/admin/workspaces/{api.workspace_id}", {"ses_identities": [identity]})
    assert status == 422, body
    assert body["error"] == "identity_not_allowed"
    assert identity.lower() in body["fields"]["ses_identities"].lower()
    # Also when a workspace is created with it
    status, body = admin.post(
        "/v1/admin/workspaces", {"workspace_id": _id(), "settings": {"ses_identities": [identity]}}
    )
    assert status == 422, body
    assert "settings.ses_identities" in body["fields"]


def test_r8_an_address_at_a_freemail_domain_and_a_subdomain_of_a_suffix_are_allowed(admin: Api, api: Api):
    run = uuid.uuid4().hex[:8]
    identities = [f"ops-{run}@gmail.com", f"acme-{run}.github.io", f"acme-{run}.co.uk"]
    status, body = admin.patch(f"/v1/admin/workspaces/{api.workspace_id}", {"ses_identities": identities})
    assert status == 200, body


def test_r8_admin_patch_refuses_bad_input_and_unknown_workspaces(admin: Api, api: Api):
    path = f"/v1/admin/workspaces/{api.workspace_id}"
    assert admin.patch(path, {"ses_identities": ["x.example.com"]}, key=api.key)[0] == 403  # workspace key
    assert admin.patch(path, {"ses_identities": ["x.example.com"]}, key=None)[0] == 401
    for body, field in [
        ({"ses_identities": "x.example.com"}, "ses_identities"),
        ({"settings": []}, "settings"),
        ({"twilio_auth_token": ""}, "twilio_auth_token"),
        ({"api_key": "mine"}, "api_key"),
        ({"ses_identities": ["a.example.com"], "settings": {"ses_identities": ["b.example.com"]}}, "ses_identities"),
    ]:
        status, answer = admin.patch(path, body)
        assert status == 422, (body, answer)
        assert field in answer["fields"], (body, answer)
    assert admin.patch("/v1/admin/workspaces/no-such-ws-" + _id(), {"settings": {}})[0] == 404
    assert admin.patch("/v1/admin/workspaces/..", {"settings": {}})[0] == 422


def test_r8_identity_uniqueness_is_the_transactions_condition_not_a_prior_read(admin: Api, monkeypatch):
    """The claim item is written in the settings' transaction, conditional on no other owner: even a
    claimant that (racing) saw the identity free cannot take it."""
    from chalicelib.store.workspaces import WorkspaceStore

    identity = f"race-{uuid.uuid4().hex[:8]}.example.com"
    first, second = (admin.post("/v1/admin/workspaces", {"workspace_id": _id()})[1]["workspace_id"] for _ in "ab")
    assert admin.patch(f"/v1/admin/workspaces/{first}", {"ses_identities": [identity]})[0] == 200
    # Given every lookup of an identity's owner answers "free" (what a racing reader would have seen)
    monkeypatch.setattr(WorkspaceStore, "workspace_for_ses_identity", lambda self, identity: None)
    # When the second workspace claims it / Then the transaction's condition refuses it
    status, body = admin.patch(f"/v1/admin/workspaces/{second}", {"ses_identities": [identity]})
    assert status == 409 and body["error"] == "identity_taken", body
    monkeypatch.undo()
    from chalicelib.services.context import get_services

    assert get_services().workspaces.workspace_for_ses_identity(identity) == first
    assert get_services().workspaces.get_settings(second).ses_identities == []
