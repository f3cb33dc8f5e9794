"""Issue 11 point 11 (R14): ids that URL resolution rewrites (``.``, ``..``) or that carry ``/`` are
refused with 422 wherever an id is accepted; ids are case-sensitive."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.integration.conftest import Api

BAD_IDS = [".", "..", "...", "a/b", "../default"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_r14_admin_refuses_dot_and_slash_workspace_ids(admin: Api, bad: str):
    # When a workspace is created with such an id / Then 422 names workspace_id
    status, body = admin.post("/v1/admin/workspaces", {"workspace_id": bad})
    assert status == 422, body
    assert "workspace_id" in body["fields"]


@pytest.mark.parametrize("bad", [".", ".."])
def test_r14_dot_ids_are_refused_in_paths_and_bodies(api: Api, bad: str):
    # A contact id in the path
    status, body = api.put(f"/v1/contacts/{quote(bad, safe='')}", {"email": "dots@example.com"})
    assert status == 422, body
    assert "contact_id" in body["fields"]
    # A contact id in a body
    status, body = api.post("/v1/send-check", {"contact_id": bad, "channel": "email"})
    assert status == 422, body
    assert "contact_id" in body["fields"]
    # A sequence id
    status, body = api.put(f"/v1/sequences/{quote(bad, safe='')}", {})
    assert status == 422, body


def test_r14_ids_are_case_sensitive(admin: Api, api: Api):
    # Given a contact "Ann"
    assert api.put("/v1/contacts/Ann", {"email": "ann.case@example.com"})[0] == 200
    # Then "ann" is another contact (not found), and "Ann" is found
    assert api.get("/v1/contacts/ann")[0] == 404
    assert api.get("/v1/contacts/Ann")[0] == 200
