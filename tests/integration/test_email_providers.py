"""R19: SendGrid, Mailgun and Postmark webhooks on the provider-neutral email feedback path, through
the HTTP routes (chalice.test.Client), with the samples in events/ signed as each provider signs."""

from __future__ import annotations

import base64
import copy
import json
import sys
import time
import types
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.services.context import get_services
from infra.local.webhooks import basic_auth, mailgun_signature, public_key_b64, sendgrid_headers
from tests.integration.conftest import Api
from tests.integration.test_dnd_events import dnd_events  # noqa: F401 (fixture)

EVENTS = Path(__file__).resolve().parents[2] / "events"
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
MAILGUN_KEY = "key-" + uuid.uuid4().hex
POSTMARK_SECRET = "pm-" + uuid.uuid4().hex


def load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture()
def hooked(api: Api) -> Api:
    """A workspace with every provider's webhook secret set."""
    status, body = api.patch(
        "/v1/settings",
        {
            "sendgrid_webhook_public_key": public_key_b64(SENDGRID_KEY),
            "mailgun_signing_key": MAILGUN_KEY,
            "postmark_webhook_secret": POSTMARK_SECRET,
        },
    )
    assert status == 200, body
    return api


def post_sendgrid(api: Api, events: Any, *, key: Any = SENDGRID_KEY, at: int | None = None, **kw: Any) -> Any:
    body = json.dumps(events).encode()
    headers = sendgrid_headers(key, body, int(time.time()) if at is None else at)
    headers.update(kw.pop("headers", {}))
    return api.post(
        f"/v1/webhooks/sendgrid/{kw.pop('workspace', api.workspace_id)}", raw=body, key=None, headers=headers
    )


def post_mailgun(api: Api, document: Any, *, signing_key: str = MAILGUN_KEY, at: int | None = None, token=None) -> Any:
    signed = {**document, "signature": mailgun_signature(signing_key, int(time.time()) if at is None else at, token)}
    return api.post(f"/v1/webhooks/mailgun/{api.workspace_id}", raw=json.dumps(signed), key=None)


def post_postmark(api: Api, record: Any, *, secret: str = POSTMARK_SECRET) -> Any:
    return api.post(
        f"/v1/webhooks/postmark/{api.workspace_id}", raw=json.dumps(record), key=None, headers=basic_auth(secret)
    )


def audit(api: Api, email: str) -> list[tuple[str, str, str, str]]:
    status, body = api.get("/v1/audit?" + urlencode({"email": email}))
    assert status == 200, body
    return [(e["action"], e["source"], e["reason"], e["kind"]) for e in body["entries"]]


def email_allowed(api: Api, email: str) -> bool:
    status, body = api.post("/v1/send-check", {"email": email, "channel": "email"})
    assert status == 200, body
    return body["allowed"]


# --- settings ---------------------------------------------------------------------------------------


def test_r19_provider_secrets_are_write_only_and_the_sendgrid_key_is_validated(api):
    # When a key that is not a P-256 public key is saved, Then 422 names the field and nothing is stored
    status, body = api.patch("/v1/settings", {"sendgrid_webhook_public_key": "bm90IGEga2V5"})
    assert status == 422 and "sendgrid_webhook_public_key" in body["fields"], body
    rsa_like = public_key_b64(ec.generate_private_key(ec.SECP384R1()))  # a real key, wrong curve
    status, body = api.patch("/v1/settings", {"sendgrid_webhook_public_key": rsa_like})
    assert status == 422 and "sendgrid_webhook_public_key" in body["fields"], body
    status, body = api.patch("/v1/settings", {"postmark_webhook_secret": "short"})
    assert status == 422 and "postmark_webhook_secret" in body["fields"], body
    # When valid secrets are saved, Then GET shows only that they are set
    status, body = api.patch(
        "/v1/settings",
        {"sendgrid_webhook_public_key": public_key_b64(SENDGRID_KEY), "mailgun_signing_key": MAILGUN_KEY},
    )
    assert status == 200, body
    status, view = api.get("/v1/settings")
    assert view["sendgrid_webhook_public_key_set"] is True and view["mailgun_signing_key_set"] is True
    assert view["postmark_webhook_secret_set"] is False
    assert MAILGUN_KEY not in json.dumps(view) and "sendgrid_webhook_public_key" not in view
    # And a PATCH that omits them (or sends the view back) keeps them
    assert api.patch("/v1/settings", {**view, "soft_bounce_limit": 4})[0] == 200
    assert api.get("/v1/settings")[1]["mailgun_signing_key_set"] is True


# --- SendGrid ---------------------------------------------------------------------------------------


def test_r19_sendgrid_batch_every_event_kind_lands_as_stated(hooked, dnd_events):  # noqa: F811
    # Given the documented batch (bounce, blocked, dropped, spamreport, unsubscribe, group_unsubscribe, ...)
    status, body = post_sendgrid(hooked, load("sendgrid-events.json"))
    assert status == 200, body
    assert body == {"received": 6, "applied": 5, "duplicates": 0, "counted": 1, "skipped": 0}
    assert audit(hooked, "hard-bounce@example.com") == [("enabled", "system", "hard_bounce", "temporary")]
    assert audit(hooked, "blocked@example.com") == []  # a soft bounce: counted, below the limit
    assert email_allowed(hooked, "blocked@example.com")
    assert audit(hooked, "dropped@example.com") == [("enabled", "system", "suppression_list_bounce", "permanent")]
    assert audit(hooked, "spam@example.com") == [("enabled", "system", "spam_complaint", "permanent")]
    assert audit(hooked, "unsubscribe@example.com") == [("enabled", "contact", "unsubscribed", "permanent")]
    assert audit(hooked, "group-unsubscribe@example.com") == [("enabled", "contact", "unsubscribed", "permanent")]
    assert audit(hooked, "deferred@example.com") == [] and email_allowed(hooked, "deferred@example.com")
    assert not email_allowed(hooked, "spam@example.com")
    # And each change is published as dnd.changed, with ids only
    events = dnd_events(hooked.workspace_id)
    assert sorted((e["reason"], e["source"]) for _, e in events) == sorted(
        [
            ("hard_bounce", "system"),
            ("suppression_list_bounce", "system"),
            ("spam_complaint", "system"),
            ("unsubscribed", "contact"),
            ("unsubscribed", "contact"),
        ]
    )
    assert all("@" not in raw for raw, _ in events)
    # When SendGrid redelivers the batch, Then no audit entry is added
    status, body = post_sendgrid(hooked, load("sendgrid-events.json"))
    assert status == 200 and body["applied"] == 0 and body["duplicates"] == 5, body
    assert len(audit(hooked, "hard-bounce@example.com")) == 1
    assert len(audit(hooked, "unsubscribe@example.com")) == 1


def test_r19_sendgrid_dropped_reasons_that_are_not_suppressions_change_nothing(hooked):
    events = [
        {"email": "a@example.com", "event": "dropped", "reason": "Invalid SMTPAPI header", "sg_event_id": "d1"},
        {"email": "b@example.com", "event": "dropped", "reason": "Unsubscribed Address", "sg_event_id": "d2"},
        {"email": "c@example.com", "event": "dropped", "reason": "Spam Reporting Address", "sg_event_id": "d3"},
        {"email": "d@example.com", "event": "dropped", "reason": "Invalid", "sg_event_id": "d4"},
    ]
    assert post_sendgrid(hooked, events)[0] == 200
    assert audit(hooked, "a@example.com") == []
    assert audit(hooked, "b@example.com") == [("enabled", "contact", "unsubscribed", "permanent")]
    assert audit(hooked, "c@example.com") == [("enabled", "system", "spam_complaint", "permanent")]
    assert audit(hooked, "d@example.com") == [("enabled", "system", "hard_bounce", "temporary")]


@pytest.mark.parametrize(
    "tamper",
    ["other_key", "stale", "future", "body_changed", "no_signature", "garbage_signature"],
)
def test_r19_sendgrid_bad_signature_is_403_and_changes_nothing(hooked, tamper, monkeypatch):
    events = [{"email": "victim@example.com", "event": "spamreport", "sg_event_id": uuid.uuid4().hex}]
    now = int(time.time())
    # The handler's clock stays at the signing second (else "future" is 300 s ahead once a second ticks)
    monkeypatch.setattr(get_services(), "clock", lambda: datetime.fromtimestamp(now, UTC))
    if tamper == "other_key":
        status, _ = post_sendgrid(hooked, events, key=ec.generate_private_key(ec.SECP256R1()))
    elif tamper in ("stale", "future"):
        status, _ = post_sendgrid(hooked, events, at=now - 301 if tamper == "stale" else now + 301)
    else:
        body = json.dumps(events).encode()
        headers = sendgrid_headers(SENDGRID_KEY, body, now)
        if tamper == "body_changed":
            body = body.replace(b"spamreport", b"unsubscribe")
        elif tamper == "no_signature":
            headers.pop("X-Twilio-Email-Event-Webhook-Signature")
        else:
            headers["X-Twilio-Email-Event-Webhook-Signature"] = "not base64!"
        status, _ = hooked.post(f"/v1/webhooks/sendgrid/{hooked.workspace_id}", raw=body, key=None, headers=headers)
    assert status == 403
    assert audit(hooked, "victim@example.com") == []
    assert email_allowed(hooked, "victim@example.com")


def test_r19_a_workspace_without_the_secret_or_unknown_is_403(hooked, other_api):
    events = [{"email": "x@example.com", "event": "spamreport", "sg_event_id": "e"}]
    assert post_sendgrid(hooked, events, workspace="ws-does-not-exist")[0] == 403
    assert post_sendgrid(hooked, events, workspace="bad id!")[0] in (403, 404)
    # A workspace that set no key: signed with another workspace's key, still refused
    assert post_sendgrid(hooked, events, workspace=other_api.workspace_id)[0] == 403
    assert post_mailgun(other_api, load("mailgun-complained.json"))[0] == 403
    assert post_postmark(other_api, load("postmark-spam-complaint.json"))[0] == 403
    assert audit(other_api, "x@example.com") == [] and audit(other_api, "complainer@example.com") == []


def test_r19_a_signed_but_malformed_body_is_4xx_and_changes_nothing(hooked):
    for body in (b"not json", b'{"event": "spamreport"}', b'["not an object"]'):
        headers = sendgrid_headers(SENDGRID_KEY, body, int(time.time()))
        status, answer = hooked.post(
            f"/v1/webhooks/sendgrid/{hooked.workspace_id}", raw=body, key=None, headers=headers
        )
        assert status == 400, answer
    status, answer = post_mailgun(hooked, {"no": "event-data"})
    assert status == 422 and "event-data" in answer["fields"]
    status, answer = post_postmark(hooked, {"RecordType": "Bounce", "Type": "HardBounce", "ID": 1})
    assert status == 422 and "Email" in answer["fields"]


# --- Mailgun ----------------------------------------------------------------------------------------


# The same four outcomes from each provider's own samples: (hard bounce, soft bounce, complaint,
# unsubscribe) files, and the address of the hard bounce.
LANDS_AS_STATED = {
    "mailgun": (
        (
            "mailgun-failed-permanent.json",
            "mailgun-failed-temporary.json",
            "mailgun-complained.json",
            "mailgun-unsubscribed.json",
        ),
        "alice@example.com",
    ),
    "postmark": (
        (
            "postmark-bounce.json",
            "postmark-bounce-soft.json",
            "postmark-spam-complaint.json",
            "postmark-subscription-change.json",
        ),
        "john@example.com",
    ),
}


@pytest.mark.parametrize("provider", sorted(LANDS_AS_STATED))
def test_r19_mailgun_and_postmark_events_land_as_stated_and_exactly_once(hooked, provider: str):
    post = {"mailgun": post_mailgun, "postmark": post_postmark}[provider]
    (hard, soft, complaint, unsubscribe), hard_bounced = LANDS_AS_STATED[provider]
    assert post(hooked, load(hard))[0] == 200
    assert audit(hooked, hard_bounced) == [("enabled", "system", "hard_bounce", "temporary")]
    status, body = post(hooked, load(soft))
    assert status == 200 and body["counted"] == 1 and audit(hooked, "soft@example.com") == []
    assert post(hooked, load(complaint))[0] == 200
    assert audit(hooked, "complainer@example.com") == [("enabled", "system", "spam_complaint", "permanent")]
    assert post(hooked, load(unsubscribe))[0] == 200
    assert audit(hooked, "leaver@example.com") == [("enabled", "contact", "unsubscribed", "permanent")]
    # When the provider redelivers an event (Mailgun: a new signature, the same event), Then nothing is added
    status, body = post(hooked, load(hard))
    assert status == 200 and body["duplicates"] == 1
    assert len(audit(hooked, hard_bounced)) == 1
    status, body = post(hooked, load(soft))
    assert body["counted"] == 0  # the same soft bounce is not counted twice


def test_r19_mailgun_refuses_bad_stale_and_reused_signatures(hooked):
    document = load("mailgun-complained.json")
    assert post_mailgun(hooked, document, signing_key="key-wrong")[0] == 403
    assert post_mailgun(hooked, document, at=int(time.time()) - 301)[0] == 403
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    assert hooked.post(f"/v1/webhooks/mailgun/{hooked.workspace_id}", raw=json.dumps(unsigned), key=None)[0] == 403
    assert audit(hooked, "complainer@example.com") == []
    # A token is good once: the same signed request replayed is refused
    token = uuid.uuid4().hex
    assert post_mailgun(hooked, document, token=token)[0] == 200
    other = copy.deepcopy(load("mailgun-unsubscribed.json"))
    assert post_mailgun(hooked, other, token=token)[0] == 403
    assert audit(hooked, "leaver@example.com") == []


# --- Postmark ---------------------------------------------------------------------------------------


def test_r19_postmark_suppression_by_the_team_and_reactivation_follow_the_clearing_rules(hooked):
    # Given john hard-bounced and leaver unsubscribed through Postmark
    post_postmark(hooked, load("postmark-bounce.json"))
    post_postmark(hooked, load("postmark-subscription-change.json"))
    # When the team suppresses someone at Postmark, Then it is a temporary provider suppression
    team = {**load("postmark-subscription-change.json"), "Recipient": "team@example.com", "Origin": "Customer"}
    post_postmark(hooked, team)
    assert audit(hooked, "team@example.com") == [("enabled", "system", "provider_suppression", "temporary")]
    # When the team reactivates john and leaver at Postmark
    assert post_postmark(hooked, load("postmark-reactivation.json"))[0] == 200
    leaver = {**load("postmark-reactivation.json"), "Recipient": "leaver@example.com"}
    assert post_postmark(hooked, leaver)[0] == 200
    # Then the bounce is cleared, the person's own unsubscribe is not
    assert email_allowed(hooked, "john@example.com")
    assert audit(hooked, "john@example.com")[-1] == ("disabled", "user", "hard_bounce", "temporary")
    assert not email_allowed(hooked, "leaver@example.com")
    assert audit(hooked, "leaver@example.com") == [("enabled", "contact", "unsubscribed", "permanent")]


def test_r19_postmark_without_the_right_password_is_403(hooked):
    record = load("postmark-spam-complaint.json")
    assert post_postmark(hooked, record, secret="wrong-secret-wrong-secret")[0] == 403
    path = f"/v1/webhooks/postmark/{hooked.workspace_id}"
    assert hooked.post(path, raw=json.dumps(record), key=None)[0] == 403
    bearer = {"Authorization": "Bearer " + POSTMARK_SECRET}
    assert hooked.post(path, raw=json.dumps(record), key=None, headers=bearer)[0] == 403
    garbage = {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}
    assert hooked.post(path, raw=json.dumps(record), key=None, headers=garbage)[0] == 403
    assert audit(hooked, "complainer@example.com") == []


# --- across providers -------------------------------------------------------------------------------


def test_r19_soft_bounces_from_every_provider_count_toward_one_limit(hooked):
    import app as app_module
    from tests.integration.test_ses import deliver, for_workspace

    assert hooked.patch("/v1/settings", {"soft_bounce_limit": 4, "soft_bounce_window_days": 7})[0] == 200
    email = "soft@example.com"
    # Given soft bounces for one address from SES, SendGrid and Mailgun
    ses = for_workspace("ses-bounce-transient.json", hooked.workspace_id)
    message = json.loads(ses["Records"][0]["Sns"]["Message"])
    message["bounce"]["bouncedRecipients"][0]["emailAddress"] = email
    ses["Records"][0]["Sns"]["Message"] = json.dumps(message)
    deliver(app_module.on_ses_notification, ses)
    blocked = [{"email": email, "event": "bounce", "type": "blocked", "sg_event_id": uuid.uuid4().hex}]
    assert post_sendgrid(hooked, blocked)[0] == 200
    assert post_mailgun(hooked, load("mailgun-failed-temporary.json"))[0] == 200
    assert email_allowed(hooked, email) and audit(hooked, email) == []
    # When Postmark reports the fourth, Then the limit is reached: temporary email DND, once
    assert post_postmark(hooked, load("postmark-bounce-soft.json"))[0] == 200
    assert not email_allowed(hooked, email)
    assert audit(hooked, email) == [("enabled", "system", "soft_bounce_limit", "temporary")]


def test_r19_webhook_logs_carry_no_address(hooked, capsys):
    events = [{"email": "secret-person@example.com", "event": "spamreport", "sg_event_id": uuid.uuid4().hex}]
    assert post_sendgrid(hooked, events)[0] == 200
    captured = capsys.readouterr()
    assert "secret-person" not in captured.out + captured.err


# --- SendGrid unsubscribe groups and topics (R16) ---------------------------------------------------


def test_r19_a_group_unsubscribe_lands_on_the_topic_that_maps_its_asm_group(hooked):
    # Given topic newsletter stands for SendGrid unsubscribe group 10
    body = {"name": "Newsletter", "channels": ["email"], "sendgrid_asm_group_id": 10}
    assert hooked.put("/v1/topics/newsletter", body)[0] == 200
    email = "group-unsubscribe@example.com"
    group = [e for e in load("sendgrid-events.json") if e["event"] == "group_unsubscribe"]
    # When SendGrid reports the person left group 10
    status, answer = post_sendgrid(hooked, group)
    assert status == 200 and answer["applied"] == 1, answer
    # Then the topic is unsubscribed on email, not the whole channel
    status, view = hooked.post("/v1/send-check", {"email": email, "channel": "email", "topic_id": "newsletter"})
    assert view["allowed"] is False and view["blocked_by"][0]["type"] == "topic", view
    assert email_allowed(hooked, email)  # other mail still goes
    status, body = hooked.get("/v1/audit?" + urlencode({"email": email}))
    [entry] = body["entries"]
    assert (entry["source"], entry["topic_id"]) == ("contact", "newsletter")
    # And a redelivery adds nothing; a group_resubscribe is the person's own re-opt-in to the topic
    assert post_sendgrid(hooked, group)[1]["duplicates"] == 1
    resubscribe = [{**group[0], "event": "group_resubscribe", "sg_event_id": uuid.uuid4().hex}]
    assert post_sendgrid(hooked, resubscribe)[0] == 200
    status, view = hooked.post("/v1/send-check", {"email": email, "channel": "email", "topic_id": "newsletter"})
    assert view["allowed"] is True, view
    # A group no topic maps: the person's unsubscribe from email as a whole; its resubscribe changes nothing
    other = [{**group[0], "asm_group_id": 99, "email": "other@example.com", "sg_event_id": uuid.uuid4().hex}]
    assert post_sendgrid(hooked, other)[0] == 200
    assert audit(hooked, "other@example.com") == [("enabled", "contact", "unsubscribed", "permanent")]
    back = [{**other[0], "event": "group_resubscribe", "sg_event_id": uuid.uuid4().hex}]
    assert post_sendgrid(hooked, back)[0] == 200
    assert not email_allowed(hooked, "other@example.com")


# --- the provider registry (#12): a provider is one entry in chalicelib/email_providers/registry.py ----


def test_r19_a_registered_provider_feeds_the_one_feedback_path(hooked, monkeypatch):
    # Given a provider added to the registry in this test only (its secret: an existing setting)
    from chalicelib.email_providers import Verified, WebhookRequest, forbidden, json_object
    from chalicelib.email_providers.registry import EMAIL_PROVIDERS, EmailProvider
    from chalicelib.errors import Forbidden
    from chalicelib.models.email_feedback import EmailFeedback
    from chalicelib.services.context import get_services
    from chalicelib.services.email_webhooks import handle_email_webhook

    def authenticate(secret: str, request: WebhookRequest, now: int) -> Verified:
        if request.header("X-Acme-Key") != secret:
            raise forbidden("does not match", "X-Acme-Key")
        return Verified()

    def parse(body: bytes) -> list[EmailFeedback]:
        event = json_object(body)
        return [EmailFeedback("acme_mail", event["id"], event["to"], "complaint")]

    module = types.ModuleType("acme_mail")  # stands for chalicelib/email_providers/acme_mail.py
    module.authenticate, module.parse = authenticate, parse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "acme_mail", module)
    acme = EmailProvider("acme_mail", "postmark_webhook_secret", "", "", "object", module="acme_mail")
    monkeypatch.setitem(EMAIL_PROVIDERS, "acme_mail", acme)
    body = json.dumps({"id": "m-1", "to": "acme.victim@example.com"}).encode()

    # When a request it did not sign arrives, Then it is refused and nothing is recorded
    forged = WebhookRequest(hooked.workspace_id, {"X-Acme-Key": "wrong"}, body)
    with pytest.raises(Forbidden):
        handle_email_webhook(get_services(), "acme_mail", forged)
    assert audit(hooked, "acme.victim@example.com") == []

    # When it signs one (twice: a redelivery), Then its parser's feedback is recorded once, as a complaint
    signed = WebhookRequest(hooked.workspace_id, {"X-Acme-Key": POSTMARK_SECRET}, body)
    first = handle_email_webhook(get_services(), "acme_mail", signed)
    again = handle_email_webhook(get_services(), "acme_mail", signed)
    assert (first["applied"], again["applied"], again["duplicates"]) == (1, 0, 1)
    assert audit(hooked, "acme.victim@example.com") == [("enabled", "system", "spam_complaint", "permanent")]


def test_r19_every_registered_provider_has_its_route_its_document_and_a_write_only_secret(api):
    # Given the registry, Then each provider has a route, an OpenAPI operation, and a write-only setting
    import app
    from chalicelib.email_providers.registry import EMAIL_PROVIDERS
    from chalicelib.models.domain import WorkspaceSettings
    from chalicelib.openapi import OPERATIONS

    status, shown = api.get("/v1/settings")
    assert status == 200, shown
    for name, provider in EMAIL_PROVIDERS.items():
        path = f"/v1/webhooks/{name}/{{workspace_id}}"
        assert "POST" in app.app.routes[path]
        assert OPERATIONS[(path, "POST")].summary == provider.summary
        assert provider.secret_setting in WorkspaceSettings.model_fields
        assert provider.secret_setting not in shown and shown[provider.secret_setting + "_set"] is False
