"""Schemathesis over every operation of GET /openapi.json against the running local stack (R14):
no 5xx on any route, and every status code, content type and body is the documented one.

Run with `make fuzz` (kept out of `make test`). FUZZ_EXAMPLES sets the examples per operation,
FUZZ_MAX_TIME the time budget (seconds). Drives the schemathesis CLI (its pytest plugin
does not load on our pytest) with a config that gives each route the key it needs: the
workspace key for internal routes, the admin key for the admin route, nothing for public ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.openapi import OPERATIONS

pytestmark = pytest.mark.fuzz

REPO_ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
# The fuzzing budget (schemathesis keeps generating until it is spent) and a hard bound on the run.
MAX_TIME = int(os.environ.get("FUZZ_MAX_TIME", "110"))
TIMEOUT = MAX_TIME + 60
SEED = os.environ.get("FUZZ_SEED", "20261101")
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
    "ignored_auth"
)  # ignored_auth: an internal route answers 401/403 without its key (R14)


def fuzz_config(local_stack) -> str:
    admin_paths = sorted({path for (path, _method), op in OPERATIONS.items() if op.auth == "admin"})
    lines = [
        f'base-url = "{local_stack.api_url}"',
        "continue-on-failure = true",
        "request-timeout = 15",
        f'headers = {{ Authorization = "Bearer {local_stack.api_key}" }}',
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        "database = 'none'",
        "[phases.stateful]",
        "enabled = false",
    ]
    for path in admin_paths:
        lines += [
            "[[operations]]",
            f'include-path = "{path}"',
            f'headers = {{ Authorization = "Bearer {local_stack.admin_key}" }}',
        ]
    return "\n".join(lines) + "\n"


def test_r14_fuzzed_requests_never_5xx_and_every_answer_is_documented(local_stack, tmp_path):
    # Given the local stack and its own /openapi.json, every route with the key it needs
    config = tmp_path / "schemathesis.toml"
    config.write_text(fuzz_config(local_stack))
    report = tmp_path / "report.json"
    artifacts = REPO_ROOT / "build" / "test-artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    # When schemathesis runs its examples, coverage (boundary/negative) and fuzzing phases
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "--no-color",
        "run",
        local_stack.api_url + "/openapi.json",
        "--checks",
        CHECKS,
        "--mode",
        "all",
        "--seed",
        SEED,
        "--max-time",
        str(MAX_TIME),
        "--workers",
        "2",
        "--report",
        "junit,json",
        "--report-junit-path",
        str(artifacts / "schemathesis-junit.xml"),
        "--report-json-path",
        str(report),
        "--warnings",
        "off",
    ]
    completed = subprocess.run(  # noqa: S603
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    (artifacts / "schemathesis.txt").write_text(completed.stdout + completed.stderr)
    print(completed.stdout[-6000:])
    # Then it found nothing: no 5xx, no undocumented status, media type or body
    assert completed.returncode == 0, completed.stdout[-12000:] + completed.stderr[-3000:]
    summary = json.loads(report.read_text())
    operations, cases = summary["operations"], summary["test_cases"]
    print(
        f"schemathesis: {cases['generated']} test cases over {operations['tested']} operations, "
        f"{cases['unique_failures']} failures, stop reason {summary['stop_reason']}"
    )
    assert operations["tested"] == operations["total"] >= len(OPERATIONS) - 1, operations  # all but /openapi.json
    assert cases["unique_failures"] == 0 and cases["errored"] == 0, cases
