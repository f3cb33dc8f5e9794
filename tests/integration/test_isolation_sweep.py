"""R14 sweep: for EVERY internal route registered on the app, workspace B's key aimed at workspace
A's objects (same ids, same addresses) neither reads nor changes anything of A.

Data-driven: the routes come from ``app.routes`` minus the public ones; a new internal route
without a case in SWEEP fails ``test_r14_every_internal_route_has_a_sweep_case``. Every answer
B gets is also checked against the OpenAPI document (status documented, body matches).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest

import app as app_module
from app import app
from chalicelib.openapi import OPERATIONS, build_document
from tests.integration.conftest import ADMIN_KEY, Api, new_workspace

A_EMAIL = "a-secret@acorp.example.com"
A_PHONE = "+14155552671"
PUBLIC = {(path, method) for (path, method), op in OPERATIONS.items() if op.auth != "api_key"}
INTERNAL = sorted(
    (path, method.upper())
    for path, methods in app.routes.items()
    for method in methods
    if (path, method.upper()) not in PUBLIC
)
DOCUMENT = build_document()


@dataclass
class Seeded:
    exclusion_id: str
    job_id: str
    secrets: tuple[str, ...]
    flag_id: str = ""
    key_id: str = ""


def drain_unenroll_queue(aws_env: dict[str, str]) -> None:
    """Run the unenrollment worker in-process on whatever is queued (as Lambda would)."""
    from chalicelib.store.aws import client
    from infra.local.dispatcher import sqs_record

    sqs = client("sqs")
    url = aws_env["OPTOUT_UNENROLL_QUEUE_URL"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for _ in range(200):
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return
        app_module.on_unenroll_batch({"Records": [sqs_record(m, arn, "us-east-1") for m in messages]}, None)
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
        )


def drain_suppression_jobs(aws_env: dict[str, str]) -> None:
    """Run the suppression import/export worker in-process on whatever is queued."""
    from chalicelib.store.aws import client
    from infra.local.dispatcher import sqs_record

    sqs = client("sqs")
    url = aws_env["OPTOUT_SUPPRESSION_JOBS_QUEUE_URL"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for _ in range(200):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"]).get("Messages", [])
        if not messages:
            return
        app_module.on_suppression_job({"Records": [sqs_record(messages[0], arn, "us-east-1")]}, None)
        sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])


def ok(status: int, body: Any) -> None:
    assert status < 300, (status, body)


def seed(a: Api) -> Seeded:
    """Workspace A: a contact with personal data and DND, settings, a sequence, an audience, an
    exclusion rule, an active enrollment and a finished unenrollment job."""
    ok(
        *a.put(
            "/v1/contacts/c1",
            {
                "email": A_EMAIL,
                "phone": A_PHONE,
                "company_domain": "acorp.example.com",
                "attributes": {"secret": "a-only"},
            },
        )
    )
    ok(*a.put("/v1/contacts/c2", {"email": "c2-secret@acorp.example.com"}))
    ok(*a.put("/v1/contacts/c3", {"email": "c3-secret@acorp.example.com"}))
    ok(
        *a.post(
            "/v1/dnd",
            {
                "contact_id": "c1",
                "channel": "email",
                "action": "enable",
                "source": "user",
                "reason": "a_private_reason",
            },
        )
    )
    ok(*a.patch("/v1/settings", {"sms_help_text": "A-help-text", "soft_bounce_limit": 9}))
    ok(*a.put("/v1/sequences/s-a", {"reenroll_cooldown_days": 17}))
    status, rule = a.post(
        "/v1/exclusions",
        {
            "name": "A-rule",
            "level": "person",
            "conditions": [{"field": "email", "op": "ends_with", "value": "@nomatch-a.example.org"}],
        },
    )
    ok(status, rule)
    ok(*a.put("/v1/audiences/aud-a", {"disabled_exclusions": [rule["exclusion_id"]]}))
    ok(*a.post("/v1/sequences/s-a/enrollments", {"contact_id": "c2"}))
    ok(*a.post("/v1/sequences/s-a/enrollments", {"contact_id": "c3"}))
    status, job = a.post("/v1/unenrollments", {"sequence_id": "s-a", "contact_ids": ["c3"]})
    ok(status, job)
    # R15: an open flag (a reply that may revoke consent) for a person of A to resolve
    status, replied = a.post("/v1/replies", {"contact_id": "c3", "sequence_id": "s-a", "body": "Not interested."})
    ok(status, replied)
    status, key = a.post("/v1/keys")
    ok(status, key)
    ok(*a.put("/v1/topics/news-a", {"name": "A-topic-name", "channels": ["email"]}))
    ok(
        *a.post(
            "/v1/subscriptions", {"contact_id": "c1", "topic_id": "news-a", "action": "unsubscribe", "source": "user"}
        )
    )
    return Seeded(
        rule["exclusion_id"],
        job["job_id"],
        (
            A_EMAIL,
            "c2-secret",
            "c3-secret",
            "a-only",
            "A-help-text",
            "A-rule",
            "A-topic-name",
            "a_private_reason",
            "acorp.example.com",
            rule["exclusion_id"],
            job["job_id"],
            replied["flag_id"],
            key["api_key"],
            key["key_id"],
        ),
        replied["flag_id"],
        key["key_id"],
    )


def snapshot(a: Api, seeded: Seeded) -> dict[str, Any]:
    return {
        "c1": a.get("/v1/contacts/c1"),
        "c2": a.get("/v1/contacts/c2"),
        "audit": a.get("/v1/audit?contact_id=c1"),
        "audit_email": a.get("/v1/audit?email=" + quote(A_EMAIL)),
        "settings": a.get("/v1/settings"),
        "sequence": a.get("/v1/sequences/s-a"),
        "enrollments": a.get("/v1/sequences/s-a/enrollments"),
        "rule": a.get(f"/v1/exclusions/{seeded.exclusion_id}"),
        "rules": a.get("/v1/exclusions"),
        "job": a.get(f"/v1/jobs/{seeded.job_id}"),
        "flags": a.get("/v1/flags"),
        "check": a.post("/v1/send-check", {"contact_id": "c1", "channel": "email"}),
        "check_sms": a.post("/v1/send-check", {"phone": A_PHONE, "channel": "sms"}),
        "enroll_check": a.post("/v1/send-check", {"contact_id": "c2", "channel": "email", "sequence_id": "s-a"}),
        # last_used_at moves with A's own use (once a minute): the keys themselves must not change
        "keys": sorted((k["key_id"], k["prefix"], k["created_at"]) for k in a.get("/v1/keys")[1]["keys"]),
        "suppressions": a.get("/v1/suppressions"),
        "topics": a.get("/v1/topics"),
        "topic_check": a.post("/v1/send-check", {"email": A_EMAIL, "channel": "email", "topic_id": "news-a"}),
    }


# One case per internal route: what B sends, aimed at A's ids/addresses, and the statuses B may get.
Request = Callable[[Seeded], tuple[str, Any]]
A_RULE = {
    "name": "B-rule",
    "level": "person",
    "conditions": [{"field": "email", "op": "ends_with", "value": "@acorp.example.com"}],
}
SWEEP: dict[tuple[str, str], tuple[Request, set[int]]] = {
    ("/v1/contacts/{contact_id}", "GET"): (lambda s: ("/v1/contacts/c1", None), {404}),
    ("/v1/contacts/{contact_id}", "PUT"): (lambda s: ("/v1/contacts/c1", {"email": "b@bcorp.example.net"}), {200}),
    ("/v1/contacts/{contact_id}", "DELETE"): (lambda s: ("/v1/contacts/c1", None), {404}),
    ("/v1/dnd", "POST"): (
        lambda s: (
            "/v1/dnd",
            {"contact_id": "c1", "channel": "email", "action": "disable", "source": "user", "evidence": "b says so"},
        ),
        {404},
    ),
    ("/v1/audit", "GET"): (lambda s: ("/v1/audit?contact_id=c1", None), {404}),
    ("/v1/audit/search", "POST"): (lambda s: ("/v1/audit/search", {"contact_id": "c1"}), {404}),
    ("/v1/send-check", "POST"): (lambda s: ("/v1/send-check", {"contact_id": "c1", "channel": "email"}), {404}),
    ("/v1/send-check/batch", "POST"): (
        lambda s: (
            "/v1/send-check/batch",
            {
                "checks": [
                    {"contact_id": "c1", "channel": "email"},
                    {"email": A_EMAIL, "channel": "email"},
                    {"contact_id": "c2", "channel": "email", "sequence_id": "s-a"},
                ]
            },
        ),
        {200},
    ),
    ("/v1/settings", "GET"): (lambda s: ("/v1/settings", None), {200}),
    ("/v1/settings", "PATCH"): (lambda s: ("/v1/settings", {"sms_help_text": "B-help", "soft_bounce_limit": 2}), {200}),
    ("/v1/unsubscribe-links", "POST"): (lambda s: ("/v1/unsubscribe-links", {"contact_id": "c1"}), {404}),
    ("/v1/exclusions", "GET"): (lambda s: ("/v1/exclusions", None), {200}),
    ("/v1/exclusions", "POST"): (lambda s: ("/v1/exclusions", {**A_RULE, "proactive_unenroll": True}), {201}),
    ("/v1/exclusions/preview", "POST"): (lambda s: ("/v1/exclusions/preview", A_RULE), {200}),
    ("/v1/exclusions/import", "POST"): (
        lambda s: (
            "/v1/exclusions/import?level=person&name=B-import&proactive_unenroll=true",
            "email\n" + A_EMAIL + "\nc2-secret@acorp.example.com\n",
        ),
        {201},
    ),
    ("/v1/exclusions/{exclusion_id}", "GET"): (lambda s: (f"/v1/exclusions/{s.exclusion_id}", None), {404}),
    ("/v1/exclusions/{exclusion_id}", "PATCH"): (
        lambda s: (f"/v1/exclusions/{s.exclusion_id}", {"enabled": False, "name": "hijacked"}),
        {404},
    ),
    ("/v1/exclusions/{exclusion_id}", "DELETE"): (lambda s: (f"/v1/exclusions/{s.exclusion_id}", None), {404}),
    ("/v1/sequences/{sequence_id}", "GET"): (lambda s: ("/v1/sequences/s-a", None), {404}),
    ("/v1/sequences/{sequence_id}", "PUT"): (lambda s: ("/v1/sequences/s-a", {"reenroll_cooldown_days": 1}), {200}),
    ("/v1/audiences/{audience_id}", "PUT"): (lambda s: ("/v1/audiences/aud-a", {"disabled_exclusions": []}), {200}),
    ("/v1/sequences/{sequence_id}/enrollments", "GET"): (lambda s: ("/v1/sequences/s-a/enrollments", None), {200}),
    ("/v1/sequences/{sequence_id}/enrollments", "POST"): (
        lambda s: ("/v1/sequences/s-a/enrollments", {"contact_id": "c2"}),
        {404},
    ),
    ("/v1/sequences/{sequence_id}/enrollments/{contact_id}", "DELETE"): (
        lambda s: ("/v1/sequences/s-a/enrollments/c2", None),
        {404},
    ),
    ("/v1/unenrollments", "POST"): (lambda s: ("/v1/unenrollments", {"sequence_id": "s-a", "status": "active"}), {202}),
    ("/v1/jobs/{job_id}", "GET"): (lambda s: (f"/v1/jobs/{s.job_id}", None), {404}),
    ("/v1/keys", "GET"): (lambda s: ("/v1/keys", None), {200}),
    ("/v1/keys", "POST"): (lambda s: ("/v1/keys", None), {201}),
    ("/v1/keys/{key_id}", "DELETE"): (lambda s: (f"/v1/keys/{s.key_id}", None), {404}),
    ("/v1/suppressions", "GET"): (lambda s: ("/v1/suppressions?channel=email", None), {200}),
    ("/v1/suppressions/import", "POST"): (
        lambda s: ("/v1/suppressions/import", "email,reason\n" + A_EMAIL + ",b_reason\n"),
        {202},
    ),
    ("/v1/exports", "POST"): (lambda s: ("/v1/exports", {"kind": "audit", "format": "ndjson"}), {202}),
    ("/v1/topics", "GET"): (lambda s: ("/v1/topics", None), {200}),
    ("/v1/topics/{topic_id}", "GET"): (lambda s: ("/v1/topics/news-a", None), {404}),
    ("/v1/topics/{topic_id}", "PUT"): (lambda s: ("/v1/topics/news-a", {"name": "B", "channels": ["sms"]}), {200}),
    ("/v1/topics/{topic_id}", "DELETE"): (lambda s: ("/v1/topics/news-a", None), {404}),
    ("/v1/subscriptions", "POST"): (
        lambda s: (
            "/v1/subscriptions",
            {"email": A_EMAIL, "topic_id": "news-a", "action": "resubscribe", "source": "user", "evidence": "b"},
        ),
        {422},
    ),
    ("/v1/replies", "POST"): (
        lambda s: ("/v1/replies", {"contact_id": "c2", "sequence_id": "s-a", "body": "unsubscribe me"}),
        {404},
    ),
    ("/v1/flags", "GET"): (lambda s: ("/v1/flags?status=open", None), {200}),
    ("/v1/flags/{flag_id}", "POST"): (
        lambda s: (f"/v1/flags/{s.flag_id}", {"resolution": "opt_out", "actor": "b-rep"}),
        {404},
    ),
}


def test_r14_every_internal_route_has_a_sweep_case():
    # Given the internal routes registered on the app (whoever added them)
    # Then each has a case here: a new route is swept, or this test names it
    missing = sorted(set(INTERNAL) - set(SWEEP))
    assert not missing, f"internal routes without an isolation sweep case: {missing}"
    assert not sorted(set(SWEEP) - set(INTERNAL)), "sweep cases for routes that no longer exist"


def assert_documented(path: str, method: str, status: int, body: Any) -> None:
    responses = DOCUMENT["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, (method, path, status, body)
    content = responses[str(status)].get("content", {})
    schema = content.get("application/json", {}).get("schema")
    if schema and body is not None:
        jsonschema.validate(body, {**DOCUMENT, **schema})


@pytest.fixture(scope="module")
def workspace_a(chalice_app, aws_env) -> Iterator[tuple[Api, Seeded]]:
    """A is seeded once for the sweep; each case snapshots A before and after B's request."""
    from chalice.test import Client

    with Client(chalice_app, stage_name="local") as client:
        _, key = new_workspace(Api(client, ADMIN_KEY))
        a = Api(client, key)
        seeded = seed(a)
        drain_unenroll_queue(aws_env)
        yield a, seeded


@pytest.mark.parametrize(("path", "method"), INTERNAL, ids=[f"{m} {p}" for p, m in INTERNAL])
def test_r14_other_workspace_can_neither_read_nor_change(workspace_a, other_api: Api, aws_env, path, method):
    assert (path, method) in SWEEP, f"no sweep case for {method} {path}"
    make, expected = SWEEP[(path, method)]
    # Given workspace A's objects
    api, seeded = workspace_a
    before = snapshot(api, seeded)
    # When B's key is aimed at the same ids and addresses
    url, body = make(seeded)
    if isinstance(body, str):
        status, answer = other_api.call(method, url, raw=body, headers={"Content-Type": "text/csv"})
    else:
        status, answer = other_api.call(method, url, body)
    drain_unenroll_queue(aws_env)  # whatever B queued has run
    drain_suppression_jobs(aws_env)
    # Then B gets the expected (documented) answer, with nothing of A in it (beyond what B itself sent)
    assert status in expected, (method, url, status, answer)
    assert_documented(path, method, status, answer)
    text, sent = json.dumps(answer), json.dumps(body) + url
    leaked = [secret for secret in seeded.secrets if secret in text and secret not in sent]
    assert not leaked, (method, url, leaked, answer)
    # And everything of A is exactly as it was
    after = snapshot(api, seeded)
    assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}


def test_r14_the_snapshot_sees_a_change_by_the_owner(api: Api, aws_env):
    """The sweep's snapshot is not blind: A's own change of one object shows up."""
    seeded = seed(api)
    drain_unenroll_queue(aws_env)
    before = snapshot(api, seeded)
    ok(*api.delete("/v1/sequences/s-a/enrollments/c2"))
    assert snapshot(api, seeded) != before
