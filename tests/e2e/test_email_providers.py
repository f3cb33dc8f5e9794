"""R19 over real HTTP on the local stack (`python -m infra.local`): SendGrid, Mailgun and Postmark
webhooks with the documented payloads in events/, signed as each provider signs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from infra.local.webhooks import basic_auth, mailgun_signature, public_key_b64, sendgrid_headers

from .conftest import REPO_ROOT, HttpResponse, LocalStack
from .test_local_stack import eventually, publish_to_ses_topic, require_handler

pytestmark = pytest.mark.e2e

EVENTS = REPO_ROOT / "events"
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
MAILGUN_KEY = "key-" + uuid.uuid4().hex
POSTMARK_SECRET = "pm-" + uuid.uuid4().hex


def load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


class Workspace:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.id = f"e2e-{uuid.uuid4().hex[:12]}"
        created = stack.request("POST", "/v1/admin/workspaces", {"workspace_id": self.id}, key=stack.admin_key)
        assert created.status == 201, created.body
        self.key = created.json()["api_key"]

    def patch_settings(self, body: dict[str, Any]) -> HttpResponse:
        return self.stack.request("PATCH", "/v1/settings", body, key=self.key)

    def sendgrid(self, events: Any, key: Any = SENDGRID_KEY, at: int | None = None) -> HttpResponse:
        body = json.dumps(events).encode()
        headers = sendgrid_headers(key, body, int(time.time()) if at is None else at)
        return self.stack.request("POST", f"/v1/webhooks/sendgrid/{self.id}", body, headers=headers)

    def mailgun(self, document: Any, signing_key: str = MAILGUN_KEY) -> HttpResponse:
        signed = {**document, "signature": mailgun_signature(signing_key, int(time.time()))}
        return self.stack.request("POST", f"/v1/webhooks/mailgun/{self.id}", signed)

    def postmark(self, record: Any, secret: str = POSTMARK_SECRET) -> HttpResponse:
        return self.stack.request("POST", f"/v1/webhooks/postmark/{self.id}", record, headers=basic_auth(secret))

    def audit(self, email: str) -> list[tuple[str, str, str, str]]:
        response = self.stack.request("GET", "/v1/audit?" + urlencode({"email": email}), key=self.key)
        assert response.status == 200, response.body
        return [(e["action"], e["source"], e["reason"], e["kind"]) for e in response.json()["entries"]]

    def allowed(self, email: str) -> bool:
        response = self.stack.request("POST", "/v1/send-check", {"email": email, "channel": "email"}, key=self.key)
        assert response.status == 200, response.body
        return bool(response.json()["allowed"])


@pytest.fixture()
def workspace(local_stack: LocalStack) -> Workspace:
    ws = Workspace(local_stack)
    response = ws.patch_settings(
        {
            "sendgrid_webhook_public_key": public_key_b64(SENDGRID_KEY),
            "mailgun_signing_key": MAILGUN_KEY,
            "postmark_webhook_secret": POSTMARK_SECRET,
        }
    )
    assert response.status == 200, response.body
    return ws


HARD = ("enabled", "system", "hard_bounce", "temporary")
COMPLAINT = ("enabled", "system", "spam_complaint", "permanent")
UNSUBSCRIBED = ("enabled", "contact", "unsubscribed", "permanent")


def test_r19_every_provider_event_kind_lands_as_stated_and_redelivery_adds_nothing(workspace):
    # SendGrid: the documented batch
    response = workspace.sendgrid(load("sendgrid-events.json"))
    assert response.status == 200, response.body
    assert workspace.audit("hard-bounce@example.com") == [HARD]
    assert workspace.audit("dropped@example.com") == [("enabled", "system", "suppression_list_bounce", "permanent")]
    assert workspace.audit("spam@example.com") == [COMPLAINT]
    assert workspace.audit("unsubscribe@example.com") == [UNSUBSCRIBED]
    assert workspace.audit("group-unsubscribe@example.com") == [UNSUBSCRIBED]
    assert workspace.audit("blocked@example.com") == [] and workspace.audit("deferred@example.com") == []
    # Mailgun
    for name in ("mailgun-failed-permanent.json", "mailgun-complained.json", "mailgun-unsubscribed.json"):
        assert workspace.mailgun(load(name)).status == 200
    assert workspace.audit("alice@example.com") == [HARD]
    assert workspace.audit("complainer@example.com") == [COMPLAINT]
    assert workspace.audit("leaver@example.com") == [UNSUBSCRIBED]
    # Postmark
    for name in ("postmark-bounce.json", "postmark-spam-complaint.json"):
        assert workspace.postmark(load(name)).status == 200
    assert workspace.audit("john@example.com") == [HARD]
    assert workspace.audit("complainer@example.com") == [COMPLAINT]  # same reason again: no second entry
    assert not workspace.allowed("john@example.com") and not workspace.allowed("spam@example.com")
    # When every provider redelivers (freshly signed), Then no audit entry is added
    assert workspace.sendgrid(load("sendgrid-events.json")).json()["duplicates"] == 5
    assert workspace.mailgun(load("mailgun-failed-permanent.json")).json()["duplicates"] == 1
    assert workspace.postmark(load("postmark-bounce.json")).json()["duplicates"] == 1
    assert workspace.audit("hard-bounce@example.com") == [HARD]
    assert workspace.audit("alice@example.com") == [HARD]
    assert workspace.audit("john@example.com") == [HARD]


def test_r19_bad_signatures_change_nothing(workspace):
    victim = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    complaint = [{"email": victim, "event": "spamreport", "sg_event_id": uuid.uuid4().hex}]
    assert workspace.sendgrid(complaint, key=ec.generate_private_key(ec.SECP256R1())).status == 403
    assert workspace.sendgrid(complaint, at=int(time.time()) - 600).status == 403
    mailgun = load("mailgun-complained.json")
    mailgun["event-data"]["recipient"] = victim
    assert workspace.mailgun(mailgun, signing_key="key-not-the-workspaces").status == 403
    postmark = {**load("postmark-spam-complaint.json"), "Email": victim}
    assert workspace.postmark(postmark, secret="not-the-workspace-secret").status == 403
    assert workspace.audit(victim) == []
    assert workspace.allowed(victim)


def test_r19_soft_bounces_from_different_providers_count_toward_one_limit(workspace, local_stack):
    require_handler(local_stack, "on_ses_notification")
    assert workspace.patch_settings({"soft_bounce_limit": 4}).status == 200
    email = "soft@example.com"
    # SES (through SNS and the dispatcher), SendGrid, Mailgun: three soft bounces
    ses = json.loads(json.loads((EVENTS / "ses-bounce-transient.json").read_text())["Records"][0]["Sns"]["Message"])
    ses["mail"]["messageId"] = uuid.uuid4().hex
    ses["mail"]["headers"].append({"name": "X-Optout-Workspace", "value": workspace.id})
    ses["bounce"]["bouncedRecipients"][0]["emailAddress"] = email
    publish_to_ses_topic(local_stack, ses)
    blocked = [{"email": email, "event": "bounce", "type": "blocked", "sg_event_id": uuid.uuid4().hex}]
    assert workspace.sendgrid(blocked).json()["counted"] == 1
    assert workspace.mailgun(load("mailgun-failed-temporary.json")).json()["counted"] == 1
    assert workspace.allowed(email)
    # When Postmark reports a fourth, Then temporary email DND (set by whichever bounce is counted
    # fourth: the SES one is consumed asynchronously by the dispatcher), once
    assert workspace.postmark(load("postmark-bounce-soft.json")).json()["counted"] == 1
    eventually(lambda: not workspace.allowed(email))
    assert workspace.audit(email) == [("enabled", "system", "soft_bounce_limit", "temporary")]


def test_r19_make_post_webhook_signs_for_the_default_workspace(local_stack, tmp_path: Path):
    # Given the stack configured its development webhook secrets on workspace default
    address = f"make-{uuid.uuid4().hex[:8]}@example.com"
    for provider, document in (
        ("sendgrid", [{"email": address, "event": "spamreport", "sg_event_id": uuid.uuid4().hex}]),
        ("mailgun", {**load("mailgun-unsubscribed.json")}),
        ("postmark", {**load("postmark-bounce.json"), "Email": address, "ID": uuid.uuid4().int % 10**12}),
    ):
        if provider == "mailgun":
            document["event-data"] = {**document["event-data"], "recipient": address, "id": uuid.uuid4().hex}
        sample = tmp_path / f"{provider}.json"
        sample.write_text(json.dumps(document))
        # When the tool behind `make post-webhook` posts it
        run = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "infra.local.webhooks", provider, str(sample), "--url", local_stack.api_url],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        # Then the stack accepts it
        assert run.returncode == 0, run.stdout + run.stderr
        assert " -> 200 " in run.stdout
    response = local_stack.request("GET", "/v1/audit?" + urlencode({"email": address}), key=local_stack.api_key)
    reasons = [e["reason"] for e in response.json()["entries"]]
    assert reasons == ["spam_complaint", "unsubscribed", "hard_bounce"], reasons
