"""In-process figures (issue 6, items 1-4): the Chalice app on moto in-process, timed against the
raw DynamoDB requests it cannot avoid, made in the same run on the same moto backend.

Both sides run in one interpreter against one ``moto.mock_aws()`` with the infra template deployed
by ``infra.local.stack.deploy_stack``, so moto's own cost per request is in both the app and the
floor and the ratio isolates what optout adds: routing, auth, parsing, key building,
(de)serialization, the verdict and the JSON answer.
"""

from __future__ import annotations

import contextlib
import io
import json
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

ADMIN_KEY = "bench-admin-key"
SEQUENCE = "s-bench"
UNENROLL_SEQUENCE = "s-drain"
FLOOR_SEQUENCE = "s-floor"


def phone(i: int) -> str:
    return f"+1415555{2000 + i:04d}"


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """The app writes one EMF metrics document per invocation to stdout (as in Lambda, where stdout
    is a pipe to CloudWatch Logs): send it to a buffer so the table stays readable. The write
    itself still happens and is timed."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield


def interleaved(runs: int, **timed: Callable[[], Any]) -> dict[str, list[float]]:
    """Time each callable ``runs`` times, alternating between them so load drift hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in timed}
    clock = time.perf_counter
    for _ in range(runs):
        for name, call in timed.items():
            start = clock()
            call()
            samples[name].append(clock() - start)
    return samples


class RequestCounter:
    """Counts DynamoDB API calls made through chalicelib's shared client (botocore event hook)."""

    def __init__(self) -> None:
        self.operations: Counter[str] = Counter()

    def __call__(self, model: Any, **_: Any) -> None:
        self.operations[model.name] += 1

    @contextlib.contextmanager
    def counting(self) -> Iterator[RequestCounter]:
        from chalicelib.store.aws import client

        events = client("dynamodb").meta.events
        self.operations.clear()
        events.register("before-call.dynamodb.*", self, unique_id="bench-counter")
        try:
            yield self
        finally:
            events.unregister("before-call.dynamodb.*", unique_id="bench-counter")


class Bench:
    """The app, its test client and a plain boto3 client on one moto backend."""

    def __init__(self) -> None:
        import boto3
        from chalice.test import Client

        import app as app_module
        from chalicelib.config import get_config
        from chalicelib.services.context import get_services
        from chalicelib.store.aws import _BOTO_CONFIG

        self.app_module = app_module
        self.client = Client(app_module.app, stage_name="local")
        self.services = get_services()
        self.config = get_config()
        # The floor's client: same botocore config as the app's, none of the app's code around it.
        self.raw = boto3.session.Session().client("dynamodb", config=_BOTO_CONFIG)
        workspace_id = "ws-" + uuid.uuid4().hex[:8]
        status, created = self.call("POST", "/v1/admin/workspaces", {"workspace_id": workspace_id}, key=ADMIN_KEY)
        assert status == 201, created
        self.workspace_id, self.key = workspace_id, created["api_key"]

    def call(self, method: str, path: str, body: Any = None, *, key: str | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key or self.key}"}
        response = self.client.http.request(method, path, headers=headers, body=json.dumps(body).encode())
        return response.status_code, json.loads(response.body) if response.body else None

    def fresh_caches(self) -> None:
        """Drop this instance's per-second copies (key -> workspace, the workspace's config) so the
        next call reloads them: a measured call right after that warm-up sees the steady state, not
        the once-a-second refresh that would otherwise land in it whenever a copy had just expired."""
        from chalicelib.store import keys

        self.services.config_cache.invalidate(self.workspace_id)
        self.services.api_keys.forget(keys.api_key_pk(self.key))

    # --- fixtures ------------------------------------------------------------------------------

    def seed_contacts(self, count: int) -> list[str]:
        ids = [f"c{i}" for i in range(count)]
        for i, contact_id in enumerate(ids):
            status, body = self.call(
                "PUT", f"/v1/contacts/{contact_id}", {"email": f"p{i}@example.com", "phone": phone(i)}
            )
            assert status == 200, body
        return ids

    def enrollment_item(self, sequence_id: str, contact_id: str, at: str) -> dict[str, Any]:
        """An active enrollment as ``EnrollmentStore.enroll`` writes it (seeded in bulk here)."""
        from chalicelib.models.records import Enrollment
        from chalicelib.store.enrollments import ACTIVE, enrollment_item

        enrollment = Enrollment(
            self.workspace_id, sequence_id, contact_id, status=ACTIVE, mode="automated", enrolled_at=at, version=1
        )
        return enrollment_item(enrollment)

    def put_items(self, table: str, items: list[dict[str, Any]]) -> None:
        from chalicelib.store.items import to_item

        for start in range(0, len(items), 25):
            response = self.raw.batch_write_item(
                RequestItems={table: [{"PutRequest": {"Item": to_item(i)}} for i in items[start : start + 25]]}
            )
            assert not response.get("UnprocessedItems"), response

    def enroll(self, sequence_id: str, contact_ids: list[str]) -> None:
        from chalicelib.services.context import iso, utcnow
        from chalicelib.services.enrollments import sequence_for

        sequence_for(self.services, self.workspace_id, sequence_id, register=True)
        at = iso(utcnow())
        self.put_items(
            self.config.enrollments_table, [self.enrollment_item(sequence_id, cid, at) for cid in contact_ids]
        )

    # --- the floor -----------------------------------------------------------------------------

    def contact_key(self, contact_id: str) -> dict[str, Any]:
        from chalicelib.store import keys
        from chalicelib.store.items import to_item

        return to_item({"pk": keys.contact_pk(self.workspace_id, contact_id)})

    def second_round_keys(self, contacts: list[dict[str, Any]], sequence_id: str) -> dict[str, Any]:
        """The address items and enrollments of these contacts, as one BatchGetItem request body."""
        from chalicelib.store import keys
        from chalicelib.store.items import to_item

        # The floor reads the raw items' address keys (the app builds a Contact record of each).
        dnd = [to_item({"pk": c[k]}) for c in contacts for k in ("email_key", "phone_key") if c.get(k)]
        enrollments = [
            to_item({"pk": keys.enrollment_pk(self.workspace_id, sequence_id), "sk": c["contact_id"]}) for c in contacts
        ]
        return {self.config.dnd_table: dnd, self.config.enrollments_table: enrollments}


def _us(values: list[float]) -> float:
    return round(statistics.median(values) * 1e6, 1)


def counted_and_timed(
    name: str, requests_key: str, app_call: Callable[[], Any], floor: Callable[[], Any], runs: int
) -> dict[str, Any]:
    """The app's DynamoDB requests for one call (after the caller's warm-up), then ``runs``
    interleaved timings of the app call and its floor: ``<name>_ratio`` of the medians."""
    with RequestCounter().counting() as counter:
        app_call()
        requests = sum(counter.operations.values())
        operations = dict(counter.operations)
    with quiet_stdout():
        samples = interleaved(runs, app=app_call, floor=floor)
    app_us, floor_us = _us(samples["app"]), _us(samples["floor"])
    return {
        f"{name}_ratio": round(app_us / floor_us, 3),
        f"{name}_app_us": app_us,
        f"{name}_floor_us": floor_us,
        f"ddb_requests_{requests_key}": requests,
        f"ddb_operations_{requests_key}": operations,
        f"{name}_runs": runs,
    }


def measure_send_check(bench: Bench, runs: int) -> dict[str, Any]:
    """Item 1 and 3 (single): one send-check vs GetItem(contact) + BatchGetItem(addresses, enrollment)."""
    from chalicelib.store.items import from_item

    contact_id = "c1"
    body = {"contact_id": contact_id, "channel": "sms", "sequence_id": SEQUENCE}
    bench.fresh_caches()
    status, answer = bench.call("POST", "/v1/send-check", body)  # warm: API key + config caches
    assert status == 200 and answer["allowed"] is False, answer
    contacts_table = bench.config.contacts_table
    contact = from_item(
        bench.raw.get_item(TableName=contacts_table, Key=bench.contact_key(contact_id), ConsistentRead=True)["Item"]
    )
    assert contact is not None
    second = {t: {"Keys": k, "ConsistentRead": True} for t, k in bench.second_round_keys([contact], SEQUENCE).items()}
    assert len(second[bench.config.dnd_table]["Keys"]) == 2

    def app_check() -> None:
        bench.call("POST", "/v1/send-check", body)

    def floor() -> None:
        bench.raw.get_item(TableName=contacts_table, Key=bench.contact_key(contact_id), ConsistentRead=True)
        bench.raw.batch_get_item(RequestItems=second)

    return counted_and_timed("send_check", "single", app_check, floor, runs)


def measure_batch(bench: Bench, contact_ids: list[str], runs: int) -> dict[str, Any]:
    """Items 2 and 3 (batch): 100 checks vs BatchGetItem(contacts) + BatchGetItem x3 (200 addresses
    and 100 enrollments, <= 100 keys a request)."""
    checks = [{"contact_id": cid, "channel": "email", "sequence_id": SEQUENCE} for cid in contact_ids]
    bench.fresh_caches()
    status, answer = bench.call("POST", "/v1/send-check/batch", {"checks": checks})
    assert status == 200 and len(answer["results"]) == len(checks), answer
    contacts_table = bench.config.contacts_table
    contact_keys = [bench.contact_key(cid) for cid in contact_ids]
    from chalicelib.store.items import from_item

    found = bench.raw.batch_get_item(RequestItems={contacts_table: {"Keys": contact_keys, "ConsistentRead": True}})
    contacts = [from_item(i) or {} for i in found["Responses"][contacts_table]]
    second = [(t, k) for t, ks in bench.second_round_keys(contacts, SEQUENCE).items() for k in ks]
    chunks: list[dict[str, Any]] = []
    for start in range(0, len(second), 100):
        request: dict[str, Any] = {}
        for table, key in second[start : start + 100]:
            request.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(key)
        chunks.append(request)

    def app_batch() -> None:
        bench.call("POST", "/v1/send-check/batch", {"checks": checks})

    def floor() -> None:
        bench.raw.batch_get_item(RequestItems={contacts_table: {"Keys": contact_keys, "ConsistentRead": True}})
        for request in chunks:
            bench.raw.batch_get_item(RequestItems=request)

    return counted_and_timed("batch_check", "batch100", app_batch, floor, runs)


class RoundRecorder:
    """Each DynamoDB request of the app's client from ``before-call`` to ``after-call``; requests in
    flight at the same time are one round trip, so ``rounds()`` counts the sequential rounds.

    In-process moto answers a request in a millisecond or two without releasing the GIL, so a
    request issued concurrently with another may not have started when the other is already done:
    it would count as a round of its own. Each request therefore waits ``LATENCY_S`` (sleeping, the
    GIL released) before it is sent, as a network round trip would: requests issued together are then
    in flight together, while one that needs another's answer still starts after it ends."""

    LATENCY_S = 0.02

    def __init__(self) -> None:
        import threading

        self._lock = threading.Lock()
        self._open: dict[int, float] = {}
        self.spans: list[tuple[float, float]] = []

    def before(self, **_: Any) -> None:
        import threading

        with self._lock:
            self._open[threading.get_ident()] = time.perf_counter()
        time.sleep(self.LATENCY_S)

    def after(self, **_: Any) -> None:
        import threading

        with self._lock:
            self.spans.append((self._open.pop(threading.get_ident()), time.perf_counter()))

    def rounds(self) -> int:
        count, end = 0, float("-inf")
        for start, stop in sorted(self.spans):
            if start > end:
                count += 1
            end = max(end, stop)
        return count

    @contextlib.contextmanager
    def recording(self) -> Iterator[RoundRecorder]:
        from chalicelib.store.aws import client

        events = client("dynamodb").meta.events
        self.spans.clear()
        events.register("before-call.dynamodb.*", self.before, unique_id="bench-rounds-before")
        events.register("after-call.dynamodb.*", self.after, unique_id="bench-rounds-after")
        try:
            yield self
        finally:
            events.unregister("before-call.dynamodb.*", unique_id="bench-rounds-before")
            events.unregister("after-call.dynamodb.*", unique_id="bench-rounds-after")


def measure_round_trips(bench: Bench, contact_ids: list[str], runs: int = 5) -> dict[str, Any]:
    """R16: a check naming the contact and the address it will use (one BatchGetItem: contact,
    address item and enrollment together), and the sequential rounds of a batch of 100 (its second
    round's requests issued concurrently); the most rounds seen over ``runs`` runs."""
    body = {"contact_id": "c1", "phone": phone(1), "channel": "sms", "sequence_id": SEQUENCE}
    bench.fresh_caches()
    status, answer = bench.call("POST", "/v1/send-check", body)
    assert status == 200 and answer["allowed"] is False, answer
    with RequestCounter().counting() as counter:
        bench.call("POST", "/v1/send-check", body)
        single = dict(counter.operations)
    checks = [{"contact_id": cid, "channel": "email", "sequence_id": SEQUENCE} for cid in contact_ids]
    with_address = [{**check, "email": f"p{i}@example.com"} for i, check in enumerate(checks)]
    rounds: dict[str, list[int]] = {"batch": [], "with_address": []}
    operations: dict[str, dict[str, int]] = {}
    for _ in range(runs):
        for name, batch in (("batch", checks), ("with_address", with_address)):
            bench.fresh_caches()
            bench.call("POST", "/v1/send-check/batch", {"checks": batch})  # warm
            with RoundRecorder().recording() as recorder, RequestCounter().counting() as counter:
                status, answer = bench.call("POST", "/v1/send-check/batch", {"checks": batch})
            assert status == 200 and len(answer["results"]) == len(batch), answer
            rounds[name].append(recorder.rounds())
            operations[name] = dict(counter.operations)
    return {
        "ddb_requests_single_with_address": sum(single.values()),
        "ddb_operations_single_with_address": single,
        "batch_check_rounds": max(rounds["batch"]),
        "batch_check_rounds_runs": rounds["batch"],
        "ddb_operations_batch100_rounds": operations["batch"],
        "batch_check_rounds_with_address": max(rounds["with_address"]),
        "ddb_operations_batch100_with_address": operations["with_address"],
    }


def setup_moto() -> Any:
    """Env of the local stage, moto in-process, the template deployed; returns the active mock."""
    from moto import mock_aws

    from infra.local.stack import deploy_in_process

    mock = mock_aws()
    mock.start()
    # moto as the local stack's endpoint runs it (both sides alike; README, Performance)
    deploy_in_process("bench", OPTOUT_ADMIN_KEY=ADMIN_KEY, OPTOUT_PUBLIC_URL="https://optout.bench")
    return mock


def run(
    runs_single: int = 300,
    runs_batch: int = 30,
    unenroll_count: int = 10_000,
    unenroll_rounds: int = 3,
    import_count: int = 10_000,
) -> dict[str, Any]:
    mock = setup_moto()
    try:
        with quiet_stdout():
            return _run(runs_single, runs_batch, unenroll_count, unenroll_rounds, import_count)
    finally:
        mock.stop()


def _run(
    runs_single: int, runs_batch: int, unenroll_count: int, unenroll_rounds: int, import_count: int
) -> dict[str, Any]:
    bench = Bench()
    # 100 contacts with email and phone, all enrolled in SEQUENCE; every tenth has email DND, c1 SMS DND.
    ids = bench.seed_contacts(100)
    bench.enroll(SEQUENCE, ids)
    for cid, channel in [(cid, "email") for cid in ids[::10]] + [("c1", "sms")]:
        status, body = bench.call(
            "POST", "/v1/dnd", {"contact_id": cid, "channel": channel, "action": "enable", "source": "user"}
        )
        assert status == 200, body
    # The per-instance workspace config is refreshed at most once a second per workspace (two Queries),
    # whatever the check rate: pinned warm here so the counted and timed requests are the per-check ones.
    bench.services.config_cache._max_age = 3600.0
    results: dict[str, Any] = {}
    results.update(measure_send_check(bench, runs_single))
    results.update(measure_batch(bench, ids, runs_batch))
    results.update(measure_round_trips(bench, ids))
    results.update(measure_unenroll(bench, unenroll_count, unenroll_rounds))
    if import_count:
        results.update(measure_import(bench, import_count))
    return results


# --- item 4: bulk unenrollment -------------------------------------------------------------------


@contextlib.contextmanager
def time_by_operation() -> Iterator[dict[str, list[float]]]:
    """Wall time and count of every AWS call made in the block, by operation (all clients of the
    process: the app's, the queue driver's). Where a drain's time goes, measured in the same run."""
    import botocore.client

    spent: dict[str, list[float]] = {}
    original = botocore.client.BaseClient._make_api_call

    def timed(client: Any, operation: str, params: dict[str, Any]) -> Any:
        start = time.perf_counter()
        try:
            return original(client, operation, params)
        finally:
            entry = spent.setdefault(operation, [0.0, 0])
            entry[0] += time.perf_counter() - start
            entry[1] += 1

    botocore.client.BaseClient._make_api_call = timed  # type: ignore[method-assign]
    try:
        yield spent
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


def drain_figures(name: str, unit: str, count: int, drain_s: float, floor_s: float) -> dict[str, Any]:
    """A drain's headline figures: its size, seconds, rate and ratio to its floor."""
    return {
        f"{name}_{unit}": count,
        f"{name}_seconds": round(drain_s, 3),
        f"{name}_rate_per_s": round(count / drain_s, 1),
        f"{name}_floor_seconds": round(floor_s, 3),
        f"{name}_ratio": round(drain_s / floor_s, 3),
    }


UPDATE_ITEM_SAMPLE = 500


def read_then_write(bench: Bench, keys: list[dict[str, Any]], requests: list[dict[str, Any]], **read: Any) -> None:
    """One consistent BatchGetItem per 100 keys (``read``: its projection, if any), each followed
    by the BatchWriteItem calls (25 puts) of the same 100 items."""
    table = bench.config.enrollments_table
    for first in range(0, len(keys), 100):
        found = bench.raw.batch_get_item(
            RequestItems={table: {"Keys": keys[first : first + 100], "ConsistentRead": True, **read}}
        )
        assert not found.get("UnprocessedKeys")
        for chunk in range(first, min(first + 100, len(requests)), 25):
            bench.raw.batch_write_item(RequestItems={table: requests[chunk : chunk + 25]})


def measure_verify_floor(
    bench: Bench, sequence_id: str, contact_ids: list[str], requests: list[dict[str, Any]]
) -> float:
    """The raw requests of a bulk unenrollment that reads before it writes, and nothing else: find
    the active enrollments (the status index, keys only, pages of ``PLAN_PAGE``), read each one's
    current state and what its rewrite keeps (one consistent BatchGetItem per 100, projected to
    the worker's ``_READ_FOR_REWRITE``), then the batched writes of the write floor. No job record,
    no queue, no marker, no app code: what optout's drain adds shows as drain / this floor."""
    from chalicelib.services.jobs import PLAN_PAGE
    from chalicelib.store.batch import query_items
    from chalicelib.store.enrollments import _READ_FOR_REWRITE, ACTIVE, EnrollmentStore, seq_status
    from chalicelib.store.items import to_item

    store = EnrollmentStore(bench.config)
    names = {f"#r{n}": name for n, name in enumerate(_READ_FOR_REWRITE)}
    bench.enroll(sequence_id, contact_ids)
    start = time.perf_counter()
    found = list(
        query_items(
            bench.raw,
            raw=True,
            TableName=store.table,
            IndexName="by_status",
            Limit=PLAN_PAGE,
            KeyConditionExpression="seq_status = :k",
            ProjectionExpression="sk",
            ExpressionAttributeValues=to_item({":k": seq_status(bench.workspace_id, sequence_id, ACTIVE)}),
        )
    )
    read_then_write(
        bench,
        [store.key(bench.workspace_id, sequence_id, item["sk"]["S"]) for item in found],
        requests,
        ProjectionExpression=", ".join(names),
        ExpressionAttributeNames=names,
    )
    elapsed = time.perf_counter() - start
    assert len(found) == len(contact_ids), len(found)
    return elapsed


def measure_unenroll(bench: Bench, count: int, rounds: int) -> dict[str, Any]:
    """``count`` active enrollments of one sequence unenrolled by POST /v1/unenrollments, planned and
    applied through the queue, until GET /v1/jobs/{id} reads done.

    Floor: the same ``count`` unenrolled items written with BatchWriteItem, 25 puts a request, on
    the same keys of the same table: the fewest DynamoDB requests that can mark them.
    Verify floor (every round, ``measure_verify_floor``): the raw requests of a planner + worker
    that reads before it writes, without optout around them.
    Context (measured once): the same writes preceded by one consistent BatchGetItem per 100 keys
    (what a worker that checks each enrollment is still active before a blind put cannot avoid),
    and the per-item cost of the alternative that needs no read, a conditional UpdateItem each
    (on ``UPDATE_ITEM_SAMPLE`` items).
    ``unenroll_breakdown``: the drain's time by AWS operation.
    Every round re-seeds the same keys, so the table moto queries has the same size each time."""
    from chalicelib.services.context import iso, utcnow
    from chalicelib.store.enrollments import unenrolled_item
    from chalicelib.store.items import to_item

    driver = QueueDriver(bench, bench.config.unenroll_queue_url, "on_unenroll_batch", 10)
    table = bench.config.enrollments_table
    sequence_id = UNENROLL_SEQUENCE
    contact_ids = [f"u{i:06d}" for i in range(count)]
    drains: list[float] = []
    floors: list[float] = []
    read_write_floors: list[float] = []
    breakdowns: list[dict[str, Any]] = []
    invocations = 0
    update_item_ms = 0.0
    verify_floors: list[float] = []
    for _ in range(rounds):
        bench.enroll(sequence_id, contact_ids)
        driver.invocations = 0
        with quiet_stdout(), time_by_operation() as spent:
            start = time.perf_counter()
            status, answer = bench.call("POST", "/v1/unenrollments", {"sequence_id": sequence_id, "status": "active"})
            assert status == 202, answer
            driver.drain()
            elapsed = time.perf_counter() - start
        status, job = bench.call("GET", f"/v1/jobs/{answer['job_id']}")
        assert (job["status"], job["total"], job["processed"], job["unenrolled"]) == ("done", count, count, count), job
        drains.append(elapsed)
        breakdowns.append(
            {
                **{
                    op: {"seconds": round(seconds, 3), "calls": calls}
                    for op, (seconds, calls) in sorted(spent.items(), key=lambda kv: -kv[1][0])
                },
                "outside_aws_calls": {"seconds": round(elapsed - sum(v[0] for v in spent.values()), 3)},
            }
        )
        invocations = driver.invocations

        at = iso(utcnow())
        requests = [
            {
                "PutRequest": {
                    "Item": to_item(unenrolled_item(bench.enrollment_item(sequence_id, cid, at), at, "bulk_unenroll"))
                }
            }
            for cid in contact_ids
        ]
        start = time.perf_counter()
        for first in range(0, len(requests), 25):
            response = bench.raw.batch_write_item(RequestItems={table: requests[first : first + 25]})
            assert not response.get("UnprocessedItems")
        floors.append(time.perf_counter() - start)
        verify_floors.append(measure_verify_floor(bench, sequence_id, contact_ids, requests))

        if read_write_floors:
            continue  # context only: measured once
        # The unbatched alternative a worker needs no read for: one conditional UpdateItem each.
        sample = contact_ids[:UPDATE_ITEM_SAMPLE]
        bench.enroll(sequence_id, sample)
        values = to_item(
            {
                ":u": "unenrolled",
                ":a": "active",
                ":at": at,
                ":r": "bulk_unenroll",
                ":one": 1,
                ":ss": f"{bench.workspace_id}#{sequence_id}#unenrolled",
            }
        )
        start = time.perf_counter()
        for cid in sample:
            bench.raw.update_item(
                TableName=table,
                Key=to_item({"pk": f"{bench.workspace_id}#{sequence_id}", "sk": cid}),
                UpdateExpression="SET #s = :u, unenrolled_at = :at, unenroll_reason = :r, seq_status = :ss,"
                " version = version + :one REMOVE seq_company",
                ConditionExpression="#s = :a",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
            )
        update_item_ms = (time.perf_counter() - start) / len(sample) * 1e3
        keys = [to_item({"pk": f"{bench.workspace_id}#{sequence_id}", "sk": cid}) for cid in contact_ids]
        start = time.perf_counter()
        read_then_write(bench, keys, requests)
        read_write_floors.append(time.perf_counter() - start)
    drain_s, floor_s = statistics.median(drains), statistics.median(floors)
    read_write_s, verify_floor_s = statistics.median(read_write_floors), statistics.median(verify_floors)
    return {
        **drain_figures("unenroll", "enrollments", count, drain_s, floor_s),
        "unenroll_floor_rate_per_s": round(count / floor_s, 1),
        "unenroll_read_write_floor_seconds": round(read_write_s, 3),
        "unenroll_floor_ms_per_item": round(floor_s / count * 1e3, 3),
        "unenroll_update_item_ms_per_item": round(update_item_ms, 3),
        "unenroll_update_item_sample": min(UPDATE_ITEM_SAMPLE, count),
        "unenroll_ratio_read_write_floor": round(drain_s / read_write_s, 3),
        "unenroll_verify_floor_seconds": round(verify_floor_s, 3),
        "unenroll_verify_floor_over_write_floor": round(verify_floor_s / floor_s, 3),
        "unenroll_ratio_verify_floor": round(drain_s / verify_floor_s, 3),
        "unenroll_invocations": invocations,
        "unenroll_rounds": rounds,
        "unenroll_all_seconds": [round(x, 3) for x in drains],
        # the round whose drain time is nearest the median: seconds and calls by AWS operation
        "unenroll_breakdown": breakdowns[min(range(len(drains)), key=lambda n: abs(drains[n] - drain_s))],
    }


# --- suppression import (R18) ---------------------------------------------------------------------


class QueueDriver:
    """Lambda's SQS event source, in-process, for one queue: receive up to ``batch_size`` messages
    (the handler's registered batch size), call the app's handler with the Lambda-shaped event,
    delete the batch on return."""

    def __init__(self, bench: Bench, queue_url: str, handler: str, batch_size: int) -> None:
        import boto3

        from infra.local.dispatcher import sqs_record

        self.bench = bench
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.url = queue_url
        self.arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.handler = getattr(bench.app_module, handler)
        self.batch_size = batch_size
        self.record = sqs_record
        self.invocations = 0

    def drain(self, limit: int = 100_000) -> None:
        for _ in range(limit):
            messages = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=self.batch_size, AttributeNames=["All"], VisibilityTimeout=900
            ).get("Messages", [])
            if not messages:
                return
            event = {"Records": [self.record(m, self.arn, "us-east-1") for m in messages]}
            self.invocations += 1
            self.handler(event, None)
            self.sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
            )
        raise RuntimeError(f"{self.url} did not drain")


@contextlib.contextmanager
def captured(service_client: Any, operation: str) -> Iterator[list[dict[str, Any]]]:
    """The parameters of every ``operation`` call made through a client (a reference each, no copy)."""
    seen: list[dict[str, Any]] = []

    def keep(params: dict[str, Any], **_: Any) -> None:
        seen.append(params)

    event = f"before-parameter-build.{service_client.meta.service_model.service_name}.{operation}"
    service_client.meta.events.register(event, keep, unique_id=f"bench-capture-{operation}")
    try:
        yield seen
    finally:
        service_client.meta.events.unregister(event, unique_id=f"bench-capture-{operation}")


def import_effects(bench: Bench, transactions: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(table, item) of every row's writes in the import's transactions: the address item, its
    suppression index item, the audit entry, the row's exactly-once marker. Not the outbox items
    and job markers (optout's machinery), which the floor leaves out."""
    config = bench.config
    items = []
    for request in transactions:
        for action in request["TransactItems"]:
            put = action.get("Put")
            if put is None:
                continue
            table, item = put["TableName"], put["Item"]
            if table == config.dnd_table and "#outbox#" in item["pk"]["S"]:
                continue
            if table == config.idempotency_table and not item["id"]["S"].startswith("evt#"):
                continue
            items.append((table, item))
    return items


def measure_import(bench: Bench, count: int) -> dict[str, Any]:
    """``count`` suppressions imported by POST /v1/suppressions/import (one CSV file of distinct
    addresses, as bench/import_drain.py sends), planned and applied through the suppression-jobs
    queue (batch size 1, as deployed) until GET /v1/jobs/{id} reads done.

    Floor: the same rows' effects written raw on the same backend, right after: the items the import
    wrote for its rows (address item, suppression index item, audit entry, exactly-once marker; 4 a
    row) with BatchWriteItem, 25 a request, and the same dnd.changed events with PublishBatch, 10 a
    request (R12: one event per change). What the drain adds to that: parsing and validating the
    file, hashing addresses, SQS, the job and its markers, reading markers and address items first,
    transactions instead of unconditional writes, the outbox item, finding each address's contacts.
    ``import_write_floor_seconds``: the writes alone (context)."""
    import boto3

    from bench.import_drain import csv_bodies
    from chalicelib.store.aws import client

    (body,) = csv_bodies(count)
    driver = QueueDriver(bench, bench.config.suppression_jobs_queue_url, "on_suppression_job", 1)
    headers = {"Content-Type": "text/csv", "Authorization": f"Bearer {bench.key}"}
    with (
        quiet_stdout(),
        time_by_operation() as spent,
        captured(client("dynamodb"), "TransactWriteItems") as transactions,
        captured(client("sns"), "PublishBatch") as publishes,
    ):
        start = time.perf_counter()
        response = bench.client.http.request("POST", "/v1/suppressions/import", headers=headers, body=body)
        assert response.status_code == 202, response.body
        driver.drain()
        elapsed = time.perf_counter() - start
    status, job = bench.call("GET", f"/v1/jobs/{json.loads(response.body)['job_id']}")
    assert (job["status"], job["processed"], job["imported"], job["failed"]) == ("done", count, count, 0), job
    breakdown = {
        op: {"seconds": round(seconds, 3), "calls": calls}
        for op, (seconds, calls) in sorted(spent.items(), key=lambda kv: -kv[1][0])
    }
    breakdown["outside_aws_calls"] = {"seconds": round(elapsed - sum(v[0] for v in spent.values()), 3)}

    items = import_effects(bench, transactions)
    assert len(items) == 4 * count, len(items)
    requests: list[dict[str, Any]] = []
    for first in range(0, len(items), 25):
        request: dict[str, list[dict[str, Any]]] = {}
        for table, item in items[first : first + 25]:
            request.setdefault(table, []).append({"PutRequest": {"Item": item}})
        requests.append(request)
    events = [entry for publish in publishes for entry in publish["PublishBatchRequestEntries"]]
    assert len(events) == count, len(events)
    sns, topic = boto3.client("sns", region_name="us-east-1"), bench.config.dnd_topic
    start = time.perf_counter()
    for request in requests:
        assert not bench.raw.batch_write_item(RequestItems=request).get("UnprocessedItems")
    writes = time.perf_counter() - start
    for first in range(0, len(events), 10):
        batch = [{**entry, "Id": str(n)} for n, entry in enumerate(events[first : first + 10])]
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=batch)
    floor = time.perf_counter() - start
    return {
        **drain_figures("import", "rows", count, elapsed, floor),
        "import_write_floor_seconds": round(writes, 3),
        "import_ratio_write_floor": round(elapsed / writes, 3),
        "import_floor_requests": {"BatchWriteItem": len(requests), "PublishBatch": -(-len(events) // 10)},
        "import_invocations": driver.invocations,
        "import_breakdown": breakdown,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
