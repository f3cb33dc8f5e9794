"""R19: the providers' parsers and signature checks (pure), on the documented samples in events/."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chalicelib.email_providers import WebhookRequest, mailgun, postmark, provider, sendgrid
from chalicelib.errors import Forbidden, InvalidInput, MalformedBody
from chalicelib.models.email_feedback import RULES, EmailFeedback
from infra.local.webhooks import basic_auth, mailgun_signature, public_key_b64, sendgrid_headers

EVENTS = Path(__file__).resolve().parents[2] / "events"


def sample(name: str) -> bytes:
    return (EVENTS / name).read_bytes()


def decided(feedback: list[EmailFeedback]) -> list[tuple[str, str, str, str, str]]:
    return [(f.recipient, f.action, f.reason, f.kind, f.source) for f in feedback]


def test_r19_every_signal_has_one_meaning_for_every_provider():
    assert {r.reason for r in RULES.values()} >= {"hard_bounce", "spam_complaint", "unsubscribed", "soft_bounce_limit"}
    assert RULES["unsubscribe"].source == "contact"
    assert all(
        r.source == "system" for s, r in RULES.items() if s not in ("unsubscribe", "reactivation", "resubscribe")
    )
    assert EmailFeedback("ses", "m-1", "a@b.co", "soft_bounce").delivery_key == "m-1"  # SES keeps its keys
    assert EmailFeedback("mailgun", "m-1", "a@b.co", "soft_bounce").delivery_key == "mailgun:m-1"


def test_r19_sendgrid_documented_batch():
    feedback = sendgrid.parse(sample("sendgrid-events.json"))
    assert decided(feedback) == [
        ("hard-bounce@example.com", "suppress", "hard_bounce", "temporary", "system"),
        ("blocked@example.com", "count_soft_bounce", "soft_bounce_limit", "temporary", "system"),
        ("dropped@example.com", "suppress", "suppression_list_bounce", "permanent", "system"),
        ("spam@example.com", "suppress", "spam_complaint", "permanent", "system"),
        ("unsubscribe@example.com", "suppress", "unsubscribed", "permanent", "contact"),
        ("group-unsubscribe@example.com", "suppress", "unsubscribed", "permanent", "contact"),
    ]
    assert feedback[0].event_id == "6g4ZI7SA-xmRDv57GoPIPw=="
    assert feedback[-1].group_id == 10


def test_r19_sendgrid_event_without_sg_event_id_gets_a_stable_id():
    body = b'[{"email": "a@example.com", "event": "spamreport", "timestamp": 1}]'
    first, again = sendgrid.parse(body), sendgrid.parse(body)
    assert first[0].event_id == again[0].event_id and first[0].event_id.startswith("sha256-")


@pytest.mark.parametrize("body", [b"{}", b"[1]", b"nope", b'"x"', b"[" * 100_000 + b"]" * 100_000])
def test_r19_sendgrid_body_must_be_an_array_of_objects(body):
    with pytest.raises(MalformedBody):
        sendgrid.parse(body)


def test_r19_sendgrid_signature_is_ecdsa_p256_over_timestamp_and_body():
    key = ec.generate_private_key(ec.SECP256R1())
    secret = public_key_b64(key)
    body = sample("sendgrid-events.json")
    now = int(time.time())
    request = WebhookRequest("ws", sendgrid_headers(key, body, now), body)
    sendgrid.authenticate(secret, request, now)
    with pytest.raises(Forbidden):
        sendgrid.authenticate(secret, WebhookRequest("ws", request.headers, body + b" "), now)
    with pytest.raises(Forbidden):
        sendgrid.authenticate(secret, request, now + 301)


def test_r19_sendgrid_key_as_sendgrid_shows_it_or_pem():
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    assert sendgrid.load_public_key(pem).curve.name == "secp256r1"
    assert sendgrid.load_public_key(public_key_b64(key)).curve.name == "secp256r1"
    for bad in ("", "bm90IGEga2V5", public_key_b64(ec.generate_private_key(ec.SECP384R1()))):
        with pytest.raises(ValueError):
            sendgrid.load_public_key(bad)


def test_r19_mailgun_documented_events():
    assert decided(mailgun.parse(sample("mailgun-failed-permanent.json"))) == [
        ("alice@example.com", "suppress", "hard_bounce", "temporary", "system")
    ]
    assert decided(mailgun.parse(sample("mailgun-failed-temporary.json")))[0][1] == "count_soft_bounce"
    assert decided(mailgun.parse(sample("mailgun-complained.json")))[0][2] == "spam_complaint"
    assert decided(mailgun.parse(sample("mailgun-unsubscribed.json")))[0][2:] == (
        "unsubscribed",
        "permanent",
        "contact",
    )
    dropped = json.loads(sample("mailgun-failed-permanent.json"))
    dropped["event-data"]["reason"] = "suppress-bounce"
    assert mailgun.parse(json.dumps(dropped).encode())[0].reason == "suppression_list_bounce"
    delivered = {**dropped, "event-data": {**dropped["event-data"], "event": "delivered"}}
    assert mailgun.parse(json.dumps(delivered).encode()) == []
    with pytest.raises(InvalidInput):
        mailgun.parse(b'{"event-data": {"event": "failed", "severity": "permanent"}}')  # no id


def test_r19_mailgun_signature_is_hmac_of_timestamp_and_token():
    now = int(time.time())
    body = json.dumps({"signature": mailgun_signature("key-1", now, "t" * 50), "event-data": {}}).encode()
    assert mailgun.authenticate("key-1", WebhookRequest("ws", {}, body), now).replay_token == "t" * 50
    for secret, at in (("key-2", now), ("key-1", now + 301)):
        with pytest.raises(Forbidden):
            mailgun.authenticate(secret, WebhookRequest("ws", {}, body), at)


def test_r19_postmark_documented_records():
    assert decided(postmark.parse(sample("postmark-bounce.json"))) == [
        ("john@example.com", "suppress", "hard_bounce", "temporary", "system")
    ]
    assert postmark.parse(sample("postmark-bounce-soft.json"))[0].action == "count_soft_bounce"
    assert postmark.parse(sample("postmark-spam-complaint.json"))[0].reason == "spam_complaint"
    assert postmark.parse(sample("postmark-subscription-change.json"))[0].source == "contact"
    assert postmark.parse(sample("postmark-reactivation.json"))[0].action == "clear"
    auto = {**json.loads(sample("postmark-bounce.json")), "Type": "AutoResponder"}
    assert postmark.parse(json.dumps(auto).encode()) == []
    assert postmark.parse(b'{"RecordType": "Delivery", "Recipient": "a@b.co"}') == []


def test_r19_postmark_basic_auth_password_is_the_secret():
    postmark.authenticate("s" * 20, WebhookRequest("ws", basic_auth("s" * 20), b"{}"), 0)
    for headers in (basic_auth("t" * 20), {}, {"Authorization": "Basic !!"}):
        with pytest.raises(Forbidden):
            postmark.authenticate("s" * 20, WebhookRequest("ws", headers, b"{}"), 0)


def test_r19_registry_names_each_provider_and_its_secret():
    assert provider("sendgrid").secret_setting == "sendgrid_webhook_public_key"
    assert provider("mailgun").secret_setting == "mailgun_signing_key"
    assert provider("postmark").secret_setting == "postmark_webhook_secret"
