"""Drain rate of a bulk unenrollment on the local stack (SPEC performance budget: 10,000
enrollments drain "in well under a minute").

    python -m bench.unenroll_drain --start                 # spawn `python -m infra.local` on spare ports
    python -m bench.unenroll_drain --api-url http://127.0.0.1:8000 --aws-url http://127.0.0.1:4566

What it does, over the real HTTP API and the embedded AWS endpoint:
1. creates a fresh workspace (admin key);
2. seeds N active enrollments of one sequence straight into the enrollments table on the embedded
   endpoint (BatchWriteItem, items shaped exactly as the enrollment store writes them) — seeding
   through 2N HTTP calls would measure the seeding, not the drain;
3. POST /v1/unenrollments {"sequence_id"} -> 202 job, then polls GET /v1/jobs/{id} until done;
4. checks through the API that no active enrollment is left, and prints enrollments/second
   (from the POST to the job reading done: planning, SQS, the dispatcher and the batch writes).
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.drain import arguments, call, local_stack, new_workspace  # noqa: E402


def seed(aws_url: str, stage: str, workspace_id: str, sequence_id: str, count: int) -> float:
    import boto3

    from chalicelib.store.enrollments import ACTIVE, seq_status
    from chalicelib.store.items import to_item
    from chalicelib.store.keys import contact_pk, enrollment_pk

    table = f"optout-{stage}-enrollments"
    at = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    items = [
        to_item(
            {
                "pk": enrollment_pk(workspace_id, sequence_id),
                "sk": f"c{n:06d}",
                "ws": workspace_id,
                "sequence_id": sequence_id,
                "contact_id": f"c{n:06d}",
                "status": ACTIVE,
                "mode": "automated",
                "enrolled_at": at,
                "contact_key": contact_pk(workspace_id, f"c{n:06d}"),
                "seq_status": seq_status(workspace_id, sequence_id, ACTIVE),
                "version": 1,
            }
        )
        for n in range(count)
    ]
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )

    def write(chunk: list[dict[str, Any]]) -> None:
        ddb = session.client("dynamodb", endpoint_url=aws_url)
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    started = time.monotonic()
    chunks = [items[i : i + 25] for i in range(0, len(items), 25)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, chunks))
    return time.monotonic() - started


def measure(api_url: str, aws_url: str, admin_key: str, stage: str, count: int) -> dict[str, Any]:
    workspace_id, key = new_workspace(api_url, admin_key)
    sequence_id = "bench-seq"
    status, body = call(api_url, "PUT", f"/v1/sequences/{sequence_id}", key, {})
    assert status == 200, body
    seeded_in = seed(aws_url, stage, workspace_id, sequence_id, count)

    started = time.monotonic()
    status, answer = call(api_url, "POST", "/v1/unenrollments", key, {"sequence_id": sequence_id})
    accepted_in = time.monotonic() - started
    if status != 202:
        raise SystemExit(f"POST /v1/unenrollments: {status} {answer}")
    job_id = answer["job_id"]
    job: dict[str, Any] = {}
    while time.monotonic() - started < 600:
        status, job = call(api_url, "GET", f"/v1/jobs/{job_id}", key)
        if job and job.get("status") in ("done", "failed"):
            break
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    status, page = call(api_url, "GET", f"/v1/sequences/{sequence_id}/enrollments?status=active&limit=1", key)
    return {
        "enrollments": count,
        "seeded_in_s": round(seeded_in, 2),
        "accepted_in_ms": round(accepted_in * 1000, 1),
        "drained_in_s": round(elapsed, 2),
        "enrollments_per_s": round(count / elapsed, 1),
        "job": job,
        "active_left": len(page["enrollments"]) if status == 200 else None,
    }


def main() -> int:
    parser = arguments(__doc__, port=18000, aws_port=14566)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--stage", default="local")
    args = parser.parse_args()
    with local_stack(args) as (api_url, aws_url):
        result = measure(api_url, aws_url, args.admin_key, args.stage, args.count)
    print(json.dumps(result, indent=2))
    ok = result["job"].get("status") == "done" and result["job"].get("processed") == args.count
    return 0 if ok and result["active_left"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
