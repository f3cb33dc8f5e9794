"""R11/R12/R13 through the DND outbox: no stored DND change loses its follow-ups.

A change's transaction also stores an outbox item (dnd table, ``<ws>#outbox#<id>``) describing its
follow-ups: the dnd.changed events (R12), unenrollment on do-not-contact (R11) and the CRM
write-back (R13). The request runs them and deletes the item; when one fails (SNS, SQS or DynamoDB
hiccup, or the process dies) the item stays, the answer is unchanged, and the sweeper
(``app.on_outbox_sweep``, once a minute) completes it after the grace period.

Faults are injected where each follow-up meets AWS (the SNS publisher, the unenrollment entry point,
the CRM queue); the sweeper's clock is moved past the grace period instead of sleeping.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import Api, Twilio, emf_total
from tests.integration.test_crm import fake_crm as fake_crm  # noqa: F401  (fixture)
from tests.integration.test_crm import take_writebacks, use_crm
from tests.integration.test_dnd_events import assert_valid_and_anonymous
from tests.integration.test_dnd_events import dnd_events as dnd_events  # noqa: F401  (fixture)
from tests.integration.test_ses import deliver, for_workspace
from tests.integration.test_ses import ses_handler as ses_handler  # noqa: F401  (fixture)

EVENTS = Path(__file__).resolve().parents[2] / "events"
EMAIL = "outbox.person@example.com"
GRACE = 60


class FollowUpFaults:
    """Makes chosen follow-ups fail until heal(): 'sns' (event publishing), 'unenroll' (the DND
    unenrollment hook's store work), 'crm' (the CRM write-back queue). Counts calls that got through."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import chalicelib.services.enrollments as enrollments
        from chalicelib.services.context import get_services
        from chalicelib.store.queues import CrmQueue

        self.broken: set[str] = set()
        self.unenrolled: Counter[str] = Counter()  # workspace -> enrollments ended by calls that got through
        self.published: list[dict[str, Any]] = []
        self.writebacks: list[dict[str, Any]] = []
        events = get_services().events
        publish, unenroll, send = events.publish, enrollments.unenroll_contacts, CrmQueue.send

        def check(kind: str, operation: str) -> None:
            if kind in self.broken:
                raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, operation)

        def faulty_publish(batch: list[dict[str, Any]]) -> None:
            check("sns", "PublishBatch")
            publish(batch)
            self.published.extend(batch)

        def faulty_unenroll(services: Any, workspace_id: str, *args: Any, **kwargs: Any) -> int:
            check("unenroll", "Query")
            count = unenroll(services, workspace_id, *args, **kwargs)
            self.unenrolled[workspace_id] += count
            return count

        def faulty_send(queue: Any, messages: list[dict[str, Any]]) -> None:
            check("crm", "SendMessageBatch")
            send(queue, messages)
            self.writebacks.extend(messages)

        monkeypatch.setattr(events, "publish", faulty_publish)
        monkeypatch.setattr(enrollments, "unenroll_contacts", faulty_unenroll)
        monkeypatch.setattr(CrmQueue, "send", faulty_send)

    def fail(self, *kinds: str) -> None:
        self.broken.update(kinds)

    def heal(self) -> None:
        self.broken.clear()


@pytest.fixture()
def faults(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> FollowUpFaults:
    return FollowUpFaults(monkeypatch)


@pytest.fixture()
def sweep(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Run the sweeper as if ``after`` seconds had passed since now."""
    import chalicelib.services.outbox as outbox
    from chalicelib.services.context import get_services, utcnow

    def run(after: float) -> Any:
        monkeypatch.setattr(get_services(), "clock", lambda: utcnow() + timedelta(seconds=after))
        return outbox.sweep_outbox(get_services())

    return run


def pending(workspace_id: str) -> list[dict[str, Any]]:
    """The workspace's outbox items, read straight from the table (a test may Scan)."""
    from chalicelib.store.items import from_item

    ddb = boto3.client("dynamodb")
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "ConsistentRead": True,
        "FilterExpression": "begins_with(pk, :p)",
        "ExpressionAttributeValues": {":p": {"S": f"{workspace_id}#outbox#"}},
    }
    while True:
        page = ddb.scan(**kwargs)
        found.extend(from_item(i) or {} for i in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def writebacks(workspace_id: str) -> list[dict[str, Any]]:
    """Take (and delete) the workspace's queued CRM write-backs."""
    from tests.integration.test_crm import queue_url

    messages = take_writebacks(workspace_id)
    for message in messages:
        boto3.client("sqs").delete_message(QueueUrl=queue_url(), ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in messages]


def mine(messages: list[dict[str, Any]], api: Api) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("workspace_id") == api.workspace_id]


def _table() -> str:
    import os

    return os.environ["OPTOUT_DND_TABLE"]


def active(api: Api, sequence_id: str = "s1") -> list[str]:
    status, page = api.get(f"/v1/sequences/{sequence_id}/enrollments?status=active")
    assert status == 200, page
    return [e["contact_id"] for e in page["enrollments"]]


def enrolled_contact(api: Api, contact_id: str = "c1", **fields: Any) -> None:
    assert api.put(f"/v1/contacts/{contact_id}", {"email": EMAIL, **fields})[0] == 200
    assert api.put("/v1/sequences/s1", {})[0] == 200
    status, body = api.post("/v1/sequences/s1/enrollments", {"contact_id": contact_id})
    assert status == 201, body


@pytest.fixture()
def crm_contact(api: Api, fake_crm: Any) -> Api:  # noqa: F811
    """A contact linked to Salesforce (write mode), with an email, enrolled in sequence s1."""
    use_crm(api, fake_crm, "salesforce", "write")
    enrolled_contact(api, attributes={"crm_id": "003A1"})
    writebacks(api.workspace_id)  # nothing queued yet
    return api


OPT_OUT = {"contact_id": "c1", "channel": "all", "action": "enable", "source": "user"}


# --- (c) the happy path ------------------------------------------------------------------------


def test_r12_happy_path_runs_every_follow_up_and_leaves_no_outbox_item(
    crm_contact: Api, faults: FollowUpFaults, dnd_events
):
    api = crm_contact
    # When a user marks the contact do-not-contact on every channel
    status, body = api.post("/v1/dnd", OPT_OUT)
    assert status == 200 and body["do_not_contact"] is True, body
    # Then every follow-up ran on the request path...
    assert active(api) == []
    assert len(writebacks(api.workspace_id)) == 1
    assert dnd_events(api.workspace_id)
    # ...and the outbox item written with the change is gone
    assert pending(api.workspace_id) == []


def test_r12_outbox_item_is_stored_with_the_change_and_carries_no_address(crm_contact: Api, faults: FollowUpFaults):
    api = crm_contact
    faults.fail("sns", "unenroll", "crm")
    assert api.post("/v1/dnd", {**OPT_OUT, "actor": "agent@acme.example"})[0] == 200
    [item] = pending(api.workspace_id)
    # Ids and hashed address keys only: no email, phone or actor is kept for the follow-ups
    raw = json.dumps(item)
    assert EMAIL not in raw and "agent@acme.example" not in raw and "@" not in raw
    assert item["contact_id"] == "c1" and item["kind"] == "change"
    assert {e["action"] for e in item["entries"]} == {"enabled"}
    assert item["outbox_shard"].startswith("outbox#") and item["attempts"] == 0


# --- (a) a follow-up fails after the commit; (b) the grace period -------------------------------


@pytest.mark.parametrize("broken", ["sns", "unenroll", "crm"])
def test_r11_r12_r13_failed_follow_up_is_completed_by_the_sweeper_after_the_grace_period(
    crm_contact: Api, faults: FollowUpFaults, dnd_events, sweep, broken: str
):
    api = crm_contact
    # Given one follow-up fails right after the commit
    faults.fail(broken)
    # When the contact is marked do-not-contact
    status, body = api.post("/v1/dnd", OPT_OUT)
    # Then the answer is what it always is: stored, 200
    assert status == 200, body
    assert body["changed"] is True and body["do_not_contact"] is True
    assert body["dnd"]["status"] == "on"
    # And the outbox item remains, and the broken follow-up's effect is missing
    assert len(pending(api.workspace_id)) == 1
    events_before = dnd_events(api.workspace_id)
    writebacks_before = writebacks(api.workspace_id)
    if broken == "sns":
        assert events_before == []
    if broken == "unenroll":
        assert active(api) == ["c1"]
    if broken == "crm":
        assert writebacks_before == []
    # (b) A sweep within the grace period does nothing
    faults.heal()
    report = sweep(after=GRACE - 20)
    assert pending(api.workspace_id) and pending(api.workspace_id)[0]["attempts"] == 0
    outbox_id = pending(api.workspace_id)[0]["outbox_id"]
    assert outbox_id not in report.completed + report.failed
    if broken == "unenroll":
        assert active(api) == ["c1"]
    # When the sweeper runs after the grace period
    report = sweep(after=GRACE + 1)
    # Then the missing effect happened, and the item is gone
    assert outbox_id in report.completed
    assert pending(api.workspace_id) == []
    assert active(api) == []
    events = dnd_events(api.workspace_id)
    assert events, "the dnd.changed events were published"
    for raw, event in events:
        assert_valid_and_anonymous(raw, event)
    if broken != "sns":  # published twice: the same events with the same ids, so consumers dedupe
        assert sorted(e["event_id"] for _, e in events) == sorted(e["event_id"] for _, e in events_before)
    assert len(writebacks(api.workspace_id)) == 1
    # And a later sweep finds nothing more to do
    report = sweep(after=10 * GRACE)
    assert outbox_id not in report.completed + report.failed


# --- (d) a crash right after the commit, then a redelivery ------------------------------------


def test_r11_stop_stored_but_every_follow_up_lost_then_redelivered_is_completed_once(
    twilio: Twilio,
    faults: FollowUpFaults,
    dnd_events,
    sweep,  # noqa: F811
):
    api = twilio.api
    assert api.put("/v1/sequences/s1", {})[0] == 200
    assert api.post("/v1/sequences/s1/enrollments", {"contact_id": "c1"})[0] == 201
    # Given the process "dies" after the commit: every follow-up fails
    faults.fail("sns", "unenroll", "crm")
    assert twilio.sms("twilio-sms-stop.txt")[0] == 200
    assert active(api) == ["c1"] and dnd_events(api.workspace_id) == []
    # When Twilio redelivers the same STOP (same MessageSid), with everything healthy again
    faults.heal()
    status, body, _ = twilio.sms("twilio-sms-stop.txt")
    # Then it is a duplicate: answered as before, and the follow-ups are not run by the request
    assert status == 200 and "<Response" in body
    assert active(api) == ["c1"] and dnd_events(api.workspace_id) == []
    assert len(pending(api.workspace_id)) == 1
    # When the sweeper runs (twice)
    sweep(after=GRACE + 1)
    sweep(after=10 * GRACE)
    # Then the effects happened exactly once
    assert active(api) == [] and faults.unenrolled[api.workspace_id] == 1
    events = dnd_events(api.workspace_id)
    assert [(e["channel"], e["action"], e["reason"]) for _, e in events] == [("sms", "enabled", "sms_stop")]
    assert pending(api.workspace_id) == []


def test_r13_ses_complaint_stored_but_follow_ups_lost_then_redelivered_writes_back_once(
    api: Api,
    fake_crm: Any,
    faults: FollowUpFaults,
    ses_handler,
    dnd_events,
    sweep,  # noqa: F811
):
    use_crm(api, fake_crm, "salesforce", "write")
    assert api.put("/v1/contacts/c1", {"email": "richard@example.com", "attributes": {"crm_id": "003A1"}})[0] == 200
    writebacks(api.workspace_id)
    event = for_workspace("ses-complaint-classic.json", api.workspace_id)
    # Given every follow-up of the complaint fails after its commit
    faults.fail("sns", "unenroll", "crm")
    deliver(ses_handler, event)
    # When SNS redelivers the notification
    faults.heal()
    deliver(ses_handler, event)
    # Then the redelivery ran nothing itself
    assert writebacks(api.workspace_id) == [] and mine(faults.writebacks, api) == []
    # When the sweeper runs (twice)
    sweep(after=GRACE + 1)
    sweep(after=10 * GRACE)
    # Then exactly one write-back message and one event were sent
    assert [m["contact_id"] for m in mine(faults.writebacks, api)] == ["c1"]
    assert len(writebacks(api.workspace_id)) == 1
    assert [(e["channel"], e["reason"]) for _, e in dnd_events(api.workspace_id)] == [("email", "spam_complaint")]
    assert pending(api.workspace_id) == []


# --- (e) the scheduled handler, fed a real-shaped EventBridge scheduled event ---------------------


def test_r12_scheduled_handler_completes_pending_follow_ups(
    crm_contact: Api, faults: FollowUpFaults, monkeypatch: pytest.MonkeyPatch
):
    import app
    from chalicelib.services.context import get_services, utcnow
    from infra.local.dispatcher import LocalLambdaContext

    api = crm_contact
    faults.fail("unenroll", "crm")
    assert api.post("/v1/dnd", OPT_OUT)[0] == 200
    assert active(api) == ["c1"] and len(pending(api.workspace_id)) == 1
    faults.heal()
    event = json.loads((EVENTS / "scheduled-outbox-sweep.json").read_text())
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    context = LocalLambdaContext(
        function_name="optout-test-on_outbox_sweep",
        timeout_seconds=60.0,
        invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:x",
    )
    # When EventBridge invokes the handler before the grace period, nothing is done
    app.on_outbox_sweep(event, context)
    assert active(api) == ["c1"] and len(pending(api.workspace_id)) == 1
    # When it invokes it after the grace period
    monkeypatch.setattr(get_services(), "clock", lambda: utcnow() + timedelta(seconds=GRACE + 1))
    app.on_outbox_sweep(event, context)
    # Then the contact left the sequence, the write-back is queued and the item is gone
    assert active(api) == []
    assert len(writebacks(api.workspace_id)) == 1
    assert pending(api.workspace_id) == []


def test_sweeper_stops_starting_items_when_the_invocation_is_nearly_over(
    crm_contact: Api, faults: FollowUpFaults, monkeypatch: pytest.MonkeyPatch
):
    import chalicelib.services.outbox as outbox
    from chalicelib.services.context import get_services, utcnow

    api = crm_contact
    faults.fail("unenroll")
    assert api.post("/v1/dnd", OPT_OUT)[0] == 200
    faults.heal()
    monkeypatch.setattr(get_services(), "clock", lambda: utcnow() + timedelta(seconds=GRACE + 1))
    report = outbox.sweep_outbox(get_services(), remaining_ms=lambda: 5_000)
    assert report.completed == [] and len(pending(api.workspace_id)) == 1
    report = outbox.sweep_outbox(get_services(), max_items=0)
    assert report.completed == [] and len(pending(api.workspace_id)) == 1
    # And the next unhurried run does it
    outbox.sweep_outbox(get_services())
    assert pending(api.workspace_id) == [] and active(api) == []


# --- (f) giving up ------------------------------------------------------------------------------


def test_r12_follow_ups_failing_every_attempt_are_given_up_with_a_metric_and_kept(
    crm_contact: Api,
    faults: FollowUpFaults,
    sweep,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
):
    from chalicelib.services.outbox import MAX_ATTEMPTS, RETRY_MAX_SECONDS

    api = crm_contact
    capsys.readouterr()
    # Given the CRM queue is down for good
    faults.fail("crm")
    assert api.post("/v1/dnd", OPT_OUT)[0] == 200
    [item] = pending(api.workspace_id)
    # When the sweeper retries past every backoff, MAX_ATTEMPTS times
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = sweep(after=GRACE + 1 + attempt * (RETRY_MAX_SECONDS + 1))
        if attempt < MAX_ATTEMPTS:
            assert item["outbox_id"] in report.failed, attempt
            assert pending(api.workspace_id)[0]["attempts"] == attempt
    # Then the last attempt gives up: a DeadLettered metric, an error log naming ids only
    assert item["outbox_id"] in report.gave_up
    assert emf_total(capsys.readouterr().out, "DeadLettered", queue="dnd-outbox") >= 1
    assert any("given up" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)
    assert EMAIL not in caplog.text
    # And the item is kept for an operator, out of the pending index: no further attempts
    [parked] = pending(api.workspace_id)
    assert parked["gave_up_at"] and "outbox_shard" not in parked and parked["attempts"] == MAX_ATTEMPTS
    faults.heal()
    report = sweep(after=GRACE + (MAX_ATTEMPTS + 5) * (RETRY_MAX_SECONDS + 1))
    assert item["outbox_id"] not in report.completed + report.failed + report.gave_up
    assert mine(faults.writebacks, api) == []


def test_outbox_keys_spread_over_every_shard():
    """SPEC performance budget: the pending index is written on every change, so its key is sharded."""
    import uuid

    from chalicelib.store.outbox import SHARDS, shard_of

    used = {shard_of(uuid.uuid4().hex) for _ in range(4000)}
    assert len(used) == SHARDS >= 16


def test_local_dispatcher_invokes_the_sweeper_on_a_schedule(monkeypatch: pytest.MonkeyPatch):
    """``make run`` behaves like Lambda: the dispatcher calls the scheduled handler periodically,
    with the event EventBridge sends."""
    from types import SimpleNamespace

    import infra.local.dispatcher as dispatcher

    calls: list[tuple[dict[str, Any], Any]] = []
    monkeypatch.setitem(dispatcher.SCHEDULES, "on_outbox_sweep", 0.05)
    app = SimpleNamespace(on_outbox_sweep=lambda event, context: calls.append((event, context)))
    with dispatcher.Dispatcher(app, env={}):
        deadline = time.monotonic() + 5
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(calls) >= 2
    event, context = calls[0]
    sample = json.loads((EVENTS / "scheduled-outbox-sweep.json").read_text())
    assert set(event) == set(sample) and event["detail-type"] == "Scheduled Event"
    assert context.function_name == "optout-local-on_outbox_sweep" and context.get_remaining_time_in_millis() > 0
