"""Adoption and audit (R18, issue 16): import existing suppressions as a job, list them through the
sharded index with a cursor, export suppressions or audit entries to S3 behind a presigned URL.

The suppression-jobs queue is driven in-process the way Lambda's SQS event source would (receive,
call ``app.on_suppression_job``, delete on return)."""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Any

import boto3
import pytest

from tests.integration.conftest import Api, SqsSource


class JobsQueue(SqsSource):
    def __init__(self, app: Any, env: dict[str, str]) -> None:
        super().__init__(app, env["OPTOUT_SUPPRESSION_JOBS_QUEUE_URL"])

    def bodies(self) -> list[dict[str, Any]]:
        """Messages waiting (received and made visible again), for inspection."""
        messages = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return [json.loads(m["Body"]) for m in messages.get("Messages", [])]

    def step(self) -> None:
        """Handle one message."""
        message = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=1, VisibilityTimeout=60)["Messages"][
            0
        ]
        self.app.on_suppression_job(self.event([message]), None)
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def drain(self, limit: int = 2000) -> int:
        handled = 0
        for _ in range(limit):
            messages = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=60
            ).get("Messages", [])
            if not messages:
                return handled
            for message in messages:  # batch_size=1, as deployed
                self.app.on_suppression_job(self.event([message]), None)
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
                handled += 1
        raise AssertionError("queue did not drain")


@pytest.fixture()
def jobs(chalice_app, aws_env) -> JobsQueue:
    import app as app_module

    driver = JobsQueue(app_module, aws_env)
    driver.drain()
    return driver


def csv_body(
    rows: list[dict[str, str]], columns: tuple[str, ...] = ("email", "channel", "reason", "kind", "source", "at")
) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    return out.getvalue()


def import_file(api: Api, body: str, media: str = "text/csv") -> tuple[int, Any]:
    return api.post("/v1/suppressions/import", raw=body.encode(), headers={"Content-Type": media})


def job(api: Api, job_id: str) -> dict[str, Any]:
    status, body = api.get(f"/v1/jobs/{job_id}")
    assert status == 200, body
    return body


def rows_with_bad(count: int, bad_at: dict[int, dict[str, str]]) -> list[dict[str, str]]:
    rows = []
    for n in range(count):
        rows.append(
            bad_at.get(n)
            or {
                "email": f"Person{n}@Example.com",
                "reason": "unsubscribed",
                "kind": "permanent",
                "source": "contact",
                "at": f"2021-03-{1 + n % 28:02d}T10:00:00Z",
            }
        )
    return rows


def test_r18_import_applies_good_rows_and_rejects_bad_ones_by_line(api: Api, jobs: JobsQueue):
    # Given a CSV of 300 rows, three of them bad (file lines 12, 101 and 251: the header is line 1)
    bad = {
        10: {"email": "not-an-address", "reason": "x"},
        99: {"email": "a@b.example", "channel": "sms"},
        249: {"email": "c@d.example", "at": "yesterday"},
    }
    body = csv_body(rows_with_bad(300, bad))
    # When it is imported
    status, accepted = import_file(api, body)
    # Then the API answers 202 with a job at once, the file staged for the planner
    assert status == 202, accepted
    assert [b["kind"] for b in jobs.bodies()] == ["import_plan"]
    assert job(api, accepted["job_id"])["status"] in ("queued", "running")
    assert job(api, accepted["job_id"])["total"] == 300
    # And once the worker drained the queue the job reports every row
    jobs.drain()
    done = job(api, accepted["job_id"])
    assert done["status"] == "done", done
    assert (done["total"], done["processed"], done["failed"], done["imported"]) == (300, 297, 0, 297)
    assert done["rejected"] == [
        {"line": 12, "error": "invalid email"},
        {"line": 101, "error": "channel must be one of email, all for an email"},
        {"line": 251, "error": "at must be an ISO 8601 date or time"},
    ]
    # And an imported address is blocked, its audit keeping the original date and saying it was imported
    check = api.post("/v1/send-check", {"email": "person5@example.com", "channel": "email"})[1]
    assert check["allowed"] is False and check["blocked_by"][0]["reason"] == "unsubscribed"
    entries = api.get("/v1/audit?email=person5@example.com")[1]["entries"]
    assert len(entries) == 1
    assert entries[0]["at"] == "2021-03-06T10:00:00.000000Z"
    assert entries[0]["imported"] is True and entries[0]["imported_at"] > "2025"
    assert (entries[0]["kind"], entries[0]["source"]) == ("permanent", "contact")


def test_r18_importing_the_same_file_twice_adds_nothing(api: Api, jobs: JobsQueue):
    body = csv_body(rows_with_bad(120, {}))
    first = import_file(api, body)[1]["job_id"]
    jobs.drain()
    assert job(api, first)["imported"] == 120
    # When the same file is imported again
    second = import_file(api, body)[1]["job_id"]
    jobs.drain()
    # Then nothing is added: no new audit entry, every row counted unchanged
    again = job(api, second)
    assert (again["status"], again["processed"], again["imported"], again["unchanged"]) == ("done", 120, 0, 120)
    assert len(api.get("/v1/audit?email=person7@example.com")[1]["entries"]) == 1
    listed = api.get("/v1/suppressions?limit=500")[1]["suppressions"]
    assert len(listed) == 120


def test_r18_a_redelivered_chunk_counts_and_writes_nothing_twice(api: Api, jobs: JobsQueue):
    import app as app_module

    status, accepted = import_file(api, csv_body(rows_with_bad(10, {})))
    # Given the planner has queued the rows (hashed) and removed the staged file
    jobs.step()
    chunk = jobs.bodies()[0]
    assert chunk["kind"] == "import" and "example.com" not in json.dumps(chunk)
    assert staged_files(api.workspace_id) == []
    jobs.drain()
    # When the same chunk, and the plan, are delivered again
    for body in (chunk, {"kind": "import_plan", "ws": api.workspace_id, "job_id": accepted["job_id"]}):
        record = {"messageId": "m", "receiptHandle": "r", "body": json.dumps(body), "attributes": {}}
        app_module.on_suppression_job({"Records": [record]}, None)
    # Then nothing is counted or written twice
    done = job(api, accepted["job_id"])
    assert (done["processed"], done["imported"], done["total"]) == (10, 10, 10)
    assert len(api.get("/v1/audit?email=person1@example.com")[1]["entries"]) == 1
    assert jobs.bodies() == []


def test_r18_a_chunk_redelivered_after_its_rows_were_written_counts_them_imported_once(
    api: Api, jobs: JobsQueue, monkeypatch: pytest.MonkeyPatch
):
    """A worker that wrote a chunk's rows and stopped before counting them (Lambda timeout, crash,
    a second delivery running at the same time): the redelivery writes nothing again and counts
    those rows as imported by this job, not as unchanged; nothing goes to the DLQ."""
    import app as app_module
    from chalicelib.store.jobs import JobStore

    job_id = import_file(api, csv_body(rows_with_bad(10, {})))[1]["job_id"]
    jobs.step()  # the planner
    chunk = jobs.bodies()[0]
    # Given the first delivery of the chunk writes its rows, then stops before counting them
    original = JobStore.commit_step

    def stop_before_counting(self: JobStore, *args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("worker stopped (test)")

    monkeypatch.setattr(JobStore, "commit_step", stop_before_counting)
    record = {"messageId": "m", "receiptHandle": "r", "body": json.dumps(chunk), "attributes": {}}
    with pytest.raises(Exception, match="1 of 1 messages failed"):
        app_module.on_suppression_job({"Records": [record]}, None)
    assert job(api, job_id)["processed"] == 0
    assert len(api.get("/v1/audit?email=person1@example.com")[1]["entries"]) == 1
    # When the chunk is delivered again
    monkeypatch.setattr(JobStore, "commit_step", original)
    jobs.drain()
    # Then every row is counted once, as imported, and written once
    done = job(api, job_id)
    assert (done["status"], done["processed"], done["imported"], done["unchanged"], done["failed"]) == (
        "done", 10, 10, 0, 0,
    )  # fmt: skip
    assert len(api.get("/v1/audit?email=person1@example.com")[1]["entries"]) == 1


def test_r18_a_row_repeated_in_the_file_is_applied_once_and_counted_unchanged(api: Api, jobs: JobsQueue):
    rows = rows_with_bad(150, {})
    job_id = import_file(api, csv_body(rows + rows[:3] + rows[120:122]))[1]["job_id"]
    jobs.drain()
    counts = {
        k: v for k, v in job(api, job_id).items() if k in ("status", "total", "processed", "imported", "unchanged")
    }
    assert counts == {"status": "done", "total": 155, "processed": 155, "imported": 150, "unchanged": 5}
    assert [e["action"] for e in api.get("/v1/audit?email=person121@example.com")[1]["entries"]] == ["enabled"]


def staged_files(workspace_id: str) -> list[str]:
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = os.environ["OPTOUT_EXPORTS_BUCKET"]
    found = s3.list_objects_v2(Bucket=bucket, Prefix=f"imports/{workspace_id}/").get("Contents", [])
    return [o["Key"] for o in found]


def test_r18_a_weaker_imported_reason_never_replaces_a_stronger_entry(api: Api, jobs: JobsQueue):
    # Given the person's own permanent opt-out
    import_file(
        api,
        csv_body([{"email": "ann@example.com", "reason": "unsubscribed", "kind": "permanent", "source": "contact"}]),
    )
    jobs.drain()
    # When an import brings the same reason as a temporary entry set by the team, and a bounce
    body = csv_body(
        [
            {"email": "ann@example.com", "reason": "unsubscribed", "kind": "temporary", "source": "user"},
            {"email": "ann@example.com", "reason": "hard_bounce", "kind": "temporary", "source": "system"},
        ]
    )
    job_id = import_file(api, body)[1]["job_id"]
    jobs.drain()
    # Then the opt-out stays permanent and the person's own; the bounce is an entry of its own
    assert (job(api, job_id)["imported"], job(api, job_id)["unchanged"]) == (1, 1)
    api.put("/v1/contacts/c-ann", {"email": "ann@example.com"})
    contact = api.get("/v1/contacts/c-ann")[1]
    email = contact["dnd"]["outbound"]["email"]
    assert (email["reason"], email["kind"], email["source"]) == ("unsubscribed", "permanent", "contact")
    assert email["reasons"] == ["hard_bounce", "unsubscribed"]
    # And clearing the bounce leaves the opt-out in place
    api.post(
        "/v1/dnd",
        {
            "contact_id": "c-ann",
            "channel": "email",
            "action": "disable",
            "source": "user",
            "clear_reasons": ["hard_bounce"],
        },
    )
    assert api.get("/v1/contacts/c-ann")[1]["dnd"]["outbound"]["email"]["reasons"] == ["unsubscribed"]


def test_r18_ndjson_import_with_phones_and_channel_defaults(api: Api, jobs: JobsQueue):
    lines = [
        {"phone": "+1 415 555 0100", "reason": "sms_stop", "source": "contact", "at": "2020-01-02"},
        {"phone": "+14155550101", "channel": "all"},
        {"email": "bob@example.com"},
    ]
    status, accepted = import_file(api, "\n".join(json.dumps(line) for line in lines) + "\n", "application/x-ndjson")
    assert status == 202, accepted
    jobs.drain()
    assert job(api, accepted["job_id"])["imported"] == 3
    check = api.post("/v1/send-check", {"phone": "+14155550100", "channel": "sms"})[1]
    assert check["allowed"] is False
    assert api.post("/v1/send-check", {"phone": "+14155550100", "channel": "call"})[1]["allowed"] is True
    assert api.post("/v1/send-check", {"phone": "+14155550101", "channel": "whatsapp"})[1]["allowed"] is False
    entry = api.get("/v1/audit?phone=%2B14155550100")[1]["entries"][0]
    assert (entry["at"], entry["kind"], entry["reason"]) == ("2020-01-02T00:00:00.000000Z", "permanent", "sms_stop")
    email = api.get("/v1/audit?email=bob@example.com")[1]["entries"][0]
    assert (email["reason"], email["kind"], email["source"]) == ("imported", "temporary", "user")


@pytest.mark.parametrize(
    "body,media,line",
    [
        ('{"email": "a@example.com"}\n{"email": \n', "application/x-ndjson", 2),
        ('{"email": "a@example.com"}\n\n[1, 2]\n', "application/x-ndjson", 3),
        ("address,reason\na@example.com,x\n", "text/csv", 1),
        ('email,reason\na@example.com,x\nb@example.com,"never closed\n', "text/csv", 3),
        ("", "text/csv", None),
    ],
)
def test_r18_a_malformed_file_is_refused_naming_the_line(api: Api, jobs: JobsQueue, body: str, media: str, line):
    status, answer = import_file(api, body, media)
    assert status == 400, answer
    if line is not None:
        assert answer["fields"]["line"] == str(line) and f"line {line}" in answer["message"]
    assert jobs.bodies() == []


def test_r18_a_body_over_10_mb_is_413_with_a_hint(api: Api):
    row = "someone@example.com,unsubscribed\n"
    body = "email,reason\n" + row * (10 * 1024 * 1024 // len(row) + 1)
    status, answer = import_file(api, body)
    assert status == 413 and answer["error"] == "payload_too_large" and "split" in answer["message"]


def seed_suppressions(api: Api, jobs: JobsQueue, count: int) -> None:
    rows = []
    for n in range(count):
        rows.append(
            {
                "email": f"p{n}@example.com",
                "reason": "unsubscribed" if n % 3 else "hard_bounce",
                "kind": "permanent" if n % 3 else "temporary",
                "source": "contact" if n % 3 else "system",
                "at": f"2022-01-{1 + n % 28:02d}T00:00:{n % 60:02d}Z",
            }
        )
    import_file(api, csv_body(rows))
    jobs.drain()


def page_all(api: Api, query: str, limit: int) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        path = f"/v1/suppressions?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
        status, page = api.get(path)
        assert status == 200, page
        seen.extend(page["suppressions"])
        cursor = page["next"]
        if not cursor:
            return seen
    raise AssertionError("paging did not end")


def test_r18_listing_pages_through_every_matching_suppression_exactly_once(api: Api, jobs: JobsQueue):
    # Given 130 suppressions and two contacts holding suppressed addresses
    seed_suppressions(api, jobs, 130)
    api.put("/v1/contacts/c1", {"email": "p1@example.com"})
    api.put("/v1/contacts/c2", {"email": "p1@example.com"})
    # When listed 7 at a time
    listed = page_all(api, "", 7)
    # Then every suppression appears exactly once, oldest first
    assert len(listed) == 130
    ats = [s["at"] for s in listed]
    assert ats == sorted(ats)
    assert len({s["suppression_id"] for s in listed}) == 130
    one = next(s for s in listed if s["at"] == "2022-01-02T00:00:01.000000Z")
    assert sorted(one["contact_ids"]) == ["c1", "c2"]
    assert set(one) >= {"contact_ids", "channel", "direction", "reason", "kind", "source", "at"}
    # And filters narrow the same way, paged too
    bounces = page_all(api, "&reason=hard_bounce&source=system&kind=temporary", 5)
    assert len(bounces) == 44 and {s["reason"] for s in bounces} == {"hard_bounce"}
    window = page_all(api, "&since=2022-01-05T00:00:00Z&until=2022-01-06", 4)
    assert {s["at"][:10] for s in window} == {"2022-01-05"}
    assert len(window) == len([n for n in range(130) if 1 + n % 28 == 5])
    assert page_all(api, "&channel=sms", 10) == []


def test_r18_listing_follows_clears(api: Api, jobs: JobsQueue):
    seed_suppressions(api, jobs, 3)
    api.post("/v1/dnd", {"email": "p0@example.com", "channel": "email", "action": "disable", "source": "user"})
    listed = page_all(api, "", 10)
    assert len(listed) == 2 and all(s["reason"] == "unsubscribed" for s in listed)
    # A live opt-out is listed too, with its contact
    api.put("/v1/contacts/c9", {"phone": "+14155550199"})
    api.post("/v1/dnd", {"contact_id": "c9", "channel": "sms", "action": "enable", "source": "user"})
    live = page_all(api, "&channel=sms", 10)
    assert [(s["contact_ids"], s["reason"], s["source"]) for s in live] == [(["c9"], "manual", "user")]


@pytest.mark.parametrize(
    "query,field",
    [("?channel=fax", "channel"), ("?since=yesterday", "since"), ("?cursor=%%%", "cursor"), ("?limit=0", "limit")],
)
def test_r18_listing_refuses_bad_filters(api: Api, query: str, field: str):
    status, body = api.get("/v1/suppressions" + query)
    assert status == 422 and field in body["fields"], body


def test_r14_listing_is_per_workspace(api: Api, other_api: Api, jobs: JobsQueue):
    seed_suppressions(api, jobs, 4)
    assert other_api.get("/v1/suppressions")[1]["suppressions"] == []


def parse_export(text: str, fmt: str) -> list[dict[str, Any]]:
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    return [json.loads(line) for line in text.splitlines()]


def download(url: str) -> str:
    import requests

    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return response.text


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_r18_export_suppressions_to_a_presigned_file(api: Api, jobs: JobsQueue, fmt: str):
    seed_suppressions(api, jobs, 25)
    api.put("/v1/contacts/c1", {"email": "P1@example.com"})
    status, accepted = api.post("/v1/exports", {"kind": "suppressions", "format": fmt})
    assert status == 202, accepted
    assert job(api, accepted["job_id"])["status"] == "queued"
    jobs.drain()
    done = job(api, accepted["job_id"])
    assert done["status"] == "done" and done["total"] == 25, done
    assert "X-Amz-Expires=3600" in done["download_url"]
    text = download(done["download_url"])
    rows = parse_export(text, fmt)
    assert len(rows) == 25
    holder = next(r for r in rows if r["email"])
    assert holder["email"] == "p1@example.com" and "c1" in holder["contact_ids"]
    others = [r for r in rows if not r["email"]]
    assert len(others) == 24 and all(len(r["address_hash"]) == 64 for r in others)
    assert "p2@example.com" not in text  # no contact holds it: only its keyed hash


def test_r18_export_audit_entries_with_filters(api: Api, jobs: JobsQueue):
    seed_suppressions(api, jobs, 9)
    api.post("/v1/dnd", {"email": "p0@example.com", "channel": "email", "action": "disable", "source": "user"})
    _, accepted = api.post("/v1/exports", {"kind": "audit", "format": "ndjson", "source": "user"})
    jobs.drain()
    rows = [json.loads(line) for line in download(job(api, accepted["job_id"])["download_url"]).splitlines()]
    assert [(r["action"], r["reason"]) for r in rows] == [("disabled", "hard_bounce")]
    _, everything = api.post("/v1/exports", {"kind": "audit", "filters": {"kind": "permanent"}})
    jobs.drain()
    text = download(job(api, everything["job_id"])["download_url"])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 6 and all(r["imported"] == "True" for r in rows)


@pytest.mark.parametrize(
    "body,field",
    [
        ({"kind": "contacts"}, "kind"),
        ({"kind": "audit", "format": "xml"}, "format"),
        ({"kind": "audit", "since": "x"}, "since"),
    ],
)
def test_r18_export_refuses_bad_requests(api: Api, body: dict[str, Any], field: str):
    status, answer = api.post("/v1/exports", body)
    assert status == 422 and field in answer["fields"], answer


# --- follow-ups of imported rows: events, unenrollment, the outbox ------------------------------

from tests.integration.test_dnd_events import assert_valid_and_anonymous  # noqa: E402
from tests.integration.test_dnd_events import dnd_events as dnd_events  # noqa: E402,F401  (fixture)
from tests.integration.test_dnd_outbox import EMAIL as ENROLLED_EMAIL  # noqa: E402
from tests.integration.test_dnd_outbox import GRACE, FollowUpFaults, active, enrolled_contact, pending  # noqa: E402
from tests.integration.test_dnd_outbox import faults as faults  # noqa: E402,F401  (fixture)
from tests.integration.test_dnd_outbox import sweep as sweep  # noqa: E402,F401  (fixture)


def test_r18_imported_opt_out_runs_the_live_follow_ups(api: Api, jobs: JobsQueue, dnd_events):
    # Given a contact enrolled in a sequence
    enrolled_contact(api)
    # When an import records that person's own opt-out
    import_file(
        api, csv_body([{"email": ENROLLED_EMAIL, "reason": "unsubscribed", "source": "contact", "at": "2020-05-05"}])
    )
    jobs.drain()
    # Then, as for a live opt-out, the contact is unenrolled and a dnd.changed event names it
    assert active(api) == []
    events = dnd_events(api.workspace_id)
    assert [(e["contact_ids"], e["reason"], e["at"]) for _, e in events] == [
        (["c1"], "unsubscribed", "2020-05-05T00:00:00.000000Z")
    ]
    for raw, event in events:
        assert_valid_and_anonymous(raw, event)
    assert pending(api.workspace_id) == []


def test_r18_follow_ups_of_an_import_that_failed_are_completed_by_the_sweeper(
    api: Api, jobs: JobsQueue, faults: FollowUpFaults, sweep, dnd_events
):
    # Given event publishing fails while a chunk is applied
    enrolled_contact(api)
    faults.fail("sns")
    job_id = import_file(api, csv_body(rows_with_bad(5, {}) + [{"email": ENROLLED_EMAIL, "source": "contact"}]))[1][
        "job_id"
    ]
    jobs.drain()
    # Then the rows are stored and counted, and one outbox item holds their follow-ups
    assert job(api, job_id)["imported"] == 6
    assert len(pending(api.workspace_id)) == 1
    assert dnd_events(api.workspace_id) == []
    # When the sweeper runs after the grace period
    faults.heal()
    report = sweep(after=GRACE + 1)
    # Then every event is published once, the contact unenrolled, and the item gone
    assert len(report.completed) >= 1
    assert pending(api.workspace_id) == []
    assert len(dnd_events(api.workspace_id)) == 6
    assert active(api) == []


def test_r18_a_workspace_with_many_contacts_finds_each_imported_addresss_holders(
    api: Api, jobs: JobsQueue, dnd_events, monkeypatch: pytest.MonkeyPatch
):
    """More contacts than one lookup reads at once: one Query per address instead, same result."""
    import chalicelib.store.contacts as contacts_store

    monkeypatch.setattr(contacts_store, "WORKSPACE_CONTACTS_AT_ONCE", 1)
    # Given a workspace with more contacts than the import has addresses, one of them enrolled
    enrolled_contact(api)
    for n in range(3):
        assert api.put(f"/v1/contacts/other{n}", {"email": f"other{n}@example.net"})[0] == 200
    # When an import names the enrolled contact's address (and another)
    rows = [{"email": ENROLLED_EMAIL, "source": "contact", "at": "2020-05-05"}, {"email": "nobody@example.org"}]
    import_file(api, csv_body(rows))
    jobs.drain()
    # Then, as with few contacts, that contact is unenrolled and its event names it
    assert active(api) == []
    events = sorted((e["contact_ids"], e["at"]) for _, e in dnd_events(api.workspace_id))
    assert events[0] == ([], events[0][1]) and events[1] == (["c1"], "2020-05-05T00:00:00.000000Z")
