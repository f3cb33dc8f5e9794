"""Request bodies that once were checked field by field (issue 12) keep their refusals as models:
the same 422, error code, field names and wording (R14: a bad body names its field)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.errors import InvalidInput
from chalicelib.models.domain import WorkspaceSettings
from chalicelib.models.requests import (
    MAX_BATCH,
    WORKSPACE_ID_RULE,
    AdminWorkspacePatch,
    AuditSearchBody,
    CreateWorkspaceBody,
    RequestBody,
    SendCheckBatchBody,
    SettingsPatch,
    UnsubscribeLinkBody,
    parse,
)


def refusal(model: type[RequestBody], body: Any) -> tuple[str, dict[str, str]]:
    with pytest.raises(InvalidInput) as refused:
        parse(model, body)
    assert refused.value.status == 422 and refused.value.code == "validation_error"
    return refused.value.message, refused.value.fields


@pytest.mark.parametrize(
    ("checks", "message", "reason"),
    [
        ("x", "checks must be a list", "required list of send-check bodies"),
        ([], f"1 to {MAX_BATCH} checks per batch", f"1 to {MAX_BATCH} items"),
        ([{}] * (MAX_BATCH + 1), f"1 to {MAX_BATCH} checks per batch", f"1 to {MAX_BATCH} items"),
    ],
)
def test_r4_a_batch_is_1_to_max_checks(checks: Any, message: str, reason: str):
    assert refusal(SendCheckBatchBody, {"checks": checks}) == (message, {"checks": reason})


def test_r4_each_check_of_a_batch_is_left_to_the_service_which_names_it_by_index():
    # Given checks that are not even objects / When the batch is parsed / Then they pass as they came
    # (the service refuses checks[1] as "must be an object", not a pydantic path checks.1)
    assert parse(SendCheckBatchBody, {"checks": [{"channel": "email"}, 5], "other": 1}).checks == [
        {"channel": "email"},
        5,
    ]


def test_r5_a_link_is_for_a_contact_or_an_email_never_a_phone():
    assert refusal(UnsubscribeLinkBody, {"phone": "+14155550123", "channel": "sms"}) == (
        "unsubscribe links are for a contact or an email address",
        {"phone": "use contact_id or email"},
    )
    assert parse(UnsubscribeLinkBody, {"email": "a@example.com", "phone": ""}).channel == "email"


@pytest.mark.parametrize("sequence_id", ["has space", "..", 7, ""])
def test_r5_a_link_names_a_bad_sequence_id(sequence_id: Any):
    message, fields = refusal(UnsubscribeLinkBody, {"contact_id": "c1", "sequence_id": sequence_id})
    assert (message, fields) == ("invalid sequence_id", {"sequence_id": "1-128 of A-Z a-z 0-9 _ . : @ + -"})


def test_r5_a_link_names_a_bad_channel():
    assert set(refusal(UnsubscribeLinkBody, {"contact_id": "c1", "channel": "fax"})[1]) == {"channel"}


def test_audit_search_refuses_other_fields_and_leaves_which_one_to_the_shared_rule():
    assert set(refusal(AuditSearchBody, {"contact_id": "s1", "cursor": "x"})[1]) == {"cursor"}
    # Exactly-one is parse_target's rule, the same for GET /v1/audit: empty values count as absent there
    assert parse(AuditSearchBody, {"contact_id": "", "email": "a@example.com"}).email == "a@example.com"


# --- workspaces and settings ----------------------------------------------------------------------


@pytest.mark.parametrize("workspace_id", [None, 7, "has space", "a#b", "..", ""])
def test_r14_a_new_workspace_needs_a_valid_id(workspace_id: Any):
    body = {} if workspace_id is None else {"workspace_id": workspace_id}
    message, fields = refusal(CreateWorkspaceBody, body)
    assert set(fields) == {"workspace_id"}
    if workspace_id is not None:
        assert (message, fields["workspace_id"]) == ("invalid workspace_id", WORKSPACE_ID_RULE)


@pytest.mark.parametrize("model", [CreateWorkspaceBody, AdminWorkspacePatch])
def test_r14_settings_must_be_an_object_and_the_token_a_non_empty_string(model: type[RequestBody]):
    base = {"workspace_id": "ws1"} if model is CreateWorkspaceBody else {}
    assert refusal(model, {**base, "settings": []}) == ("settings must be an object", {"settings": "must be an object"})
    for token in (5, ""):
        assert refusal(model, {**base, "twilio_auth_token": token}) == (
            "invalid twilio_auth_token",
            {"twilio_auth_token": "must be a non-empty string"},
        )


def test_r14_a_new_workspace_leaves_its_settings_to_the_service_and_ignores_other_fields():
    # (validate_settings names a refused setting settings.<name>, as it always did)
    body = parse(CreateWorkspaceBody, {"workspace_id": "ws1", "settings": {"nope": 1}, "other": True})
    assert body.settings == {"nope": 1} and body.twilio_auth_token is None


def test_r8_the_admin_patch_is_one_settings_patch_and_each_field_is_given_once():
    body = {"ses_identities": ["a.example.com"], "twilio_auth_token": "t", "settings": {"soft_bounce_limit": 4}}
    assert parse(AdminWorkspacePatch, body).settings_patch() == {
        "ses_identities": ["a.example.com"],
        "twilio_auth_token": "t",
        "soft_bounce_limit": 4,
    }
    assert parse(AdminWorkspacePatch, {}).settings_patch() == {}
    for name, value in (("ses_identities", ["a.example.com"]), ("twilio_auth_token", None)):
        assert refusal(AdminWorkspacePatch, {name: value, "settings": {name: value}}) == (
            f"{name} given twice",
            {name: "give it at the top level or in settings"},
        )
    assert set(refusal(AdminWorkspacePatch, {"api_key": "mine"})[1]) == {"api_key"}
    assert set(refusal(AdminWorkspacePatch, {"ses_identities": "x.example.com"})[1]) == {"ses_identities"}


def test_settings_patch_names_every_setting_it_refuses_and_changes_only_what_it_names():
    # Given a patch of two settings / Then only those change (no defaults filled in)
    patch = parse(SettingsPatch, {"soft_bounce_limit": 5, "quiet_hours": {"start": "22:00"}})
    assert patch.changes() == {"soft_bounce_limit": 5, "quiet_hours": {"start": "22:00"}}
    # A refusal names the setting as it stands in the body (the same as the merged settings would)
    assert set(refusal(SettingsPatch, {"soft_bounce_limit": 0, "unknown_setting": 1, "crm": 5})[1]) == {
        "soft_bounce_limit",
        "unknown_setting",
        "crm",
    }
    assert set(refusal(SettingsPatch, {"manual_sends_respect_dnd": None})[1]) == {"manual_sends_respect_dnd"}


def test_settings_patch_takes_exactly_the_settings_and_the_token():
    assert set(SettingsPatch.model_fields) == set(WorkspaceSettings.model_fields) | {"twilio_auth_token"}
