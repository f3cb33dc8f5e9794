"""R13: CRM sync. Inbound opt-out changes on a signed webhook; outbound write-back through the CRM
queue and worker to Salesforce/HubSpot, checked against local fake CRM servers that record the real
request shapes. No echo loops; HubSpot never receives a clear."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.crm.base import CrmClient

SECRET = "whsec-test-123"
TOKEN = "crm-access-token"
EMAIL = "pat.crm@example.com"


# --- a fake CRM -------------------------------------------------------------------------------


class FakeCrm:
    """An HTTP server on 127.0.0.1 that records every request and answers ``status`` (per path if set)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 204
        self.status_by_path: dict[str, int] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_PATCH(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append(
                    {
                        "method": "PATCH",
                        "path": self.path,
                        "authorization": self.headers.get("Authorization"),
                        "content_type": self.headers.get("Content-Type"),
                        "body": json.loads(raw) if raw else None,
                    }
                )
                status = fake.status_by_path.get(self.path, fake.status)
                payload = b"" if status == 204 else json.dumps({"status": status}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def fake_crm() -> Iterator[FakeCrm]:
    fake = FakeCrm()
    yield fake
    fake.close()


# --- helpers ----------------------------------------------------------------------------------


def use_crm(api: Any, fake: FakeCrm, provider: str, mode: str) -> None:
    crm = {
        "provider": provider,
        "mode": mode,
        "webhook_secret": SECRET,
        "access_token": TOKEN,
        "instance_url": fake.url,
    }
    status, body = api.patch("/v1/settings", {"crm": crm})
    assert status == 200, body


def signed(raw: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def post_webhook(
    api: Any, provider: str, payload: Any, *, secret: str = SECRET, workspace_id: str | None = None
) -> tuple[int, Any]:
    raw = json.dumps(payload).encode()
    headers = {"X-Optout-Workspace": workspace_id or api.workspace_id, "X-Optout-Signature": signed(raw, secret)}
    return api.post(f"/v1/webhooks/crm/{provider}", raw=raw, key=None, headers=headers)


def queue_url() -> str:
    return os.environ["OPTOUT_CRM_QUEUE_URL"]


def take_writebacks(workspace_id: str) -> list[dict[str, Any]]:
    """Receive every queued write-back of this workspace (others are stale leftovers: dropped)."""
    sqs = boto3.client("sqs")
    mine = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=queue_url(), MaxNumberOfMessages=10, VisibilityTimeout=30, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return mine
        for message in messages:
            if json.loads(message["Body"]).get("workspace_id") == workspace_id:
                mine.append(message)
            else:
                sqs.delete_message(QueueUrl=queue_url(), ReceiptHandle=message["ReceiptHandle"])


def run_worker(messages: list[dict[str, Any]]) -> None:
    """Invoke the Lambda handler exactly as the SQS event source (or the local dispatcher) would."""
    import app
    from infra.local.dispatcher import LocalLambdaContext, sqs_record

    arn = boto3.client("sqs").get_queue_attributes(QueueUrl=queue_url(), AttributeNames=["QueueArn"])
    event = {"Records": [sqs_record(m, arn["Attributes"]["QueueArn"], "us-east-1") for m in messages]}
    app.on_crm_writeback(
        event,
        LocalLambdaContext(function_name="optout-test-on_crm_writeback", invoked_function_arn="arn:aws:lambda:local"),
    )


def drain_writebacks(workspace_id: str) -> int:
    messages = take_writebacks(workspace_id)
    if messages:
        run_worker(messages)
        for message in messages:  # Lambda deletes a batch whose handler returned
            boto3.client("sqs").delete_message(QueueUrl=queue_url(), ReceiptHandle=message["ReceiptHandle"])
    return len(messages)


def email_dnd(api: Any, contact_id: str) -> dict[str, Any] | None:
    status, body = api.get(f"/v1/contacts/{contact_id}")
    assert status == 200, body
    return body["dnd"]["outbound"]["email"]


def audit(api: Any, contact_id: str) -> list[dict[str, Any]]:
    status, body = api.get(f"/v1/audit?contact_id={contact_id}")
    assert status == 200, body
    return body["entries"]


def set_email(api: Any, contact_id: str, action: str, source: str = "user") -> None:
    status, body = api.post(
        "/v1/dnd", {"contact_id": contact_id, "channel": "email", "action": action, "source": source}
    )
    assert status == 200, body


@pytest.fixture(autouse=True)
def _empty_queue(aws_env: dict[str, str]) -> None:
    take_writebacks("")  # start every test with no leftovers


# --- outbound write-back ----------------------------------------------------------------------


def test_r13_salesforce_write_back_patches_has_opted_out_of_email(api, fake_crm):
    # Given a Salesforce mapping in write mode and a contact linked to Salesforce Contact 003A1
    use_crm(api, fake_crm, "salesforce", "write")
    api.put("/v1/contacts/c1", {"email": EMAIL, "attributes": {"crm_id": "003A1"}})
    # When a user opts the contact out of email and the worker runs
    set_email(api, "c1", "enable")
    assert drain_writebacks(api.workspace_id) == 1
    # Then Salesforce received the sObject PATCH with the opt-out field set
    assert fake_crm.requests == [
        {
            "method": "PATCH",
            "path": "/services/data/v60.0/sobjects/Contact/003A1",
            "authorization": f"Bearer {TOKEN}",
            "content_type": "application/json",
            "body": {"HasOptedOutOfEmail": True},
        }
    ]
    # And when the user clears it, the clear is written back as well (Salesforce supports it)
    set_email(api, "c1", "disable")
    assert drain_writebacks(api.workspace_id) == 1
    assert fake_crm.requests[-1]["body"] == {"HasOptedOutOfEmail": False}


def test_r13_hubspot_receives_the_opt_out_and_never_a_clear(api, fake_crm):
    # Given a HubSpot mapping (read_write) and a contact linked to HubSpot contact 501
    use_crm(api, fake_crm, "hubspot", "read_write")
    fake_crm.status = 200
    api.put("/v1/contacts/c1", {"email": EMAIL, "attributes": {"crm_id": "501"}})
    # When a workflow opts the contact out of email
    set_email(api, "c1", "enable", source="workflow")
    assert drain_writebacks(api.workspace_id) == 1
    # Then HubSpot's v3 contacts API received hs_email_optout = "true"
    assert [(r["method"], r["path"], r["body"], r["authorization"]) for r in fake_crm.requests] == [
        ("PATCH", "/crm/v3/objects/contacts/501", {"properties": {"hs_email_optout": "true"}}, f"Bearer {TOKEN}"),
    ]
    # When the opt-out is cleared, the write-back message is handled but HubSpot gets no request
    set_email(api, "c1", "disable")
    assert drain_writebacks(api.workspace_id) == 1
    assert len(fake_crm.requests) == 1


def test_r13_write_back_covers_every_contact_with_the_suppressed_address(api, fake_crm):
    # Given two contacts sharing an address, one linked to the CRM, one not
    use_crm(api, fake_crm, "salesforce", "read_write")
    api.put("/v1/contacts/c1", {"email": EMAIL, "attributes": {"crm_id": "003A1"}})
    api.put("/v1/contacts/c2", {"email": EMAIL})
    # When the address is suppressed by raw email
    assert api.post("/v1/dnd", {"email": EMAIL, "channel": "email", "action": "enable", "source": "user"})[0] == 200
    # Then one message per contact; the linked one is written, the other skipped (no crm_id)
    assert drain_writebacks(api.workspace_id) == 2
    assert [r["path"] for r in fake_crm.requests] == ["/services/data/v60.0/sobjects/Contact/003A1"]


def test_r13_mode_read_never_writes_back(api, fake_crm):
    # Given a mapping that only reads from the CRM
    use_crm(api, fake_crm, "salesforce", "read")
    api.put("/v1/contacts/c1", {"email": EMAIL, "attributes": {"crm_id": "003A1"}})
    # When a user opts the contact out
    set_email(api, "c1", "enable")
    # Then nothing is queued and the CRM hears nothing
    assert take_writebacks(api.workspace_id) == []
    assert fake_crm.requests == []


def test_r13_non_email_changes_are_not_written_back(api, fake_crm):
    use_crm(api, fake_crm, "salesforce", "write")
    api.put("/v1/contacts/c1", {"email": EMAIL, "phone": "+14155552671", "attributes": {"crm_id": "003A1"}})
    assert api.post("/v1/dnd", {"contact_id": "c1", "channel": "sms", "action": "enable", "source": "user"})[0] == 200
    assert take_writebacks(api.workspace_id) == []


def test_r13_worker_failure_raises_so_the_message_is_retried_then_dead_lettered(api, fake_crm, monkeypatch):
    given_up: list[str] = []
    monkeypatch.setattr("chalicelib.consumers.batch.record_dead_lettered", given_up.append)
    # Given a Salesforce that answers 500
    use_crm(api, fake_crm, "salesforce", "write")
    fake_crm.status = 500
    api.put("/v1/contacts/c1", {"email": EMAIL, "attributes": {"crm_id": "003A1"}})
    set_email(api, "c1", "enable")
    messages = take_writebacks(api.workspace_id)
    assert len(messages) == 1
    # When the worker runs, Then it raises (Lambda then leaves the message on the queue)
    with pytest.raises(Exception, match="failed"):
        run_worker(messages)
    assert len(fake_crm.requests) == 1
    # And the message comes back; after maxReceiveCount (5) receives it is in the dead-letter queue
    sqs = boto3.client("sqs")
    dlq = sqs.get_queue_url(QueueName=f"optout-{os.environ['OPTOUT_STAGE']}-crm-writeback-dlq")["QueueUrl"]
    sqs.change_message_visibility(QueueUrl=queue_url(), ReceiptHandle=messages[0]["ReceiptHandle"], VisibilityTimeout=0)
    for _ in range(10):
        again = sqs.receive_message(
            QueueUrl=queue_url(), MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"]
        )  # as Lambda's event source: receive counts
        redelivered = [m for m in again.get("Messages", []) if m["MessageId"] == messages[0]["MessageId"]]
        if not redelivered:
            break
        with pytest.raises(Exception, match="failed"):
            run_worker(redelivered)
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["MessageId"] for m in dead] == [messages[0]["MessageId"]]
    assert len(fake_crm.requests) == 5
    assert given_up == ["crm-writeback"]  # counted once, on the 5th (last) receive
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=dead[0]["ReceiptHandle"])


def test_r13_partial_batch_deletes_the_successes_and_keeps_the_failure(api, fake_crm):
    # Given two linked contacts, and a CRM that fails for one of them
    use_crm(api, fake_crm, "salesforce", "write")
    fake_crm.status_by_path["/services/data/v60.0/sobjects/Contact/003BAD"] = 503
    api.put("/v1/contacts/ok", {"email": "ok@example.com", "attributes": {"crm_id": "003OK"}})
    api.put("/v1/contacts/bad", {"email": "bad@example.com", "attributes": {"crm_id": "003BAD"}})
    set_email(api, "ok", "enable")
    set_email(api, "bad", "enable")
    messages = take_writebacks(api.workspace_id)
    assert len(messages) == 2
    # When both arrive in one batch
    with pytest.raises(Exception, match="1 of 2"):
        run_worker(messages)
    # Then the handled one is deleted, only the failed one comes back
    sqs = boto3.client("sqs")
    for message in messages:  # make whatever is still on the queue visible now (Lambda: after the timeout)
        with contextlib.suppress(ClientError):  # deleted by the handler
            sqs.change_message_visibility(
                QueueUrl=queue_url(), ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
    remaining = take_writebacks(api.workspace_id)
    assert [json.loads(m["Body"])["contact_id"] for m in remaining] == ["bad"]
    # And a redelivery once the CRM recovers writes the same value again (idempotent PATCH)
    fake_crm.status_by_path.clear()
    run_worker(remaining)
    written = [r["path"].rsplit("/", 1)[-1] for r in fake_crm.requests]
    assert sorted(written[:2]) == ["003BAD", "003OK"] and written[2:] == ["003BAD"]


# --- inbound webhook --------------------------------------------------------------------------


def test_r13_salesforce_webhook_opt_out_sets_email_dnd_and_is_not_echoed(api, fake_crm):
    # Given a two-way Salesforce mapping and a contact linked to it
    use_crm(api, fake_crm, "salesforce", "read_write")
    api.put("/v1/contacts/c1", {"email": EMAIL, "attributes": {"crm_id": "003A1"}})
    # When Salesforce reports the contact opted out (matched by our contact id)
    status, body = post_webhook(
        api,
        "salesforce",
        {
            "records": [
                {
                    "Id": "003A1",
                    "Email": EMAIL,
                    "HasOptedOutOfEmail": True,
                    "contact_id": "c1",
                    "LastModifiedDate": "2025-01-31T09:00:00.000Z",
                },
            ]
        },
    )
    # Then email DND is on, temporary, from the CRM
    assert status == 200, body
    assert body == {"applied": 1, "results": [{"ref": "003A1", "status": "enabled"}]}
    entry = email_dnd(api, "c1")
    assert (entry["reason"], entry["kind"], entry["source"]) == ("crm_opt_out", "temporary", "crm")
    # And nothing is queued for write-back, so Salesforce hears nothing back (no echo)
    assert take_writebacks(api.workspace_id) == []
    assert fake_crm.requests == []


def test_r13_round_trip_user_change_to_crm_and_its_echo_back_stops(api, fake_crm):
    # Given a two-way mapping: a user's opt-out is written to Salesforce
    use_crm(api, fake_crm, "salesforce", "read_write")
    api.put("/v1/contacts/c1", {"email": EMAIL, "attributes": {"crm_id": "003A1"}})
    set_email(api, "c1", "enable")
    assert drain_writebacks(api.workspace_id) == 1
    # When Salesforce's change notification for that very write comes back
    status, body = post_webhook(
        api,
        "salesforce",
        {
            "records": [
                {"Id": "003A1", "Email": EMAIL, "HasOptedOutOfEmail": True, "event_id": "sf-echo-1"},
            ]
        },
    )
    assert status == 200, body
    # Then it is recorded as the CRM's view, and not sent to Salesforce again
    assert take_writebacks(api.workspace_id) == []
    assert len(fake_crm.requests) == 1


def test_r13_hubspot_webhook_by_email_and_opt_in_clears(api, fake_crm):
    use_crm(api, fake_crm, "hubspot", "read")
    api.put("/v1/contacts/c1", {"email": EMAIL})
    base = {
        "objectId": 501,
        "propertyName": "hs_email_optout",
        "subscriptionType": "contact.propertyChange",
        "portalId": 62515,
        "email": EMAIL.upper(),
    }
    # When HubSpot reports an opt-out (with an unrelated property change in the same delivery)
    status, body = post_webhook(
        api,
        "hubspot",
        [
            {**base, "eventId": 1001, "propertyValue": "true", "occurredAt": 1738314000000},
            {**base, "eventId": 1002, "propertyName": "firstname", "propertyValue": "Pat"},
        ],
    )
    assert status == 200, body
    assert [r["status"] for r in body["results"]] == ["enabled", "ignored"]
    assert email_dnd(api, "c1")["source"] == "crm"
    # When it later reports the opt-out removed
    status, body = post_webhook(api, "hubspot", [{**base, "eventId": 1003, "propertyValue": "false"}])
    assert status == 200, body
    assert body["results"] == [{"ref": "501", "status": "disabled"}]
    assert email_dnd(api, "c1") is None


def test_r13_crm_clear_of_a_permanent_opt_out_is_refused_per_record(api, fake_crm):
    from chalicelib.services.context import get_services
    from chalicelib.services.dnd import DndChange, apply_dnd_change
    from chalicelib.services.recipients import Target

    # Given a contact who unsubscribed themselves (permanent) and another with a CRM opt-out
    use_crm(api, fake_crm, "salesforce", "read")
    api.put("/v1/contacts/c1", {"email": EMAIL})
    api.put("/v1/contacts/c2", {"email": "other@example.com"})
    apply_dnd_change(
        get_services(),
        DndChange(
            api.workspace_id,
            Target(contact_id="c1"),
            "outbound",
            ("email",),
            "enable",
            "contact",
            "unsubscribed",
            kind="permanent",
        ),
    )
    set_email(api, "c2", "enable", source="crm")
    # When Salesforce reports both as no longer opted out
    status, body = post_webhook(
        api,
        "salesforce",
        {
            "records": [
                {"Id": "003A1", "contact_id": "c1", "HasOptedOutOfEmail": False, "event_id": "e1"},
                {"Id": "003A2", "contact_id": "c2", "HasOptedOutOfEmail": False, "event_id": "e2"},
                {"Id": "003A3", "contact_id": "nobody", "HasOptedOutOfEmail": True, "event_id": "e3"},
            ]
        },
    )
    # Then the request succeeds, the permanent opt-out stays and is reported, the other is cleared
    assert status == 200, body
    assert body["results"] == [
        {"ref": "003A1", "status": "refused", "error": "permanent_dnd"},
        {"ref": "003A2", "status": "disabled"},
        {"ref": "003A3", "status": "unresolved"},
    ]
    assert email_dnd(api, "c1")["reason"] == "unsubscribed"
    assert email_dnd(api, "c2") is None


def test_r13_redelivered_webhook_adds_no_second_audit_entry(api, fake_crm):
    use_crm(api, fake_crm, "salesforce", "read_write")
    api.put("/v1/contacts/c1", {"email": EMAIL})
    payload = {"records": [{"Id": "003A1", "Email": EMAIL, "HasOptedOutOfEmail": True, "event_id": "sf-evt-1"}]}
    # Given the change was delivered once
    assert post_webhook(api, "salesforce", payload)[1]["results"][0]["status"] == "enabled"
    # When the CRM redelivers it, also after a user cleared the DND meanwhile
    assert post_webhook(api, "salesforce", payload)[1]["results"][0]["status"] == "duplicate"
    set_email(api, "c1", "disable")
    status, body = post_webhook(api, "salesforce", payload)
    # Then it is not applied again: one 'enabled' audit entry from the CRM, and DND stays cleared
    assert body["results"][0]["status"] == "duplicate"
    entries = audit(api, "c1")
    assert [(e["action"], e["source"]) for e in entries] == [("enabled", "crm"), ("disabled", "user")]
    assert email_dnd(api, "c1") is None


def test_r13_bad_signature_is_refused_and_changes_nothing(api, other_api, fake_crm):
    use_crm(api, fake_crm, "salesforce", "read_write")
    api.put("/v1/contacts/c1", {"email": EMAIL})
    payload = {"records": [{"Id": "003A1", "contact_id": "c1", "HasOptedOutOfEmail": True, "event_id": "x"}]}
    raw = json.dumps(payload).encode()
    attempts = [
        {"X-Optout-Workspace": api.workspace_id, "X-Optout-Signature": signed(raw, "wrong-secret")},
        {"X-Optout-Workspace": api.workspace_id, "X-Optout-Signature": signed(raw + b" ")},
        {"X-Optout-Workspace": api.workspace_id},
        {"X-Optout-Workspace": other_api.workspace_id, "X-Optout-Signature": signed(raw)},  # no CRM mapping there
        {"X-Optout-Workspace": "no-such-workspace", "X-Optout-Signature": signed(raw)},
    ]
    answers = [api.post("/v1/webhooks/crm/salesforce", raw=raw, key=None, headers=h) for h in attempts]
    # Then every attempt gets the same 403 and nothing changed
    assert {status for status, _ in answers} == {403}
    assert len({json.dumps(body) for _, body in answers}) == 1
    assert email_dnd(api, "c1") is None
    assert audit(api, "c1") == []


def test_r13_webhook_is_refused_when_the_mapping_does_not_read(api, fake_crm):
    use_crm(api, fake_crm, "salesforce", "write")
    api.put("/v1/contacts/c1", {"email": EMAIL})
    payload = {"records": [{"Id": "003A1", "contact_id": "c1", "HasOptedOutOfEmail": True}]}
    status, body = post_webhook(api, "salesforce", payload)
    assert (status, body["error"]) == (409, "crm_read_disabled")
    status, body = post_webhook(api, "hubspot", [{"objectId": 1, "propertyName": "hs_email_optout"}])
    assert (status, body["error"]) == (409, "crm_provider_mismatch")
    assert email_dnd(api, "c1") is None


def test_r13_malformed_webhook_bodies_get_4xx(api, fake_crm):
    use_crm(api, fake_crm, "hubspot", "read")
    assert post_webhook(api, "hubspot", {"records": []})[0] == 400
    assert post_webhook(api, "hubspot", [])[0] == 422
    status, body = post_webhook(
        api, "hubspot", [{"objectId": 1, "propertyName": "hs_email_optout", "propertyValue": "maybe", "email": EMAIL}]
    )
    assert (status, body["results"]) == (200, [{"ref": "1", "status": "invalid"}])
    assert api.post("/v1/webhooks/crm/pipedrive", raw=b"{}", key=None)[0] == 404


# --- the provider registry (#12): a CRM is one entry in chalicelib/crm/registry.py ----------------


class RecordingCrmClient(CrmClient):
    """A CRM client that records its writes instead of calling out."""

    provider = "acme_crm"

    def __init__(self, writes: list[tuple[str, bool]]) -> None:
        self.writes = writes

    def set_email_opt_out(self, record_ref: str, opted_out: bool) -> bool:
        self.writes.append((record_ref, opted_out))
        return True


@pytest.fixture()
def acme_crm(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Registers a CRM the code base has never heard of -- in this test only, touching no other file."""
    from chalicelib.crm.base import CrmProvider
    from chalicelib.crm.registry import CRM_PROVIDERS
    from chalicelib.crm.webhooks import CrmOptOutChange, event_id, flag, optout_signed, text
    from chalicelib.errors import MalformedBody

    writes: list[tuple[str, bool]] = []

    def records(body: Any) -> list[Any]:
        if not isinstance(body, dict) or not isinstance(body.get("changes"), list):
            raise MalformedBody('expected {"changes": [...]}', fields={"changes": "must be a list"})
        return body["changes"]

    def change(record: Any, field: str, fallback: str) -> CrmOptOutChange:
        ref = text(record.get("id"))
        own_id = event_id("acme_crm", text(record.get("change_id")), ref, None, fallback)
        return CrmOptOutChange(ref, None, text(record.get("email")), flag(record.get(field)), own_id)

    provider = CrmProvider(
        "acme_crm",
        client=lambda settings, allow_loopback: RecordingCrmClient(writes),
        records=records,
        change=change,
        signed=optout_signed,
        default_field="unsubscribed",
        clear_supported=False,
    )
    monkeypatch.setitem(CRM_PROVIDERS, "acme_crm", provider)
    return writes


def test_r13_a_registered_provider_is_used_on_every_crm_path(api, acme_crm):
    # Given a CRM added to the registry only, mapped two-way by a workspace
    status, body = api.patch(
        "/v1/settings", {"crm": {"provider": "acme_crm", "mode": "read_write", "webhook_secret": SECRET}}
    )
    assert status == 200, body
    assert body["crm"]["provider"] == "acme_crm"
    api.put("/v1/contacts/c1", {"email": EMAIL, "attributes": {"crm_id": "A-1"}})
    api.put("/v1/contacts/c2", {"email": "sam.crm@example.com", "attributes": {"crm_id": "A-2"}})
    # When it posts its own body shape on the webhook, signed the shared way
    change = {"id": "A-1", "email": EMAIL, "unsubscribed": True, "change_id": "ev-1"}
    status, body = post_webhook(api, "acme_crm", {"changes": [change]})
    # Then its parser and default field are used: email DND from the CRM
    assert status == 200, body
    assert body == {"applied": 1, "results": [{"ref": "A-1", "status": "enabled"}]}
    assert email_dnd(api, "c1")["source"] == "crm"
    # And its workspace route checks its own signature scheme
    raw = json.dumps({"changes": [{**change, "change_id": "ev-2"}]}).encode()
    status, body = api.post(
        f"/v1/webhooks/crm/acme_crm/{api.workspace_id}", raw=raw, key=None, headers={"X-Optout-Signature": signed(raw)}
    )
    assert status == 200, body
    assert body["results"] == [{"ref": "A-1", "status": "unchanged"}]
    # When a user opts the other contact out, then clears it
    set_email(api, "c2", "enable")
    drain_writebacks(api.workspace_id)
    set_email(api, "c2", "disable")
    drain_writebacks(api.workspace_id)
    # Then its client receives the opt-out, and no clear (the entry says it cannot take one)
    assert acme_crm == [("A-2", True)]


def test_r13_an_unregistered_provider_is_refused_naming_the_field(api, aws_env):
    # Given no CRM called acme_crm in the registry
    # When a workspace maps it
    status, body = api.patch("/v1/settings", {"crm": {"provider": "acme_crm", "mode": "read"}})
    # Then 422 naming crm.provider (never a silent HubSpot)
    assert status == 422, body
    assert body["fields"] == {"crm.provider": "Input should be 'salesforce' or 'hubspot'"}
    # And its webhook route does not exist
    status, body = post_webhook(api, "acme_crm", {"changes": []})
    assert (status, body["fields"]) == (404, {"provider": "salesforce or hubspot"})


def test_r13_the_write_back_client_is_never_a_default(aws_env):
    # Given a mapping whose provider is not registered (written around validation)
    from chalicelib.crm.registry import client_for
    from chalicelib.errors import InvalidInput
    from chalicelib.models.domain import CrmSettings

    mapping = CrmSettings.model_construct(provider="acme_crm", mode="write", field=None, instance_url=None)
    # When the worker asks for its client, Then it is refused naming the field, not HubSpot's
    with pytest.raises(InvalidInput) as refused:
        client_for(mapping)
    assert list(refused.value.fields) == ["crm.provider"]
