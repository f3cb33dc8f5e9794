"""Time to drain a suppression import on the local stack (SPEC R18: 100,000 rows "within minutes").

    python -m bench.import_drain --start [--count 100000]   # spawn `python -m infra.local` on spare ports
    python -m bench.import_drain --api-url http://127.0.0.1:8000

What it does, over the real HTTP API:
1. creates a fresh workspace (admin key);
2. POST /v1/suppressions/import with a CSV of N distinct addresses (email, reason, kind, source,
   at), split into bodies of at most 10 MB, each answered 202 with a job;
3. polls GET /v1/jobs/{id} until every job is done; the time is from the first POST to the last
   job reading done (parsing, hashing, SQS, the dispatcher and the batched DND writes with their
   audit entries, index items, markers, events and follow-ups);
4. checks a few imported addresses are blocked by send-check, and prints rows/second.
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.drain import arguments, call, local_stack, new_workspace  # noqa: E402

MAX_BODY = 10 * 1024 * 1024


def csv_bodies(count: int) -> list[bytes]:
    """CSV files of ``count`` rows in all, each under the 10 MB body limit."""
    header = "email,reason,kind,source,at\n"
    bodies: list[bytes] = []
    out = io.StringIO()
    out.write(header)
    for n in range(count):
        line = f"bench{n:07d}@example.com,unsubscribed,permanent,contact,2020-{1 + n % 12:02d}-01T00:00:00Z\n"
        if out.tell() + len(line) > MAX_BODY - 1024:
            bodies.append(out.getvalue().encode())
            out = io.StringIO()
            out.write(header)
        out.write(line)
    bodies.append(out.getvalue().encode())
    return bodies


def measure(api_url: str, admin_key: str, count: int, timeout: float) -> dict[str, Any]:
    _workspace_id, key = new_workspace(api_url, admin_key)
    bodies = csv_bodies(count)

    started = time.monotonic()
    job_ids: list[str] = []
    accepted: list[float] = []
    for body in bodies:
        posted = time.monotonic()
        status, answer = call(api_url, "POST", "/v1/suppressions/import", key, body, "text/csv", timeout=120)
        accepted.append(time.monotonic() - posted)
        if status != 202:
            raise SystemExit(f"POST /v1/suppressions/import: {status} {answer}")
        job_ids.append(answer["job_id"])
    jobs: dict[str, dict[str, Any]] = {}
    while time.monotonic() - started < timeout:
        for job_id in job_ids:
            if jobs.get(job_id, {}).get("status") not in ("done", "failed"):
                jobs[job_id] = call(api_url, "GET", f"/v1/jobs/{job_id}", key)[1]
        if all(job.get("status") in ("done", "failed") for job in jobs.values()):
            break
        time.sleep(1.0)
    elapsed = time.monotonic() - started
    blocked = [
        call(api_url, "POST", "/v1/send-check", key, {"email": f"bench{n:07d}@example.com", "channel": "email"})[1]
        for n in (0, count // 2, count - 1)
    ]
    processed = sum(int(job.get("processed", 0)) for job in jobs.values())
    return {
        "rows": count,
        "files": len(bodies),
        "accepted_in_s": [round(a, 2) for a in accepted],
        "drained_in_s": round(elapsed, 1),
        "rows_per_s": round(processed / elapsed, 1),
        "processed": processed,
        "imported": sum(int(job.get("imported", 0)) for job in jobs.values()),
        "failed": sum(int(job.get("failed", 0)) for job in jobs.values()),
        "statuses": sorted({job.get("status") for job in jobs.values()}),
        "sampled_addresses_blocked": all(check and check.get("allowed") is False for check in blocked),
    }


def main() -> int:
    parser = arguments(__doc__, port=18100, aws_port=14666)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=3600.0)
    args = parser.parse_args()
    with local_stack(args) as (api_url, _aws_url):
        result = measure(api_url, args.admin_key, args.count, args.timeout)
    print(json.dumps(result, indent=2))
    ok = result["statuses"] == ["done"] and result["processed"] == args.count and result["sampled_addresses_blocked"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
