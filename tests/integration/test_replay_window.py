"""Issue 11 point 10 (R12): the exactly-once marker of a consent-changing delivery lives at least 400
days, so a captured, correctly signed Twilio START (or CRM change) cannot be replayed after a month."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from chalicelib.store.aws import client
from tests.integration.conftest import Api, Twilio, post_signed_crm_webhook

REPLAY_WINDOW_DAYS = 400


def markers_about(text: str) -> list[dict[str, Any]]:
    """Every exactly-once marker whose id mentions ``text`` (a MessageSid, a CRM event id)."""
    table = os.environ["OPTOUT_IDEMPOTENCY_TABLE"]
    items = client("dynamodb").scan(TableName=table)["Items"]
    return [item for item in items if text in item["id"]["S"]]


def test_r12_a_signed_start_is_not_replayable_for_400_days(twilio: Twilio):  # noqa: F811
    # Given a STOP and then a signed START from the phone (Twilio's own MessageSids)
    stop_sid, start_sid = "SM" + "5" * 32, "SM" + "6" * 32
    before = int(time.time())  # before both deliveries: each marker's expiry is measured from it
    assert twilio.sms("twilio-sms-stop.txt", changes={"MessageSid": stop_sid, "SmsSid": stop_sid})[0] == 200
    assert twilio.sms("twilio-sms-start.txt", changes={"MessageSid": start_sid, "SmsSid": start_sid})[0] == 200
    # When the markers of those deliveries are read
    for sid in (stop_sid, start_sid):
        markers = markers_about(f"{twilio.workspace_id}#{sid}")
        # Then each expires (DynamoDB TTL attribute) no sooner than 400 days from now
        assert markers, sid
        for marker in markers:
            assert int(marker["expiration"]["N"]) >= before + REPLAY_WINDOW_DAYS * 24 * 3600, marker
    # And the same signed START sent again changes nothing (one audit entry of it)
    assert twilio.sms("twilio-sms-start.txt", changes={"MessageSid": start_sid, "SmsSid": start_sid})[0] == 200
    entries = twilio.api.get("/v1/audit?phone=%2B14155552671")[1]["entries"]
    assert [e["action"] for e in entries].count("disabled") == 1


def test_r12_a_crm_change_marker_lives_400_days(api: Api):

    # Given a workspace reading opt-outs from its CRM
    secret = "crm-hook-secret-400"
    crm = {"provider": "hubspot", "mode": "read", "webhook_secret": secret}
    assert api.patch("/v1/settings", {"crm": crm})[0] == 200
    event_id = f"9{int(time.time() * 1000)}"
    body = json.dumps(
        [
            {
                "eventId": int(event_id),
                "objectId": 1,
                "propertyName": "hs_email_optout",
                "propertyValue": "true",
                "email": "replayed@example.com",
            }
        ]
    ).encode()
    before = int(time.time())
    # When the CRM delivers the change
    status, answer = post_signed_crm_webhook(api, secret, body)
    assert status == 200, answer
    # Then its marker expires no sooner than 400 days from now
    markers = markers_about(event_id)
    assert markers
    assert all(int(m["expiration"]["N"]) >= before + REPLAY_WINDOW_DAYS * 24 * 3600 for m in markers)
