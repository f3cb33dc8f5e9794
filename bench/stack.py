"""Figures over the running local stack (issue 6, items 6 and 7, and the drain on the real stack).

The bench starts ``python -m infra.local`` on spare ports, measures, and stops it (SIGTERM to the
process it started). Nothing here talks to anything but 127.0.0.1.

- ``peak_rss_mb``: a fresh interpreter imports the Lambda module and answers 1,000 send-checks
  through ``chalice.test.Client`` with its DynamoDB client pointed at the stack's embedded AWS
  endpoint, so the process holds the app and boto3 but not moto (as a Lambda instance would);
  its peak resident set at the end (VmHWM: on Linux ``ru_maxrss`` survives exec, so a child of
  the bench process would report the bench's own peak).
- HTTP load: 8 client threads, each on its own keep-alive connection, 2,000 send-checks in all,
  against chalice's local server (one thread per connection) and the embedded moto server, all on
  this machine's cores: context, not a production figure.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script (python bench/stack.py): make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import drain, import_drain, unenroll_drain  # noqa: E402 -- the drains over the real stack, reused

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
ADMIN_KEY = "bench-admin-key"
DEV_KEY = "bench-dev-key"


def free_port(preferred: int) -> int:
    for port in range(preferred, preferred + 200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port from {preferred}")


class LocalStack:
    def __init__(self, port: int = 18100, aws_port: int = 14600, log_path: Path | None = None) -> None:
        self.port = free_port(port)
        self.aws_port = free_port(aws_port if aws_port != self.port else aws_port + 1)
        self.api_url = f"http://{HOST}:{self.port}"
        self.aws_url = f"http://{HOST}:{self.aws_port}"
        self.log_path = log_path or ROOT / "build" / "bench-local-stack.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LocalStack:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPTOUT_", "AWS_"))}
        env.update(
            {
                "OPTOUT_HOST": HOST,
                "OPTOUT_PORT": str(self.port),
                "OPTOUT_AWS_PORT": str(self.aws_port),
                "OPTOUT_ADMIN_KEY": ADMIN_KEY,
                "OPTOUT_DEV_API_KEY": DEV_KEY,
            }
        )
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "infra.local"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            drain.wait_healthy(self.api_url, timeout=180)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *_: Any) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def call(self, method: str, path: str, body: Any = None, key: str = DEV_KEY) -> tuple[int, Any]:
        return drain.call(self.api_url, method, path, key, body)


def seed_check_target(stack: LocalStack) -> dict[str, Any]:
    """Contact c1 of workspace ``default`` with email, phone, SMS DND and an active enrollment:
    the same check as the in-process figure (contact + 2 address items + enrollment)."""
    for method, path, body, expected in [
        ("PUT", "/v1/contacts/c1", {"email": "ann@example.com", "phone": "+14155552671"}, 200),
        ("POST", "/v1/dnd", {"contact_id": "c1", "channel": "sms", "action": "enable", "source": "user"}, 200),
        ("PUT", "/v1/sequences/s-bench", {}, 200),
        ("POST", "/v1/sequences/s-bench/enrollments", {"contact_id": "c1"}, 201),
    ]:
        status, answer = stack.call(method, path, body)
        assert status == expected, (path, status, answer)
    return {"contact_id": "c1", "channel": "email", "sequence_id": "s-bench"}


RSS_CHILD = """
import json, resource, sys


def peak_kb():
    # Linux carries ru_maxrss across exec: a child of the (large) bench process would report the
    # parent's high-water mark. VmHWM is the same high-water mark for this process image only.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


from chalice.test import Client
import app
after_import = peak_kb()
body = json.dumps(json.loads(sys.argv[1]))
headers = {"Content-Type": "application/json", "Authorization": "Bearer " + sys.argv[2]}
with Client(app.app, stage_name="local") as client:
    for _ in range(int(sys.argv[3])):
        response = client.http.post("/v1/send-check", headers=headers, body=body)
        assert response.status_code == 200, response.body
print(json.dumps({"after_import_kb": after_import, "peak_kb": peak_kb(),
                  "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def measure_rss(stack: LocalStack, check: dict[str, Any], checks: int = 1000) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPTOUT_", "AWS_", "POWERTOOLS_"))}
    env.update(
        {
            "AWS_ENDPOINT_URL": stack.aws_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "OPTOUT_STAGE": "local",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": "optout",
            "POWERTOOLS_METRICS_NAMESPACE": "optout",
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, json.dumps(check), DEV_KEY, str(checks)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"RSS child failed: {done.stderr[-2000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])  # stdout also carries the EMF lines
    return {
        "peak_rss_mb": round(figures["peak_kb"] / 1024, 1),
        "rss_after_import_mb": round(figures["after_import_kb"] / 1024, 1),
        "rss_checks": checks,
        "rss_source": "VmHWM (/proc/self/status) of a fresh interpreter",
    }


def measure_http_load(
    stack: LocalStack, check: dict[str, Any], clients: int = 8, total: int = 2000, deadline_s: float = 90.0
) -> dict[str, Any]:
    """``total`` requests or ``deadline_s`` seconds, whichever comes first (the count is reported)."""
    body = json.dumps(check)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {DEV_KEY}"}
    per_client = total // clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    stop_at = time.monotonic() + deadline_s  # reset after the warm-up

    def client(n: int, count: int, sink: list[float]) -> None:
        connection = http.client.HTTPConnection(HOST, stack.port, timeout=30)
        try:
            for _ in range(count):
                if time.monotonic() > stop_at:
                    return  # bounded in time as well as in count
                start = time.perf_counter()
                connection.request("POST", "/v1/send-check", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                sink.append(time.perf_counter() - start)
                if response.status != 200:
                    errors.append(str(response.status))
        except (OSError, http.client.HTTPException) as error:
            errors.append(repr(error))
        finally:
            connection.close()

    warm = [[] for _ in range(clients)]  # type: list[list[float]]
    threads = [threading.Thread(target=client, args=(n, 10, warm[n])) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    errors.clear()
    stop_at = time.monotonic() + deadline_s
    threads = [threading.Thread(target=client, args=(n, per_client, latencies[n])) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    samples = sorted(s for sink in latencies for s in sink)
    if not samples:
        raise RuntimeError(f"no request succeeded: {errors[:5]}")
    p99 = samples[min(len(samples) - 1, int(round(0.99 * len(samples))) - 1)]
    return {
        "http_clients": clients,
        "http_requests": len(samples),
        "http_seconds": round(wall, 1),
        "http_errors": len(errors),
        "http_requests_per_s": round(len(samples) / wall, 1),
        "http_p50_ms": round(statistics.median(samples) * 1e3, 2),
        "http_p99_ms": round(p99 * 1e3, 2),
    }


def measure_stack(drain_count: int = 10_000) -> dict[str, Any]:
    with LocalStack() as stack:
        check = seed_check_target(stack)
        results: dict[str, Any] = {}
        results.update(measure_rss(stack, check))
        single = measure_http_load(stack, check, clients=1, total=200, deadline_s=30.0)
        results.update(
            {"http_1client_p50_ms": single["http_p50_ms"], "http_1client_requests_per_s": single["http_requests_per_s"]}
        )
        results.update(measure_http_load(stack, check))
        if drain_count:
            unenroll = unenroll_drain.measure(stack.api_url, stack.aws_url, ADMIN_KEY, "local", drain_count)
            job = unenroll["job"]
            if job.get("status") != "done" or job.get("processed") != drain_count or unenroll["active_left"] != 0:
                raise RuntimeError(f"the local-stack drain did not finish cleanly: {unenroll}")
            results.update(
                {
                    "local_stack_unenroll_enrollments": drain_count,
                    "local_stack_unenroll_seconds": unenroll["drained_in_s"],
                    "local_stack_unenroll_rate_per_s": unenroll["enrollments_per_s"],
                }
            )
            imported = import_drain.measure(stack.api_url, ADMIN_KEY, drain_count, timeout=1800.0)
            if imported["statuses"] != ["done"] or imported["processed"] != drain_count or imported["failed"]:
                raise RuntimeError(f"the local-stack import did not finish cleanly: {imported}")
            results.update(
                {
                    "local_stack_import_rows": drain_count,
                    "local_stack_import_seconds": imported["drained_in_s"],
                    "local_stack_import_rate_per_s": imported["rows_per_s"],
                }
            )
        return results


if __name__ == "__main__":
    print(json.dumps(measure_stack(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000), indent=2))
