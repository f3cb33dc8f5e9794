"""`make bench`: optout's speed as ratios to the physical floor (issue 6). Prints a table and
writes bench/results.json. Not part of `make test`.

    python bench/run.py [--quick] [--skip-stack] [--output bench/results.json]

1. in-process, one moto backend (``moto.mock_aws()`` + ``infra.local.stack.deploy_stack``): the
   send-check and a batch of 100 through ``chalice.test.Client(app, stage_name="local")`` against
   the raw DynamoDB requests for the same keys; requests counted on the app's DynamoDB client; a
   10,000-enrollment bulk unenrollment through planner, SQS and worker against the raw writes; a
   10,000-row suppression import (R18) against the raw writes and events of the same rows;
2. cold start: ``import app`` vs ``import boto3`` + three clients, fresh interpreters;
3. the local stack (``python -m infra.local`` on spare ports): peak RSS of the Lambda module
   after 1,000 checks, HTTP send-check throughput and latency at 8 clients, and the same
   10,000-enrollment drain and a 10,000-row import over the real stack (bench/unenroll_drain.py,
   bench/import_drain.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# key -> (target, "max" | "min"); figures without a target are context.
TARGETS: dict[str, tuple[float, str]] = {
    "send_check_ratio": (1.3, "max"),
    "batch_check_ratio": (1.3, "max"),
    "ddb_requests_single": (2, "max"),
    "ddb_requests_batch100": (4, "max"),
    "ddb_requests_single_with_address": (1, "max"),
    "batch_check_rounds": (2, "max"),
    "unenroll_ratio": (2.0, "max"),
    "import_ratio": (2.5, "max"),
    "cold_import_ratio": (1.3, "max"),
}


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
            ).stdout.strip()
            or None
        )
    except OSError:
        commit = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "git_commit": commit,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def verdict(key: str, value: Any) -> str:
    if key not in TARGETS or not isinstance(value, int | float):
        return ""
    target, kind = TARGETS[key]
    ok = value <= target if kind == "max" else value >= target
    return ("ok" if ok else "MISSED") + f" (target {'<=' if kind == 'max' else '>='} {target:g})"


ROWS: list[tuple[str, str, str]] = [
    # key, label, detail template (format with the results)
    (
        "send_check_ratio",
        "send-check / raw GetItem+BatchGetItem",
        "{send_check_app_us:.0f} us vs {send_check_floor_us:.0f} us (median of {send_check_runs})",
    ),
    (
        "batch_check_ratio",
        "batch of 100 / raw 4 BatchGetItem",
        "{batch_check_app_us:.0f} us vs {batch_check_floor_us:.0f} us (median of {batch_check_runs})",
    ),
    ("ddb_requests_single", "DynamoDB requests, one check", "{ddb_operations_single}"),
    ("ddb_requests_batch100", "DynamoDB requests, batch of 100", "{ddb_operations_batch100}"),
    (
        "ddb_requests_single_with_address",
        "DynamoDB requests, one check by contact + address",
        "{ddb_operations_single_with_address}",
    ),
    (
        "batch_check_rounds",
        "sequential rounds, batch of 100",
        "runs {batch_check_rounds_runs}; by contact + address: {batch_check_rounds_with_address} round(s), "
        "{ddb_operations_batch100_with_address}",
    ),
    (
        "unenroll_rate_per_s",
        "bulk unenroll, enrollments/s (in-process)",
        "{unenroll_enrollments} in {unenroll_seconds} s (median of {unenroll_rounds})",
    ),
    (
        "unenroll_ratio",
        "bulk unenroll / raw BatchWriteItem floor",
        "floor {unenroll_floor_seconds} s; vs read+write floor: {unenroll_ratio_read_write_floor}; drain spent "
        "{unenroll_breakdown[BatchWriteItem][seconds]} s writing, {unenroll_breakdown[BatchGetItem][seconds]} s "
        "reading, {unenroll_breakdown[Query][seconds]} s planning",
    ),
    (
        "unenroll_verify_floor_over_write_floor",
        "  verify floor / write floor (find, read, write)",
        "{unenroll_verify_floor_seconds} s; drain / verify floor: {unenroll_ratio_verify_floor}",
    ),
    (
        "unenroll_update_item_ms_per_item",
        "  alternative: conditional UpdateItem, ms/item",
        "vs {unenroll_floor_ms_per_item} ms/item batched (sample of {unenroll_update_item_sample})",
    ),
    (
        "import_rate_per_s",
        "suppression import, rows/s (in-process)",
        "{import_rows} in {import_seconds} s ({import_invocations} invocations)",
    ),
    (
        "import_ratio",
        "import / raw floor of its rows' effects",
        "floor {import_floor_seconds} s (BatchWriteItem of the rows' items + PublishBatch of their events); "
        "writes alone {import_write_floor_seconds} s: {import_ratio_write_floor}",
    ),
    (
        "cold_import_ratio",
        "import app + config / boto3 + 3 clients",
        "{cold_import_app_ms} ms vs {cold_import_boto3_clients_ms} ms (median of {cold_import_runs})",
    ),
    (
        "cold_import_compiling_ratio",
        "  same, nothing cached (bundle has no .pyc)",
        "{cold_import_compiling_app_ms} ms vs {cold_import_compiling_boto3_clients_ms} ms "
        "(median of {cold_import_compiling_runs})",
    ),
    ("peak_rss_mb", "peak RSS after import + 1,000 checks (MB)", "after import: {rss_after_import_mb} MB"),
    (
        "http_requests_per_s",
        "local stack: send-checks/s at 8 clients",
        "{http_requests} requests in {http_seconds} s, {http_errors} errors",
    ),
    (
        "http_p50_ms",
        "local stack: p50 latency at 8 clients (ms)",
        "p99 {http_p99_ms} ms; 1 client: p50 {http_1client_p50_ms} ms, {http_1client_requests_per_s}/s",
    ),
    (
        "local_stack_unenroll_rate_per_s",
        "local stack: bulk unenroll, enrollments/s",
        "{local_stack_unenroll_enrollments} in {local_stack_unenroll_seconds} s",
    ),
    (
        "local_stack_import_rate_per_s",
        "local stack: suppression import, rows/s",
        "{local_stack_import_rows} in {local_stack_import_seconds} s",
    ),
]


def table(results: dict[str, Any]) -> str:
    lines = [f"{'figure':44} {'value':>10}  {'verdict':28} detail", "-" * 120]
    for key, label, detail in ROWS:
        if key not in results:
            continue
        try:
            text = detail.format(**results)
        except (KeyError, ValueError):
            text = ""
        verdict_text = verdict(key, results[key])
        lines.append(f"{label:44} {results[key]!s:>10}  {verdict_text:28} {text}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs and 2,000 enrollments (harness check)")
    parser.add_argument("--skip-stack", action="store_true", help="leave out the local-stack figures")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args()
    os.chdir(ROOT)  # chalice.test.Client reads .chalice/config.json from the project directory
    sys.path.insert(0, str(ROOT))

    from bench import cold, inprocess, stack

    started = time.monotonic()
    results: dict[str, Any] = {"machine_before": machine()}
    quick = args.quick
    print("in-process (moto): send-check, batch, request counts, bulk unenrollment, import ...", flush=True)
    results.update(
        inprocess.run(
            runs_single=60 if quick else 300,
            runs_batch=8 if quick else 20,
            unenroll_count=2000 if quick else 10_000,
            unenroll_rounds=1 if quick else 2,
            import_count=2000 if quick else 10_000,
        )
    )
    print("cold start: import app vs boto3 + clients ...", flush=True)
    results.update(cold.measure_cold_import(runs=4 if quick else 10))
    if not args.skip_stack:
        print("local stack: RSS, HTTP load, drain ...", flush=True)
        results.update(stack.measure_stack(drain_count=2000 if quick else 10_000))
    results["machine_after"] = machine()
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    results["targets"] = {
        k: {"target": t, "kind": kind, "met": verdict(k, results.get(k)).startswith("ok")}
        for k, (t, kind) in TARGETS.items()
        if k in results
    }
    results["quick"] = quick
    args.output.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    print()
    print(table(results))
    load = results["machine_before"]["load_average"][0], results["machine_after"]["load_average"][0]
    print(
        f"\n{results['machine_before']['nproc']} x {results['machine_before']['cpu']}, "
        f"Python {results['machine_before']['python']}, load average {load[0]} -> {load[1]}, "
        f"{results['bench_seconds']} s; written to {args.output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
