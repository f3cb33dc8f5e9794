"""Issue 16 (R18) over real HTTP on `python -m infra.local`: import, list, export, API keys.

The import worker runs on the local dispatcher (suppression-jobs queue), the export file is written
to the embedded S3 endpoint and downloaded through its presigned URL."""

from __future__ import annotations

import csv
import io
import json
import time
import urllib.request
import uuid
from typing import Any

import pytest

from .conftest import LocalStack
from .test_local_stack import eventually, require_handler

pytestmark = pytest.mark.e2e


def new_workspace(stack: LocalStack) -> tuple[str, str]:
    workspace_id = "adopt-" + uuid.uuid4().hex[:8]
    response = stack.request("POST", "/v1/admin/workspaces", {"workspace_id": workspace_id}, key=stack.admin_key)
    assert response.status == 201, response.body
    return workspace_id, response.json()["api_key"]


def import_csv(stack: LocalStack, key: str, text: str) -> str:
    response = stack.request(
        "POST", "/v1/suppressions/import", text.encode(), key=key, headers={"Content-Type": "text/csv"}, timeout=60
    )
    assert response.status == 202, response.body
    return str(response.json()["job_id"])


def finished(stack: LocalStack, key: str, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job = stack.request("GET", f"/v1/jobs/{job_id}", key=key).json()
        return job if job["status"] in ("done", "failed") else None

    return eventually(done, timeout=timeout, interval=0.25)


def thousand_rows_with_three_bad() -> tuple[str, list[int]]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "channel", "reason", "kind", "source", "at"])
    bad_lines = []
    for n in range(1000):
        line = n + 2  # the header is line 1
        if n in (17, 500, 998):
            bad_lines.append(line)
            writer.writerow(
                ["not an address" if n != 500 else f"x{n}@example.com", "sms" if n == 500 else "", "", "", "", ""]
            )
            continue
        writer.writerow(
            [
                f"Adopt{n}@Example.com",
                "email",
                "unsubscribed",
                "permanent",
                "contact",
                f"2019-{1 + n % 12:02d}-15T08:30:00Z",
            ]
        )
    return out.getvalue(), bad_lines


def test_r18_import_list_export_and_keys_over_http(local_stack: LocalStack):
    require_handler(local_stack, "on_suppression_job")
    _, key = new_workspace(local_stack)
    body, bad_lines = thousand_rows_with_three_bad()

    # A 1,000-row CSV with three bad rows imports 997 and rejects those three by line
    job = finished(local_stack, key, import_csv(local_stack, key, body))
    assert job["status"] == "done", job
    assert (job["total"], job["processed"], job["imported"], job["failed"]) == (1000, 997, 997, 0)
    assert [r["line"] for r in job["rejected"]] == bad_lines

    # Imported addresses block, and the audit keeps the original dates
    check = local_stack.request("POST", "/v1/send-check", {"email": "adopt42@example.com", "channel": "email"}, key=key)
    assert check.json()["allowed"] is False
    audit = local_stack.request("GET", "/v1/audit?email=adopt42@example.com", key=key).json()["entries"]
    assert [(e["at"], e["imported"]) for e in audit] == [("2019-07-15T08:30:00.000000Z", True)]

    # A second import adds nothing
    again = finished(local_stack, key, import_csv(local_stack, key, body))
    assert (again["status"], again["imported"], again["unchanged"]) == ("done", 0, 997)
    assert len(local_stack.request("GET", "/v1/audit?email=adopt42@example.com", key=key).json()["entries"]) == 1

    # Listing pages through every matching suppression exactly once
    seen: list[str] = []
    cursor = None
    while True:
        path = "/v1/suppressions?limit=100&reason=unsubscribed" + (f"&cursor={cursor}" if cursor else "")
        page = local_stack.request("GET", path, key=key).json()
        seen.extend(json.dumps(s, sort_keys=True) for s in page["suppressions"])
        cursor = page["next"]
        if not cursor:
            break
    assert len(seen) == 997 == len(set(seen))
    july = local_stack.request("GET", "/v1/suppressions?limit=500&since=2019-07-01&until=2019-07-31", key=key).json()
    assert len(july["suppressions"]) == len([n for n in range(1000) if n % 12 == 6 and n not in (17, 500, 998)])

    # An export downloads a file with one line per suppression
    local_stack.request("PUT", "/v1/contacts/c-42", {"email": "adopt42@example.com"}, key=key)
    response = local_stack.request("POST", "/v1/exports", {"kind": "suppressions", "format": "ndjson"}, key=key)
    assert response.status == 202, response.body
    export = finished(local_stack, key, response.json()["job_id"])
    assert export["status"] == "done" and export["total"] == 997, export
    assert export["download_url"].startswith(local_stack.aws_url)
    with urllib.request.urlopen(export["download_url"], timeout=30) as downloaded:  # noqa: S310 (local URL)
        lines = downloaded.read().decode().splitlines()
    assert len(lines) == 997
    rows = [json.loads(line) for line in lines]
    assert [r["contact_ids"] for r in rows if r["email"] == "adopt42@example.com"] == [["c-42"]]
    assert sum(1 for r in rows if r["address_hash"]) == 996

    # A revoked key is refused, and the last key cannot be revoked
    created = local_stack.request("POST", "/v1/keys", key=key).json()
    first = next(
        k for k in local_stack.request("GET", "/v1/keys", key=key).json()["keys"] if k["key_id"] != created["key_id"]
    )
    assert local_stack.request("DELETE", f"/v1/keys/{first['key_id']}", key=created["api_key"]).status == 204
    time.sleep(1.1)  # every instance's key cache holds a key at most 1 s
    assert local_stack.request("GET", "/v1/settings", key=key).status == 401
    last = local_stack.request("DELETE", f"/v1/keys/{created['key_id']}", key=created["api_key"])
    assert last.status == 409 and last.json()["error"] == "last_key"
    assert local_stack.request("GET", "/v1/settings", key=created["api_key"]).status == 200
