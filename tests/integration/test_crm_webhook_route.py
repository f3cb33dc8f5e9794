"""Issue 11.9 (R13): POST /v1/webhooks/crm/{provider}/{workspace_id} -- HubSpot calls it directly,
signed its own way (X-HubSpot-Signature-v3: base64 HMAC-SHA256 of method + URI + body + timestamp
with the app's client secret = the workspace's crm.webhook_secret), with HubSpot's real payload;
Salesforce with the HMAC of the body. Records resolve by HubSpot objectId / Salesforce Id through
attributes.crm_id (index by_crm_id, a Query), as well as by contact_id / email. Exactly once per
event; a bad or stale signature is 403 and changes nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.integration.test_crm import EMAIL, SECRET, audit, email_dnd, signed, take_writebacks

PUBLIC_URL = "https://optout.test"  # OPTOUT_PUBLIC_URL of the integration fixtures


@pytest.fixture(autouse=True)
def _empty_queue(aws_env: dict[str, str]) -> None:
    take_writebacks("")


def hubspot_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """HubSpot's v3 signature as its docs and SDK compute it (here independently of the app)."""
    source = f"{method}{uri}".encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def now_ms() -> int:
    return int(time.time() * 1000)


def use_crm(api: Any, provider: str = "hubspot", mode: str = "read_write", **over: Any) -> None:
    crm = {"provider": provider, "mode": mode, "webhook_secret": SECRET, **over}
    status, body = api.patch("/v1/settings", {"crm": crm})
    assert status == 200, body


def hubspot_event(object_id: int, value: str = "true", event_id: int = 3011, attempt: int = 0) -> dict[str, Any]:
    """One event as HubSpot delivers it for a contact.propertyChange subscription."""
    return {
        "eventId": event_id,
        "subscriptionId": 2881778,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": 1738314000000,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": attempt,
        "objectId": object_id,
        "propertyName": "hs_email_optout",
        "propertyValue": value,
        "changeSource": "CRM_UI",
        "sourceId": "userId:4920431",
    }


def post_hubspot(
    api: Any,
    events: Any,
    *,
    workspace_id: str | None = None,
    secret: str = SECRET,
    timestamp: int | None = None,
    signed_uri: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    workspace_id = workspace_id or api.workspace_id
    path = f"/v1/webhooks/crm/hubspot/{workspace_id}"
    raw = json.dumps(events).encode()
    stamp = str(now_ms() if timestamp is None else timestamp)
    sent = {
        "X-HubSpot-Signature-v3": hubspot_v3(secret, "POST", signed_uri or PUBLIC_URL + path, raw, stamp),
        "X-HubSpot-Request-Timestamp": stamp,
        "X-HubSpot-Signature-Version": "v3",
        "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
    }
    sent.update(headers or {})
    return api.post(path, raw=raw, key=None, headers=sent)


def link(api: Any, contact_id: str, crm_id: Any, email: str = EMAIL) -> None:
    status, body = api.put(f"/v1/contacts/{contact_id}", {"email": email, "attributes": {"crm_id": crm_id}})
    assert status == 200, body


@pytest.fixture()
def ddb_operations() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    from chalicelib.store.aws import client

    seen: list[tuple[str, dict[str, Any]]] = []
    events = client("dynamodb").meta.events

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        seen.append((model.name, params))

    events.register("before-parameter-build.dynamodb.*", record, unique_id="crm-route-ops")
    yield seen
    events.unregister("before-parameter-build.dynamodb.*", unique_id="crm-route-ops")


def test_r13_hubspot_calls_the_workspace_route_with_its_own_signature_and_payload(api, ddb_operations):
    # Given a HubSpot mapping and a contact linked to HubSpot contact 501 (HubSpot sends no email)
    use_crm(api)
    link(api, "c1", 501)
    # When HubSpot delivers its contact.propertyChange event, signed v3
    ddb_operations.clear()
    status, body = post_hubspot(api, [hubspot_event(501)])
    # Then the contact is found through attributes.crm_id (a Query on by_crm_id, no Scan)
    assert status == 200, body
    assert body == {"applied": 1, "results": [{"ref": "501", "status": "enabled"}]}
    entry = email_dnd(api, "c1")
    assert (entry["reason"], entry["kind"], entry["source"]) == ("crm_opt_out", "temporary", "crm")
    names = [name for name, _ in ddb_operations]
    assert "Scan" not in names
    assert any(name == "Query" and params.get("IndexName") == "by_crm_id" for name, params in ddb_operations)
    # And no write-back echoes it to HubSpot
    assert take_writebacks(api.workspace_id) == []


def test_r13_hubspot_retries_are_applied_once(api):
    use_crm(api)
    link(api, "c1", 501)
    assert post_hubspot(api, [hubspot_event(501)])[1]["results"][0]["status"] == "enabled"
    # When HubSpot retries the same event (attemptNumber 1, a new timestamp and signature),
    # also after a user cleared the opt-out in between
    assert (
        api.post("/v1/dnd", {"contact_id": "c1", "channel": "email", "action": "disable", "source": "user"})[0] == 200
    )
    status, body = post_hubspot(api, [hubspot_event(501, attempt=1)])
    # Then it is a duplicate: no second audit entry, the user's clear stands
    assert status == 200, body
    assert body["results"] == [{"ref": "501", "status": "duplicate"}]
    assert [(e["action"], e["source"]) for e in audit(api, "c1")] == [("enabled", "crm"), ("disabled", "user")]
    assert email_dnd(api, "c1") is None


def test_r13_hubspot_bad_or_stale_signatures_are_403_and_change_nothing(api, other_api):
    use_crm(api)
    link(api, "c1", 501)
    events = [hubspot_event(501, event_id=4001)]
    path = f"/v1/webhooks/crm/hubspot/{api.workspace_id}"
    six_minutes = 6 * 60 * 1000
    attempts = [
        post_hubspot(api, events, secret="not-the-secret"),
        post_hubspot(api, events, timestamp=now_ms() - six_minutes),  # correctly signed, too old
        post_hubspot(api, events, timestamp=now_ms() + six_minutes),  # signed for later
        post_hubspot(api, events, signed_uri=PUBLIC_URL + f"/v1/webhooks/crm/hubspot/{other_api.workspace_id}"),
        post_hubspot(api, events, signed_uri="http://optout.test" + path),
        post_hubspot(api, events, headers={"X-HubSpot-Request-Timestamp": str(now_ms() - 1)}),  # not the signed one
        post_hubspot(api, events, headers={"X-HubSpot-Signature-v3": ""}),
        post_hubspot(api, events, headers={"X-HubSpot-Request-Timestamp": "soon"}),
        post_hubspot(other_api, events, workspace_id=other_api.workspace_id),  # no CRM mapping there
        post_hubspot(api, events, workspace_id="no-such-workspace"),
        api.post(path, raw=json.dumps(events).encode(), key=None, headers={"X-Optout-Signature": signed(b"x")}),
        api.post(path, raw=json.dumps(events).encode(), key=None),
    ]
    # Then every one is the same 403, and nothing changed
    assert [status for status, _ in attempts] == [403] * len(attempts)
    assert len({json.dumps(body) for _, body in attempts}) == 1
    assert email_dnd(api, "c1") is None
    assert audit(api, "c1") == []
    # And within the five minutes the same request is accepted
    assert post_hubspot(api, events, timestamp=now_ms() - 4 * 60 * 1000)[0] == 200


def test_r13_hubspot_signs_the_uri_with_its_escapes_decoded(api, admin):
    # Given a workspace whose id has characters HubSpot's URL encodes (':' '@')
    from tests.integration.conftest import Api

    workspace_id = f"acme:eu@{int(time.time() * 1000)}"
    status, created = admin.post("/v1/admin/workspaces", {"workspace_id": workspace_id})
    assert status == 201, created
    client = Api(api.client, created["api_key"])
    client.workspace_id = workspace_id  # type: ignore[attr-defined]
    use_crm(client)
    link(client, "c1", 777)
    # When HubSpot calls the URL configured with the escapes and signs it decoded (its rule)
    encoded_path = f"/v1/webhooks/crm/hubspot/{quote(workspace_id, safe='')}"
    raw = json.dumps([hubspot_event(777)]).encode()
    stamp = str(now_ms())
    decoded = PUBLIC_URL + encoded_path.replace("%3A", ":").replace("%40", "@")
    headers = {
        "X-HubSpot-Signature-v3": hubspot_v3(SECRET, "POST", decoded, raw, stamp),
        "X-HubSpot-Request-Timestamp": stamp,
    }
    status, body = client.post(encoded_path, raw=raw, key=None, headers=headers)
    # Then it validates
    assert status == 200, body
    assert body["results"][0]["status"] == "enabled"


def test_r13_hubspot_events_that_are_not_the_opt_out_property_are_ignored(api):
    use_crm(api)
    link(api, "c1", 501)
    creation = {**hubspot_event(501, event_id=5001), "subscriptionType": "contact.creation"}
    creation.pop("propertyName")
    other_property = {**hubspot_event(501, event_id=5002), "propertyName": "firstname", "propertyValue": "Pat"}
    company = {**hubspot_event(501, event_id=5003), "subscriptionType": "object.propertyChange", "objectTypeId": "0-2"}
    status, body = post_hubspot(api, [creation, other_property, company])
    assert status == 200, body
    assert [r["status"] for r in body["results"]] == ["ignored", "ignored", "ignored"]
    assert email_dnd(api, "c1") is None


def test_r13_hubspot_unlinked_object_falls_back_to_email_or_is_unresolved(api):
    use_crm(api)
    status, body = api.put("/v1/contacts/c1", {"email": EMAIL})
    assert status == 200
    with_email = {**hubspot_event(999, event_id=6001), "email": EMAIL}
    status, body = post_hubspot(api, [with_email, hubspot_event(998, event_id=6002)])
    assert status == 200, body
    assert [r["status"] for r in body["results"]] == ["enabled", "unresolved"]
    assert email_dnd(api, "c1")["source"] == "crm"


def test_r13_provider_mismatch_and_write_mode_answer_409_only_after_the_signature(api):
    use_crm(api, mode="write")
    assert post_hubspot(api, [hubspot_event(1)])[1]["error"] == "crm_read_disabled"
    # A correctly signed call on the other provider's path: 409 (as on the existing route)
    use_crm(api, provider="salesforce")
    assert post_hubspot(api, [hubspot_event(1)])[1]["error"] == "crm_provider_mismatch"
    raw = json.dumps([hubspot_event(1)]).encode()
    status, body = api.post(
        f"/v1/webhooks/crm/hubspot/{api.workspace_id}",
        raw=raw,
        key=None,
        headers={"X-HubSpot-Signature-v3": "x", "X-HubSpot-Request-Timestamp": str(now_ms())},
    )
    assert status == 403
    assert api.post(f"/v1/webhooks/crm/pipedrive/{api.workspace_id}", raw=b"[]", key=None)[0] == 404


# --- Salesforce on the workspace route ---------------------------------------------------------


def test_r13_salesforce_records_resolve_by_id_through_crm_id(api, ddb_operations):
    # Given a Salesforce mapping and a contact linked to Contact 0035g00000AbCdE
    use_crm(api, provider="salesforce")
    link(api, "c1", "0035g00000AbCdE")
    # When an Apex callout posts JSON.serialize(Trigger.new), HMAC'd in base64 (EncodingUtil)
    records = [
        {
            "attributes": {"type": "Contact", "url": "/services/data/v60.0/sobjects/Contact/0035g00000AbCdE"},
            "Id": "0035g00000AbCdE",
            "HasOptedOutOfEmail": True,
            "SystemModstamp": "2025-01-31T09:00:00.000+0000",
        }
    ]
    raw = json.dumps(records).encode()
    mac = base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode()
    path = f"/v1/webhooks/crm/salesforce/{api.workspace_id}"
    ddb_operations.clear()
    status, body = api.post(path, raw=raw, key=None, headers={"X-Optout-Signature": mac})
    # Then the linked contact is opted out, found through the index
    assert status == 200, body
    assert body["results"] == [{"ref": "0035g00000AbCdE", "status": "enabled"}]
    assert email_dnd(api, "c1")["source"] == "crm"
    assert "Scan" not in [name for name, _ in ddb_operations]
    # And the same delivery again (hex signature this time) is a duplicate
    status, body = api.post(path, raw=raw, key=None, headers={"X-Optout-Signature": signed(raw)})
    assert body["results"] == [{"ref": "0035g00000AbCdE", "status": "duplicate"}]
    assert len(audit(api, "c1")) == 1
    # And a wrong signature is 403
    assert api.post(path, raw=raw, key=None, headers={"X-Optout-Signature": signed(raw, "nope")})[0] == 403


def test_r13_existing_route_resolves_by_crm_id_too(api):
    use_crm(api, provider="salesforce")
    link(api, "c1", "003A9")
    raw = json.dumps({"records": [{"Id": "003A9", "HasOptedOutOfEmail": True, "event_id": "sf-1"}]}).encode()
    headers = {"X-Optout-Workspace": api.workspace_id, "X-Optout-Signature": signed(raw)}
    status, body = api.post("/v1/webhooks/crm/salesforce", raw=raw, key=None, headers=headers)
    assert status == 200, body
    assert body["results"] == [{"ref": "003A9", "status": "enabled"}]


# --- the crm_id index follows the contact -------------------------------------------------------


def test_r13_crm_id_index_follows_updates_and_erasure(api):
    use_crm(api, provider="salesforce")
    link(api, "c1", "003OLD")
    # When the contact is re-linked, Then the old record id no longer resolves to it
    link(api, "c1", "003NEW")
    from chalicelib.services.context import get_services

    contacts = get_services().contacts
    assert contacts.contact_ids_with_crm_id(api.workspace_id, "003OLD") == []
    assert contacts.contact_ids_with_crm_id(api.workspace_id, "003NEW") == ["c1"]
    # And another workspace's record of the same id is not this one's
    assert contacts.contact_ids_with_crm_id("another-workspace", "003NEW") == []
    # When the contact is erased, Then nothing resolves to it
    assert api.delete("/v1/contacts/c1")[0] == 204
    assert contacts.contact_ids_with_crm_id(api.workspace_id, "003NEW") == []


@pytest.mark.parametrize("crm_id", [{"id": 1}, [1], True, "x" * 256, "   ", 1.5])
def test_r13_unusable_crm_id_is_422(api, crm_id):
    status, body = api.put("/v1/contacts/c1", {"email": EMAIL, "attributes": {"crm_id": crm_id}})
    assert status == 422, body
    assert "attributes.crm_id" in body["fields"]
