"""Bulk unenrollment as a job on SQS (R11): 202 at once, planned through indexes, applied in
batches of ~100 by ``app.on_unenroll_batch``, idempotent, poison messages to the DLQ.

The queue is driven in-process the way Lambda's SQS event source would: receive up to 10
messages, call the handler with a Lambda-shaped event, delete on return, make the batch visible
again on an exception (the handler deletes its own successes first).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.integration.conftest import SqsSource, emf_total, write_items


class QueueDriver(SqsSource):
    def __init__(self, app: Any, env: dict[str, str]) -> None:
        super().__init__(app, env["OPTOUT_UNENROLL_QUEUE_URL"])
        self.dlq_url = self.sqs.get_queue_url(QueueName=self.url.rsplit("/", 1)[1] + "-dlq")["QueueUrl"]
        self.invocations = 0
        self.failures = 0

    def receive(self) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=60,
        ).get("Messages", [])

    def invoke(self, messages: list[dict[str, Any]]) -> bool:
        self.invocations += 1
        try:
            self.app.on_unenroll_batch(self.event(messages), None)
        except Exception:
            self.failures += 1
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for n, m in enumerate(messages)
                ],
            )
            return False
        self.sqs.delete_message_batch(
            QueueUrl=self.url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
        )
        return True

    def drain(self, limit: int = 5000) -> None:
        for _ in range(limit):
            messages = self.receive()
            if not messages:
                return
            self.invoke(messages)
        raise AssertionError("queue did not drain")

    def dead_letters(self) -> list[str]:
        bodies = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(message["Body"])
                self.sqs.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture()
def queue(chalice_app, aws_env):
    import app as app_module  # the handlers are module attributes, as Lambda's handler string names them

    driver = QueueDriver(app_module, aws_env)
    driver.drain()  # leftovers of earlier tests
    driver.dead_letters()
    return driver


def seed_contacts(api, count, prefix="c", domain="example.com", company=None):
    """Contacts written straight to the table in batches, with the keys put_contact would set."""
    from chalicelib.services.context import get_services
    from chalicelib.services.recipients import address_pk
    from chalicelib.store import keys

    services = get_services()
    ws = api.workspace_id
    ids = [f"{prefix}{n}" for n in range(count)]
    items = []
    for contact_id in ids:
        email = f"{contact_id}@{domain}"
        items.append(
            {
                "pk": keys.contact_pk(ws, contact_id),
                "ws": ws,
                "contact_id": contact_id,
                "email": email,
                "email_key": address_pk(services, ws, "email", email),
                "company_domain": company,
                "company_key": keys.company_key(ws, company) if company else None,
                "version": 1,
            }
        )
    write_items(services.config.contacts_table, items)
    return ids


def seed_enrollments(api, sequence_id, contact_ids, audience_id=None):
    """Active enrollments shaped exactly as EnrollmentStore.enroll writes them, written in batches
    (the API path is covered in test_enrollments)."""
    from chalicelib.services.context import get_services, iso, utcnow
    from chalicelib.services.enrollments import sequence_for
    from chalicelib.store import keys
    from chalicelib.store.enrollments import ACTIVE, seq_status

    services = get_services()
    ws = api.workspace_id
    sequence_for(services, ws, sequence_id, register=True)
    at = iso(utcnow())
    items = [
        {
            "pk": keys.enrollment_pk(ws, sequence_id),
            "sk": cid,
            "ws": ws,
            "sequence_id": sequence_id,
            "contact_id": cid,
            "status": ACTIVE,
            "audience_id": audience_id,
            "mode": "automated",
            "enrolled_at": at,
            "contact_key": keys.contact_pk(ws, cid),
            "seq_status": seq_status(ws, sequence_id, ACTIVE),
            "version": 1,
        }
        for cid in contact_ids
    ]
    write_items(services.config.enrollments_table, items)


def active(api, sequence_id):
    ids, cursor = [], None
    while True:
        status, page = api.get(
            f"/v1/sequences/{sequence_id}/enrollments?status=active" + (f"&cursor={cursor}" if cursor else "")
        )
        assert status == 200, page
        ids.extend(e["contact_id"] for e in page["enrollments"])
        cursor = page["next"]
        if not cursor:
            return ids


def job(api, job_id):
    status, body = api.get(f"/v1/jobs/{job_id}")
    assert status == 200, body
    return body


def test_r11_bulk_unenrollment_of_1000_by_sequence_finishes_with_correct_counts(api, queue):
    # Given 1,000 active enrollments in s1 and 5 in s2
    ids = seed_contacts(api, 1000)
    seed_enrollments(api, "s1", ids)
    seed_enrollments(api, "s2", ids[:5])
    # When a bulk unenrollment by sequence and status is requested
    status, answer = api.post("/v1/unenrollments", {"sequence_id": "s1", "status": "active"})
    # Then the API answers 202 with a job at once, before any work is done
    assert status == 202, answer
    assert job(api, answer["job_id"]) == {
        **job(api, answer["job_id"]),
        "status": "queued",
        "total": 0,
        "processed": 0,
        "failed": 0,
    }
    assert len(active(api, "s1")) == 1000
    # When the workers drain the queue
    queue.drain()
    # Then every enrollment of s1 ended, s2 is untouched, and progress is exact
    final = job(api, answer["job_id"])
    assert final["status"] == "done", final
    assert (final["total"], final["processed"], final["failed"], final["unenrolled"]) == (1000, 1000, 0, 1000)
    assert active(api, "s1") == []
    assert len(active(api, "s2")) == 5
    ended = api.get("/v1/sequences/s1/enrollments?status=unenrolled&limit=1")[1]["enrollments"][0]
    assert (ended["mode"], ended["unenroll_reason"]) == ("automated", "bulk_unenroll")
    assert ended["enrolled_at"] < ended["unenrolled_at"]
    # And ~100 contacts per message: 1 plan step + 10 batches, in a handful of invocations
    assert queue.invocations <= 4
    # And queued sends of s1 are now blocked (R4)
    verdict = api.post("/v1/send-check", {"contact_id": "c7", "channel": "email", "sequence_id": "s1"})[1]
    assert {"type": "enrollment", "reason": "unenrolled"} in verdict["blocked_by"]


def test_r10_proactive_exclusion_over_250_enrollments(api, queue):
    # Given 250 gmail contacts and 50 others enrolled in s1; the gmail ones also in s2 (exclusions off)
    gmail = seed_contacts(api, 250, prefix="g", domain="gmail.com")
    others = seed_contacts(api, 50, prefix="o", domain="corp.com")
    seed_enrollments(api, "s1", gmail[:240] + others)
    seed_enrollments(api, "s1", gmail[240:], audience_id="partners")
    api.put("/v1/sequences/s2", {"exclusions_enabled": False})
    seed_enrollments(api, "s2", gmail)
    # And a gmail rule saved disabled, which the 'partners' audience switches off
    body = {
        "name": "no gmail",
        "level": "person",
        "confirm": True,
        "enabled": False,
        "conditions": [{"field": "email_domain", "op": "eq", "value": "gmail.com"}],
    }
    status, created = api.post("/v1/exclusions", body)
    assert status == 201 and "job_id" not in created
    api.put("/v1/audiences/partners", {"disabled_exclusions": [created["exclusion_id"]]})
    status, preview = api.post("/v1/exclusions/preview", {**body, "enabled": True})
    # When it is enabled with proactive_unenroll
    status, patched = api.patch(
        f"/v1/exclusions/{created['exclusion_id']}", {"enabled": True, "proactive_unenroll": True}
    )
    assert status == 200 and patched["job_id"], patched
    queue.drain()
    # Then exactly the 240 matching enrollments in s1 ended (not the partners', not s2's, not others)
    final = job(api, patched["job_id"])
    assert final["status"] == "done", final
    assert (final["total"], final["processed"], final["failed"]) == (240, 240, 0)
    assert sorted(active(api, "s1")) == sorted(gmail[240:] + others)
    assert len(active(api, "s2")) == 250


def test_r10_proactive_exclusion_on_create_and_preview_count_agree(api, queue):
    gmail = seed_contacts(api, 30, prefix="g", domain="gmail.com")
    others = seed_contacts(api, 40, prefix="o", domain="corp.com")
    seed_enrollments(api, "s1", gmail + others)
    body = {
        "name": "no gmail",
        "level": "person",
        "proactive_unenroll": True,
        "conditions": [{"field": "email", "op": "ends_with", "value": "@gmail.com"}],
    }
    status, preview = api.post("/v1/exclusions/preview", body)
    assert (preview["matching_contacts"], preview["active_enrollments"]) == (30, 30)
    status, created = api.post("/v1/exclusions", body)
    assert status == 201 and created["job_id"]
    queue.drain()
    assert job(api, created["job_id"])["processed"] == preview["active_enrollments"]
    assert sorted(active(api, "s1")) == sorted(others)


def test_r11_unenrollment_by_contact_list_across_sequences(api, queue):
    ids = seed_contacts(api, 6)
    seed_enrollments(api, "s1", ids)
    seed_enrollments(api, "s2", ids[:3])
    # Without a sequence: every active enrollment of the listed contacts
    status, answer = api.post("/v1/unenrollments", {"contact_ids": ["c0", "c1", "c5", "ghost"]})
    assert status == 202
    queue.drain()
    final = job(api, answer["job_id"])
    assert final["status"] == "done" and final["total"] == final["processed"] == 5, final
    assert sorted(active(api, "s1")) == ["c2", "c3", "c4"]
    assert sorted(active(api, "s2")) == ["c2"]
    # With a sequence: only there
    status, answer = api.post("/v1/unenrollments", {"contact_ids": ["c2"], "sequence_id": "s2"})
    queue.drain()
    assert job(api, answer["job_id"])["status"] == "done"
    assert active(api, "s2") == [] and "c2" in active(api, "s1")


def test_r11_unenrollment_by_exclusion_id(api, queue):
    ids = seed_contacts(api, 4, prefix="g", domain="gmail.com") + seed_contacts(api, 6, prefix="o")
    seed_enrollments(api, "s1", ids)
    status, created = api.post(
        "/v1/exclusions",
        {"name": "g", "level": "person", "conditions": [{"field": "email_domain", "op": "eq", "value": "gmail.com"}]},
    )
    assert status == 201 and "job_id" not in created
    status, answer = api.post("/v1/unenrollments", {"exclusion_id": created["exclusion_id"]})
    assert status == 202
    queue.drain()
    assert job(api, answer["job_id"])["processed"] == 4
    assert sorted(active(api, "s1")) == [f"o{n}" for n in range(6)]


def test_r11_a_job_with_nothing_to_do_is_done(api, queue):
    status, answer = api.post("/v1/unenrollments", {"sequence_id": "empty"})
    assert status == 202
    queue.drain()
    assert job(api, answer["job_id"])["status"] == "done"


def test_r11_redelivery_is_harmless(api, queue):
    from chalicelib.store.enrollments import EnrollmentStore

    ids = seed_contacts(api, 150)
    seed_enrollments(api, "s1", ids)
    status, answer = api.post("/v1/unenrollments", {"sequence_id": "s1"})
    # When the plan message is delivered twice
    plan = queue.receive()
    assert len(plan) == 1 and json.loads(plan[0]["Body"])["kind"] == "plan"
    assert queue.invoke(plan) and queue.invoke(plan)
    # Then the job's total is counted once, and the batches it sent twice are identical
    assert job(api, answer["job_id"])["total"] == 150
    batches = []
    while messages := queue.receive():
        batches.extend(messages)
    assert len(batches) == 4
    assert sorted(json.loads(m["Body"])["batch_id"] for m in batches) == ["0-0", "0-0", "0-1", "0-1"]
    # When every batch message is processed, and then all of them again
    assert queue.invoke(batches)
    store = EnrollmentStore(__import__("chalicelib.config", fromlist=["get_config"]).get_config())
    first = store.get(api.workspace_id, "s1", "c42").unenrolled_at
    assert queue.invoke(batches)
    # Then nothing is counted twice and the cooldown start did not move
    final = job(api, answer["job_id"])
    assert (final["status"], final["total"], final["processed"], final["unenrolled"]) == ("done", 150, 150, 150)
    assert store.get(api.workspace_id, "s1", "c42").unenrolled_at == first


def test_r11_poison_message_reaches_the_dlq_without_blocking_the_rest(api, queue):
    # Given a garbage message queued ahead of a real job
    queue.sqs.send_message(QueueUrl=queue.url, MessageBody="this is not an unenrollment")
    ids = seed_contacts(api, 120)
    seed_enrollments(api, "s1", ids)
    status, answer = api.post("/v1/unenrollments", {"sequence_id": "s1"})
    # When the queue is drained (failed receives become visible again at once)
    queue.drain()
    # Then the job finished, and the garbage went to the dead-letter queue after the retries
    final = job(api, answer["job_id"])
    assert (final["status"], final["processed"], final["failed"]) == ("done", 120, 0), final
    assert active(api, "s1") == []
    assert queue.dead_letters() == ["this is not an unenrollment"]
    assert queue.failures >= 3


def test_r11_a_batch_that_keeps_failing_is_counted_failed_and_dead_lettered(api, queue, monkeypatch):
    from chalicelib.store.enrollments import EnrollmentStore

    ids = seed_contacts(api, 150)
    seed_enrollments(api, "s1", ids)
    original = EnrollmentStore.unenroll_batch

    def flaky(self, workspace_id, pairs, at, reason):
        if any(contact_id == "c99" for _, contact_id in pairs):  # c99 sorts last: the 50-contact batch
            raise RuntimeError("this batch always fails")
        return original(self, workspace_id, pairs, at, reason)

    monkeypatch.setattr(EnrollmentStore, "unenroll_batch", flaky)
    given_up: list[str] = []
    monkeypatch.setattr("chalicelib.consumers.batch.record_dead_lettered", given_up.append)
    status, answer = api.post("/v1/unenrollments", {"sequence_id": "s1"})
    queue.drain()
    # The give-up is counted once, on the last receive (maxReceiveCount 3), not on every failure
    assert given_up == ["unenroll"]
    # Then the healthy batch landed, the failing one is counted failed and sits in the DLQ
    final = job(api, answer["job_id"])
    assert (final["status"], final["total"], final["processed"], final["failed"]) == ("failed", 150, 100, 50)
    dead = [json.loads(body) for body in queue.dead_letters()]
    assert [(d["kind"], len(d["pairs"])) for d in dead] == [("batch", 50)]
    assert len(active(api, "s1")) == 50


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 422, "body"),
        ({"status": "active"}, 422, "body"),
        ({"sequence_id": "s1", "status": "paused"}, 422, "status"),
        ({"exclusion_id": "exc_x", "contact_ids": ["c1"]}, 422, "body"),
        ({"contact_ids": []}, 422, "contact_ids"),
        ({"contact_ids": ["bad id!"]}, 422, "contact_ids[0]"),
        ({"contact_ids": [f"c{n}" for n in range(1001)]}, 422, "contact_ids"),
        ({"exclusion_id": "exc_unknown"}, 404, "exclusion_id"),
    ],
)
def test_r11_invalid_unenrollment_requests(api, body, status, field):
    got, answer = api.post("/v1/unenrollments", body)
    assert got == status, answer
    assert field in answer["fields"], answer


def test_r14_jobs_are_per_workspace(api, other_api, queue):
    status, answer = api.post("/v1/unenrollments", {"sequence_id": "s1"})
    assert other_api.get(f"/v1/jobs/{answer['job_id']}")[0] == 404
    assert api.get("/v1/jobs/job_unknown")[0] == 404
    queue.drain()


def _raw_enrollment(workspace_id: str, sequence_id: str, contact_id: str) -> dict[str, Any]:
    from chalicelib.config import get_config
    from chalicelib.store.enrollments import EnrollmentStore
    from chalicelib.store.items import from_item

    store = EnrollmentStore(get_config())
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    found = ddb.get_item(
        TableName=store.table, Key=store.key(workspace_id, sequence_id, contact_id), ConsistentRead=True
    ).get("Item")
    return from_item(found) or {}


@pytest.mark.parametrize("sequences", [["s1"], ["s1", "s2"]], ids=["one-sequence", "across-sequences"])
def test_r11_bulk_unenrollment_keeps_every_attribute_of_the_enrollment(api, queue, sequences):
    """The worker rewrites each item with a batched put: whatever it does not read would be lost.
    The stored item must be exactly the enrollment as written by EnrollmentStore.enroll, unenrolled."""
    from chalicelib.config import get_config
    from chalicelib.store.enrollments import EnrollmentStore, enrollment_item, unenrolled_item

    store = EnrollmentStore(get_config())
    ids = seed_contacts(api, 3)
    before = {}
    for sequence_id in sequences:
        seed_enrollments(api, sequence_id, [])  # registers the sequence
        for n, cid in enumerate(ids):
            before[(sequence_id, cid)] = enrollment_item(
                store.enroll(
                    api.workspace_id,
                    sequence_id,
                    cid,
                    previous=None,
                    audience_id="partners" if n else None,
                    mode="manual",
                    company_domain="acme.example" if n != 1 else None,
                    at=f"2026-01-0{n + 1}T00:00:00Z",
                )
            )
    body = {"contact_ids": ids} if len(sequences) > 1 else {"sequence_id": "s1"}
    status, answer = api.post("/v1/unenrollments", body)
    assert status == 202, answer
    queue.drain()
    assert job(api, answer["job_id"])["unenrolled"] == len(before)
    for (sequence_id, cid), item in before.items():
        stored = _raw_enrollment(api.workspace_id, sequence_id, cid)
        expected = {
            k: v for k, v in unenrolled_item(item, stored["unenrolled_at"], "bulk_unenroll").items() if v is not None
        }
        assert stored == expected
        assert "seq_company" not in stored  # the company cap counts active enrollments only


def test_r11_bulk_unenrollment_emits_its_throughput_metric(api, queue, capsys):
    ids = seed_contacts(api, 130)
    seed_enrollments(api, "s1", ids)
    capsys.readouterr()
    status, answer = api.post("/v1/unenrollments", {"sequence_id": "s1"})
    queue.drain()
    assert job(api, answer["job_id"])["unenrolled"] == 130
    assert emf_total(capsys.readouterr().out, "Unenrollments") == 130
