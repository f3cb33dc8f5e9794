"""Issue 11 points 1, 2 and 9 over real HTTP on `make run` (`python -m infra.local`): the CRM token
stays with its destination, instance_url is vetted, the dispatcher's write-back still reaches a
loopback fake CRM on the local stage, and HubSpot-signed deliveries on the workspace route apply
once and a stale signature is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest

from tests.integration.test_crm import FakeCrm

from .conftest import LocalStack
from .test_local_stack import eventually

pytestmark = pytest.mark.e2e

SECRET = "hubspot-app-client-secret"
TOKEN = "pat-na1-e2e-token"


def new_workspace(stack: LocalStack) -> tuple[str, str]:
    workspace_id = f"crm-{uuid.uuid4().hex[:10]}"
    response = stack.request("POST", "/v1/admin/workspaces", {"workspace_id": workspace_id}, key=stack.admin_key)
    assert response.status == 201, response.body
    return workspace_id, response.json()["api_key"]


def hubspot_post(stack: LocalStack, workspace_id: str, events: list[dict], stamp_ms: int):
    path = f"/v1/webhooks/crm/hubspot/{workspace_id}"
    raw = json.dumps(events).encode()
    stamp = str(stamp_ms)
    source = f"POST{stack.api_url}{path}".encode() + raw + stamp.encode()  # OPTOUT_PUBLIC_URL is the API URL
    signature = base64.b64encode(hmac.new(SECRET.encode(), source, hashlib.sha256).digest()).decode()
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": stamp,
    }
    return stack.request("POST", path, raw, headers=headers)


def test_issue11_crm_destination_rules_and_hubspot_route_over_http(local_stack):
    stack = local_stack
    workspace_id, key = new_workspace(stack)
    fake = FakeCrm()
    fake.status = 200
    try:
        # Point 2: metadata, private and non-https URLs are refused when saved (422 naming the field)
        for url in ("https://169.254.169.254", "https://10.0.0.8", "ftp://x.example.com", "https://0xa9fea9fe"):
            crm = {"provider": "hubspot", "access_token": TOKEN, "instance_url": url}
            response = stack.request("PATCH", "/v1/settings", {"crm": crm}, key=key)
            assert response.status == 422, (url, response.body)
            assert list(response.json()["fields"]) == ["crm.instance_url"]
        # ...while plain http to a loopback fake CRM is accepted on the local stage
        mapping = {
            "provider": "hubspot",
            "mode": "read_write",
            "webhook_secret": SECRET,
            "access_token": TOKEN,
            "instance_url": fake.url,
        }
        response = stack.request("PATCH", "/v1/settings", {"crm": mapping}, key=key)
        assert response.status == 200, response.body
        # Point 1: moving the mapping elsewhere without a new token is 422 naming crm.access_token
        moved = {k: v for k, v in mapping.items() if k != "access_token"} | {"instance_url": "https://x.example.com"}
        response = stack.request("PATCH", "/v1/settings", {"crm": moved}, key=key)
        assert response.status == 422, response.body
        assert "crm.access_token" in response.json()["fields"]

        # The dispatcher's write-back reaches the fake CRM with the token (loopback, local stage)
        contact = {"email": "e2e.crm@example.com", "attributes": {"crm_id": "501"}}
        assert stack.request("PUT", "/v1/contacts/c1", contact, key=key).status == 200
        change = {"contact_id": "c1", "channel": "email", "action": "enable", "source": "user"}
        assert stack.request("POST", "/v1/dnd", change, key=key).status == 200
        eventually(lambda: fake.requests)
        assert fake.requests[0]["path"] == "/crm/v3/objects/contacts/501"
        assert fake.requests[0]["authorization"] == f"Bearer {TOKEN}"

        # Point 9: HubSpot's own delivery on the workspace route, resolved through crm_id
        assert (
            stack.request(
                "PUT", "/v1/contacts/c2", {"attributes": {"crm_id": "777"}, "email": "two@example.com"}, key=key
            ).status
            == 200
        )
        event = {
            "eventId": 9001,
            "subscriptionId": 1,
            "portalId": 62515,
            "occurredAt": 1738314000000,
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": 777,
            "propertyName": "hs_email_optout",
            "propertyValue": "true",
            "changeSource": "CRM_UI",
        }
        now_ms = int(time.time() * 1000)
        response = hubspot_post(stack, workspace_id, [event], now_ms)
        assert response.status == 200, response.body
        assert response.json()["results"] == [{"ref": "777", "status": "enabled"}]
        # A retry is a duplicate; a correctly signed but stale delivery is 403
        retry = hubspot_post(stack, workspace_id, [{**event, "attemptNumber": 1}], int(time.time() * 1000))
        assert retry.json()["results"] == [{"ref": "777", "status": "duplicate"}]
        stale = hubspot_post(stack, workspace_id, [{**event, "eventId": 9002}], now_ms - 6 * 60 * 1000)
        assert stale.status == 403
        audit = stack.request("GET", "/v1/audit?contact_id=c2", key=key).json()["entries"]
        assert [(e["action"], e["source"]) for e in audit] == [("enabled", "crm")]
    finally:
        fake.close()
