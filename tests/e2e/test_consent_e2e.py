"""R15 over real HTTP on the local stack (`python -m infra.local`), as Twilio and a CRM integration
would call it: webhooks signed by twilio's RequestValidator against OPTOUT_PUBLIC_URL + path (+ the
query string as configured), STOP variants, a revocation phrase, a flag listed and resolved."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from tests.e2e.conftest import LocalStack

AUTH_TOKEN = "e2e-consent-twilio-token-0123456789"


class Workspace:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.workspace_id = "ws-consent-" + uuid.uuid4().hex[:8]
        created = stack.request(
            "POST",
            "/v1/admin/workspaces",
            {"workspace_id": self.workspace_id, "twilio_auth_token": AUTH_TOKEN},
            key=stack.admin_key,
        )
        assert created.status == 201, created.body
        self.key = created.json()["api_key"]

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        response = self.stack.request(method, path, body, key=self.key)
        return response.status, response.json() if response.body else None

    def sms(self, phone: str, body: str, *, query: str = "", sender_prefix: str = "") -> tuple[int, str]:
        """An inbound message as Twilio posts it, signed over the URL configured in Twilio."""
        params = {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "AccountSid": "AC" + "0" * 32,
            "From": sender_prefix + phone,
            "To": sender_prefix + "+14155550100",
            "Body": body,
            "NumMedia": "0",
            "ApiVersion": "2010-04-01",
        }
        path = f"/v1/webhooks/twilio/{self.workspace_id}/sms" + (f"?{query}" if query else "")
        signature = RequestValidator(AUTH_TOKEN).compute_signature(self.stack.api_url + path, params)
        response = self.stack.request(
            "POST",
            path,
            urlencode(params).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
        )
        return response.status, response.body.decode()

    def allowed(self, phone: str, channel: str = "sms") -> bool:
        status, body = self.api("POST", "/v1/send-check", {"phone": phone, "channel": channel})
        assert status == 200, body
        return bool(body["allowed"])


def phone(n: int) -> str:
    return f"+1415555{n:04d}"


def test_r15_stop_variants_revocation_and_flags_over_http(local_stack: LocalStack):
    ws = Workspace(local_stack)
    # STOP variants, each from its own number: all opt out of SMS, each answered once
    variants = ["STOP" + " " * 70, "Arrêt", "stop-all", "BAJA", "Opt-Out!", "unsub"]
    for n, word in enumerate(variants):
        status, twiml = ws.sms(phone(1000 + n), word)
        assert status == 200 and "<Message>" in twiml, (word, twiml)
        assert not ws.allowed(phone(1000 + n)), word
    # a URL configured with a query string (issue 11.7)
    status, _ = ws.sms(phone(1100), "STOP", query="note=x%20y&k=1&k=2")
    assert status == 200 and not ws.allowed(phone(1100))
    # WhatsApp: only the whatsapp channel of that number
    assert ws.sms(phone(1200), "STOP", sender_prefix="whatsapp:")[0] == 200
    assert not ws.allowed(phone(1200), "whatsapp") and ws.allowed(phone(1200), "sms")
    # a clear revocation phrase opts out like STOP
    assert ws.sms(phone(1300), "Please stop texting me")[0] == 200
    assert not ws.allowed(phone(1300))
    # "can you stop by" changes nothing
    assert ws.sms(phone(1400), "can you stop by tomorrow?")[0] == 200
    assert ws.allowed(phone(1400))
    # an ambiguous one is a flag, listed and resolved by a person
    assert ws.api("PUT", "/v1/contacts/c-flag", {"phone": phone(1500)})[0] == 200
    assert ws.sms(phone(1500), "not interested")[0] == 200
    assert ws.allowed(phone(1500))
    status, page = ws.api("GET", "/v1/flags?status=open")
    assert status == 200, page
    (flag,) = page["flags"]
    assert flag["contact_ids"] == ["c-flag"] and flag["due_by"] > flag["at"]
    status, resolved = ws.api("POST", f"/v1/flags/{flag['flag_id']}", {"resolution": "opt_out", "actor": "rep-e2e"})
    assert status == 200 and resolved["status"] == "resolved", resolved
    assert not ws.allowed(phone(1500))
    status, again = ws.api("POST", f"/v1/flags/{flag['flag_id']}", {"resolution": "dismiss", "actor": "rep-e2e"})
    assert status == 409 and again["error"] == "flag_resolved"
    # a forged request is 403 and changes nothing
    response = local_stack.request(
        "POST",
        f"/v1/webhooks/twilio/{ws.workspace_id}/sms",
        urlencode({"From": phone(1600), "Body": "STOP", "MessageSid": "SM" + "9" * 32}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "AAAA"},
    )
    assert response.status == 403 and ws.allowed(phone(1600))


def test_r15_auto_reply_changes_nothing_over_http(local_stack: LocalStack):
    ws = Workspace(local_stack)
    assert ws.api("PUT", "/v1/contacts/ann", {"email": "ann@example.com"})[0] == 200
    assert ws.api("PUT", "/v1/sequences/s1", {})[0] == 200
    assert ws.api("POST", "/v1/sequences/s1/enrollments", {"contact_id": "ann"})[0] == 201
    reply = {
        "contact_id": "ann",
        "sequence_id": "s1",
        "body": "I am out until Monday. To unsubscribe, reply STOP.",
        "subject": "Réponse automatique : Re: démo",
        "headers": {"Auto-Submitted": "auto-replied"},
    }
    status, answer = ws.api("POST", "/v1/replies", reply)
    assert status == 200 and answer == {"unenrolled": [], "opted_out": False, "ignored": "auto_reply"}, answer
    status, check = ws.api("POST", "/v1/send-check", {"contact_id": "ann", "channel": "email", "sequence_id": "s1"})
    assert check["allowed"] is True, check
