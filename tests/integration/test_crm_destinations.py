"""Issue 11.1 and 11.2: where the CRM token may be sent. Through PATCH /v1/settings and the real
write-back Lambda handler, against the fake CRM of test_crm (a server on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.test_crm import EMAIL, SECRET, TOKEN, FakeCrm, drain_writebacks, set_email, take_writebacks

NEW_TOKEN = "crm-access-token-2"


@pytest.fixture()
def fake_crm() -> Iterator[FakeCrm]:
    fake = FakeCrm()
    yield fake
    fake.close()


@pytest.fixture(autouse=True)
def _empty_queue(aws_env: dict[str, str]) -> None:
    take_writebacks("")


@pytest.fixture()
def deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as a deployed stage would (in Lambda): no loopback destination."""
    from chalicelib.services.context import get_services

    monkeypatch.setattr(get_services().config, "loopback_destinations", False)


def crm(fake: FakeCrm, provider: str = "salesforce", **over: Any) -> dict[str, Any]:
    return {
        "provider": provider,
        "mode": "write",
        "webhook_secret": SECRET,
        "access_token": TOKEN,
        "instance_url": fake.url,
        **over,
    }


def linked_contact(api: Any) -> None:
    status, body = api.put("/v1/contacts/c1", {"email": EMAIL, "attributes": {"crm_id": "003A1"}})
    assert status == 200, body


# --- 11.1: the stored token never follows a changed destination -------------------------------


def test_issue11_changing_instance_url_without_a_new_token_is_refused(api, fake_crm):
    # Given a Salesforce mapping whose write-only token is stored
    assert api.patch("/v1/settings", {"crm": crm(fake_crm)})[0] == 200
    other = FakeCrm()
    try:
        # When a key holder points the mapping at another URL, sending the GET view back without a token
        view = api.get("/v1/settings")[1]["crm"]
        status, body = api.patch("/v1/settings", {"crm": {**view, "instance_url": other.url}})
        # Then 422 names crm.access_token, and nothing changed
        assert status == 422, body
        assert "crm.access_token" in body["fields"]
        assert api.get("/v1/settings")[1]["crm"]["instance_url"] == fake_crm.url
        # And the next write-back still goes where it went, the other server hears nothing
        linked_contact(api)
        set_email(api, "c1", "enable")
        assert drain_writebacks(api.workspace_id) == 1
        assert [r["authorization"] for r in fake_crm.requests] == [f"Bearer {TOKEN}"]
        assert other.requests == []
    finally:
        other.close()


def test_issue11_changing_the_provider_without_a_new_token_is_refused(api, fake_crm):
    assert api.patch("/v1/settings", {"crm": crm(fake_crm)})[0] == 200
    status, body = api.patch("/v1/settings", {"crm": {"provider": "hubspot", "mode": "write"}})
    assert status == 422, body
    assert "crm.access_token" in body["fields"]
    # HubSpot without instance_url means api.hubapi.com: also a new destination
    status, body = api.patch("/v1/settings", {"crm": {"provider": "hubspot", "instance_url": None}})
    assert (status, "crm.access_token" in body["fields"]) == (422, True)
    assert api.get("/v1/settings")[1]["crm"]["provider"] == "salesforce"


def test_issue11_a_bad_url_and_a_missing_token_are_named_together(api, fake_crm):
    assert api.patch("/v1/settings", {"crm": crm(fake_crm)})[0] == 200
    status, body = api.patch(
        "/v1/settings", {"crm": {"provider": "salesforce", "instance_url": "https://169.254.169.254"}}
    )
    assert status == 422, body
    assert {"crm.access_token", "crm.instance_url"} <= set(body["fields"])


def test_issue11_new_destination_with_a_new_token_is_accepted_and_used(api, fake_crm):
    assert api.patch("/v1/settings", {"crm": crm(fake_crm)})[0] == 200
    other = FakeCrm()
    try:
        # When the URL changes together with a new token
        status, body = api.patch("/v1/settings", {"crm": crm(other, access_token=NEW_TOKEN)})
        assert status == 200, body
        assert body["crm"]["access_token_set"] is True
        # Then the write-back goes to the new URL with the new token only
        linked_contact(api)
        set_email(api, "c1", "enable")
        assert drain_writebacks(api.workspace_id) == 1
        assert fake_crm.requests == []
        assert [r["authorization"] for r in other.requests] == [f"Bearer {NEW_TOKEN}"]
    finally:
        other.close()


def test_issue11_same_destination_keeps_the_stored_token(api, fake_crm):
    # Given a stored mapping; When only the mode (or field) changes, sent back as GET shows it
    assert api.patch("/v1/settings", {"crm": crm(fake_crm)})[0] == 200
    view = api.get("/v1/settings")[1]["crm"]
    status, body = api.patch(
        "/v1/settings", {"crm": {**view, "mode": "read_write", "instance_url": fake_crm.url + "/"}}
    )
    # Then the token is kept (the destination did not change)
    assert status == 200, body
    assert body["crm"]["access_token_set"] is True
    linked_contact(api)
    set_email(api, "c1", "enable")
    assert drain_writebacks(api.workspace_id) == 1
    assert [r["authorization"] for r in fake_crm.requests] == [f"Bearer {TOKEN}"]


# --- 11.2: instance_url vetted when saved ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://acme.my.salesforce.com",
        "javascript:alert(1)",
        "garbage",
        "https://user:pw@acme.my.salesforce.com",
        "http://acme.my.salesforce.com",
        "https://169.254.169.254",
        "https://[fd00:ec2::254]",
        "https://10.0.0.8",
        "https://100.64.1.1",
        "https://[fc00::5]",
        "https://[::ffff:169.254.169.254]",
        "https://2852039166",
        "https://0xa9fea9fe",
        "https://0251.0376.0251.0376",
        "https://metadata.google.internal",
        "https://instance-data",
    ],
)
def test_issue11_unsafe_instance_url_is_refused_when_saved(api, url):
    status, body = api.patch(
        "/v1/settings", {"crm": {"provider": "salesforce", "access_token": TOKEN, "instance_url": url}}
    )
    assert status == 422, body
    assert list(body["fields"]) == ["crm.instance_url"]
    assert api.get("/v1/settings")[1]["crm"] is None


def test_issue11_workspace_creation_vets_the_instance_url_too(admin):
    status, body = admin.post(
        "/v1/admin/workspaces",
        {
            "workspace_id": "ws-ssrf-create",
            "settings": {"crm": {"provider": "salesforce", "instance_url": "https://169.254.169.254"}},
        },
    )
    assert status == 422, body
    assert list(body["fields"]) == ["settings.crm.instance_url"]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9001", "https://127.0.0.1:9001", "http://localhost:9001", "http://[::1]:9001"]
)
def test_issue11_loopback_is_refused_off_the_local_stage(api, deployed, url):
    # Given a deployed stage (Lambda): 127.0.0.1:9001 is the Runtime API
    status, body = api.patch(
        "/v1/settings", {"crm": {"provider": "salesforce", "access_token": TOKEN, "instance_url": url}}
    )
    assert status == 422, body
    assert list(body["fields"]) == ["crm.instance_url"]


def test_issue11_loopback_http_works_on_the_local_stage(api, fake_crm):
    # The local stage (make run, these tests) keeps plain http to 127.0.0.1 for fake CRMs
    assert api.patch("/v1/settings", {"crm": crm(fake_crm)})[0] == 200
    linked_contact(api)
    set_email(api, "c1", "enable")
    assert drain_writebacks(api.workspace_id) == 1
    assert len(fake_crm.requests) == 1


# --- 11.2: vetted again when used -------------------------------------------------------------


def store_mapping_as_before_the_rule(workspace_id: str, mapping: dict[str, Any]) -> None:
    """A mapping saved before instance_url was vetted (or by a bug): written straight to the store."""
    from chalicelib.models.domain import CrmSettings
    from chalicelib.services.context import get_services

    services = get_services()
    current = services.workspaces.get_settings(workspace_id)
    updated = current.model_copy(update={"crm": CrmSettings.model_validate(mapping)})
    services.workspaces.save_settings(workspace_id, updated, current, None)
    services.config_cache.invalidate(workspace_id)


def test_issue11_write_back_refuses_a_stored_loopback_url_off_the_local_stage(api, fake_crm, deployed):
    # Given a stored mapping pointing at 127.0.0.1 (as the Runtime API would be) on a deployed stage
    store_mapping_as_before_the_rule(api.workspace_id, crm(fake_crm))
    linked_contact(api)
    set_email(api, "c1", "enable")
    # When the write-back worker runs, Then it fails (retried, then dead-lettered) without a request
    with pytest.raises(Exception, match="failed"):
        drain_writebacks(api.workspace_id)
    assert fake_crm.requests == []


def test_issue11_write_back_refuses_a_host_resolving_to_a_private_address(api, fake_crm, deployed, monkeypatch):
    # Given a public-looking name whose DNS answers include the metadata address (rebinding)
    store_mapping_as_before_the_rule(api.workspace_id, crm(fake_crm, instance_url="https://crm.example.com"))
    answers = {"crm.example.com": ["93.184.216.34", "169.254.169.254"]}
    monkeypatch.setattr("chalicelib.crm.base.system_resolver", lambda host, port: answers[host])
    connects: list[Any] = []
    monkeypatch.setattr("socket.create_connection", lambda *a, **k: connects.append(a) or pytest.fail("connected"))
    linked_contact(api)
    set_email(api, "c1", "enable")
    # When the worker runs, Then the write-back fails before any connection is made
    with pytest.raises(Exception, match="failed"):
        drain_writebacks(api.workspace_id)
    assert connects == []


def test_issue11_a_new_destination_may_drop_the_token_explicitly(api, fake_crm):
    # Given a stored token; When the mapping moves to HubSpot read-only with access_token null
    assert api.patch("/v1/settings", {"crm": crm(fake_crm)})[0] == 200
    status, body = api.patch("/v1/settings", {"crm": {"provider": "hubspot", "mode": "read", "access_token": None}})
    # Then it is accepted and the token is gone (a later switch to write mode has none to reuse)
    assert status == 200, body
    assert body["crm"]["access_token_set"] is False
    status, body = api.patch("/v1/settings", {"crm": {"provider": "hubspot", "mode": "write"}})
    assert (status, body["crm"]["access_token_set"]) == (200, False)


def test_issue11_another_refused_setting_and_a_missing_token_are_named_together(api, fake_crm):
    # Given a stored mapping with its token / When a patch moves it without one and refuses another setting
    assert api.patch("/v1/settings", {"crm": crm(fake_crm)})[0] == 200
    status, body = api.patch("/v1/settings", {"soft_bounce_limit": 0, "crm": {"provider": "hubspot"}})
    # Then both are named in one 422 (issue 12: the patch's model refuses first, the hint still comes)
    assert status == 422, body
    assert {"crm.access_token", "soft_bounce_limit"} <= set(body["fields"])
