"""Workspace settings (API.md /v1/settings): defaults, validated PATCH, write-only secrets."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from tests.integration.conftest import Api

DEFAULTS = {
    "manual_sends_respect_dnd": True,
    "unsubscribe_all_channels": True,
    "reply_unsubscribe_opts_out": True,
    "soft_bounce_limit": 3,
    "soft_bounce_window_days": 7,
    "default_phone_region": "US",
    "ses_identities": [],
    "crm": None,
}


def test_settings_defaults_per_api_md(api: Api):
    status, body = api.get("/v1/settings")
    assert status == 200
    for name, value in DEFAULTS.items():
        assert body[name] == value, name
    assert isinstance(body["sms_help_text"], str) and body["sms_help_text"]
    assert "twilio_auth_token" not in body


def test_patch_changes_only_the_given_keys_and_persists(api: Api):
    # When one key is patched / Then it changes, the rest keep their values, and GET agrees
    status, body = api.patch("/v1/settings", {"manual_sends_respect_dnd": False, "default_phone_region": "gb"})
    assert status == 200, body
    assert body["manual_sends_respect_dnd"] is False
    assert body["default_phone_region"] == "GB"
    assert body["soft_bounce_limit"] == 3
    assert api.get("/v1/settings") == (200, body)


def test_r4_patched_setting_takes_effect_at_once(api: Api):
    # Given email DND and the default (manual sends respect DND)
    api.put("/v1/contacts/c1", {"email": "ann@example.com"})
    api.post("/v1/dnd", {"contact_id": "c1", "channel": "email", "action": "enable", "source": "user"})
    manual = {"contact_id": "c1", "channel": "email", "mode": "manual"}
    assert api.post("/v1/send-check", manual)[1]["allowed"] is False
    # When the workspace stops applying DND to manual sends / Then the very next manual check is allowed
    assert api.patch("/v1/settings", {"manual_sends_respect_dnd": False})[0] == 200
    status, answer = api.post("/v1/send-check", manual)
    assert status == 200 and answer["allowed"] is True and answer["warnings"] == ["do_not_contact"]


def test_default_phone_region_normalizes_national_numbers(api: Api):
    assert api.patch("/v1/settings", {"default_phone_region": "GB"})[0] == 200
    status, contact = api.put("/v1/contacts/c1", {"phone": "020 7183 8750"})
    assert status == 200, contact
    assert contact["phone"] == "+442071838750"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"soft_bounce_limit": 0}, "soft_bounce_limit"),
        ({"soft_bounce_limit": "many"}, "soft_bounce_limit"),
        ({"soft_bounce_window_days": 1000}, "soft_bounce_window_days"),
        ({"manual_sends_respect_dnd": None}, "manual_sends_respect_dnd"),
        ({"manual_sends_respect_dnd": [True]}, "manual_sends_respect_dnd"),
        ({"default_phone_region": "USA"}, "default_phone_region"),
        # A region libphonenumber does not know would break every later phone number.
        ({"default_phone_region": "XX"}, "default_phone_region"),
        ({"sms_help_text": ""}, "sms_help_text"),
        ({"ses_identities": "example.com"}, "ses_identities"),
        ({"ses_identities": [""]}, "ses_identities"),
        ({"crm": {"provider": "pipedrive"}}, "crm.provider"),
        ({"unknown_setting": 1}, "unknown_setting"),
        ({"twilio_auth_token": 5}, "twilio_auth_token"),
        ({"twilio_auth_token": ""}, "twilio_auth_token"),
    ],
)
def test_invalid_patch_is_422_naming_the_field_and_changes_nothing(api: Api, patch, field):
    before = api.get("/v1/settings")[1]
    status, body = api.patch("/v1/settings", {"soft_bounce_limit": 5, **patch})
    assert status == 422, body
    assert body["error"] == "validation_error"
    assert any(name.startswith(field) for name in body["fields"]), body
    assert api.get("/v1/settings") == (200, before)


def test_patch_malformed_body_is_400(api: Api):
    for raw in ("{", "[]", "null", '"x"'):
        status, body = api.call("PATCH", "/v1/settings", raw=raw)
        assert status == 400, raw
        assert set(body) >= {"error", "message", "fields"}


def test_twilio_auth_token_is_write_only(api: Api):
    # When the token is set
    status, body = api.patch("/v1/settings", {"twilio_auth_token": "tw-secret-123"})
    # Then it is stored (for signature checks) but never returned
    assert status == 200, body
    assert "twilio_auth_token" not in body
    assert "tw-secret-123" not in json.dumps(api.get("/v1/settings")[1])
    from chalicelib.services.context import get_services

    assert get_services().workspaces.twilio_auth_token(api.workspace_id) == "tw-secret-123"


def test_r8_ses_identities_register_the_workspace(admin: Api, api: Api, other_api: Api):
    identity = f"mail-{uuid.uuid4().hex[:8]}.example.com"
    arn = f"arn:aws:ses:us-east-1:123456789012:identity/{identity}"

    def set_identities(workspace: Api, identities: list[str]) -> tuple[int, dict]:
        return admin.patch(f"/v1/admin/workspaces/{workspace.workspace_id}", {"ses_identities": identities})

    # When identities are added by the admin (mixed case domain, an ARN)
    status, body = set_identities(api, [identity.upper(), arn, identity])
    assert status == 200, body
    assert body["settings"]["ses_identities"] == [identity, arn]
    assert api.get("/v1/settings")[1]["ses_identities"] == [identity, arn]
    from chalicelib.services.context import get_services

    store = get_services().workspaces
    assert store.workspace_for_ses_identity(identity) == api.workspace_id
    assert store.workspace_for_ses_identity(arn) == api.workspace_id
    # Then another workspace cannot claim them (409 naming the identity and its holder; nothing changed)
    status, body = set_identities(other_api, [identity])
    assert status == 409
    assert body["error"] == "identity_taken"
    assert identity in body["fields"]["ses_identities"]
    assert body["conflicts"] == [{"identity": identity, "workspace_id": api.workspace_id}]
    assert other_api.get("/v1/settings")[1]["ses_identities"] == []
    # And removing one releases it
    assert set_identities(api, [arn])[0] == 200
    assert store.workspace_for_ses_identity(identity) is None
    assert set_identities(other_api, [identity])[0] == 200
    assert store.workspace_for_ses_identity(identity) == other_api.workspace_id


def test_settings_need_a_workspace_key(api: Api):
    assert api.get("/v1/settings", key=None)[0] == 401
    assert api.patch("/v1/settings", {"soft_bounce_limit": 4}, key="nope")[0] == 401
    assert api.get("/v1/settings")[1]["soft_bounce_limit"] == 3


def test_settings_table_holds_no_plaintext_twilio_token_outside_its_secrets_item(api: Api):
    api.patch("/v1/settings", {"twilio_auth_token": "tw-only-in-secrets"})
    from chalicelib.store.aws import client

    items = client("dynamodb").query(
        TableName=os.environ["OPTOUT_WORKSPACES_TABLE"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": api.workspace_id}},
    )["Items"]
    holding = [item["sk"]["S"] for item in items if "tw-only-in-secrets" in json.dumps(item)]
    assert holding == ["secrets"]


def test_r8_identity_limit_is_422_and_a_full_replacement_fits_one_change(admin: Api, api: Api):
    from chalicelib.services.workspaces import MAX_SES_IDENTITIES

    path = f"/v1/admin/workspaces/{api.workspace_id}"
    run = uuid.uuid4().hex[:6]
    first = [f"a{i}-{run}.example.com" for i in range(MAX_SES_IDENTITIES)]
    second = [f"b{i}-{run}.example.com" for i in range(MAX_SES_IDENTITIES)]
    assert admin.patch(path, {"ses_identities": first, "twilio_auth_token": "t"})[0] == 200
    # Replacing all of them (40 releases + 40 registrations + settings + secrets) is one atomic change
    status, body = admin.patch(path, {"ses_identities": second, "twilio_auth_token": "t2"})
    assert status == 200, body
    assert body["settings"]["ses_identities"] == second
    status, body = admin.patch(path, {"ses_identities": [*second, f"c-{run}.example.com"]})
    assert status == 422
    assert "ses_identities" in body["fields"]
    assert api.get("/v1/settings")[1]["ses_identities"] == second


def test_r13_crm_credentials_are_write_only_and_kept_when_omitted(api: Api):
    crm = {"provider": "hubspot", "mode": "write", "access_token": "crm-token-1", "webhook_secret": "crm-hook-1"}
    status, body = api.patch("/v1/settings", {"crm": crm})
    assert status == 200, body
    for shown in (body, api.get("/v1/settings")[1]):
        text = json.dumps(shown)
        assert "crm-token-1" not in text and "crm-hook-1" not in text
        assert shown["crm"]["provider"] == "hubspot" and shown["crm"]["mode"] == "write"
        assert shown["crm"]["access_token_set"] is True and shown["crm"]["webhook_secret_set"] is True
    # A GET -> edit -> PATCH round trip (no secrets in it) keeps the stored credentials
    edited = api.get("/v1/settings")[1]["crm"]
    assert api.patch("/v1/settings", {"crm": {**edited, "mode": "read_write"}})[0] == 200
    from chalicelib.services.context import get_services

    stored = get_services().workspaces.get_settings(api.workspace_id).crm
    assert stored is not None and stored.mode == "read_write"
    assert (stored.access_token, stored.webhook_secret) == ("crm-token-1", "crm-hook-1")
    # An explicit null clears one
    cleared = api.patch("/v1/settings", {"crm": {**edited, "webhook_secret": None}})[1]
    assert cleared["crm"]["webhook_secret_set"] is False and cleared["crm"]["access_token_set"] is True
