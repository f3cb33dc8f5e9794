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

import argparse
import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MAX_BODY = 10 * 1024 * 1024


def call(
    base: str, method: str, path: str, key: str, body: Any = None, content_type: str = "application/json"
) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 (local URL)
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


def wait_healthy(base: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"{base}/health did not answer within {timeout:.0f}s")


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
    workspace_id = "bench-" + uuid.uuid4().hex[:8]
    status, created = call(api_url, "POST", "/v1/admin/workspaces", admin_key, {"workspace_id": workspace_id})
    if status != 201:
        raise SystemExit(f"creating the workspace failed: {status} {created}")
    key = created["api_key"]
    bodies = csv_bodies(count)

    started = time.monotonic()
    job_ids: list[str] = []
    accepted: list[float] = []
    for body in bodies:
        posted = time.monotonic()
        status, answer = call(api_url, "POST", "/v1/suppressions/import", key, body, "text/csv")
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--start", action="store_true", help="spawn `python -m infra.local` for the run")
    parser.add_argument("--port", type=int, default=int(os.environ.get("OPTOUT_PORT", "18100")))
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("OPTOUT_AWS_PORT", "14666")))
    parser.add_argument("--api-url")
    parser.add_argument("--admin-key", default=os.environ.get("OPTOUT_ADMIN_KEY", "dev-admin-key"))
    args = parser.parse_args()
    api_url = args.api_url or f"http://127.0.0.1:{args.port}"

    stack = None
    if args.start:
        env = {
            **os.environ,
            "OPTOUT_PORT": str(args.port),
            "OPTOUT_AWS_PORT": str(args.aws_port),
            "OPTOUT_ADMIN_KEY": args.admin_key,
        }
        stack = subprocess.Popen(
            [sys.executable, "-m", "infra.local"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        wait_healthy(api_url)
        result = measure(api_url, args.admin_key, args.count, args.timeout)
    finally:
        if stack is not None:
            stack.terminate()
            try:
                stack.wait(15)
            except subprocess.TimeoutExpired:
                stack.kill()
    print(json.dumps(result, indent=2))
    ok = result["statuses"] == ["done"] and result["processed"] == args.count and result["sampled_addresses_blocked"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
