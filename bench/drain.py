"""What the drain benches over the local stack share (bench/unenroll_drain.py, bench/import_drain.py):
HTTP calls with a workspace key, waiting for /health, and their command line (``--start`` spawns
``python -m infra.local`` on spare ports for the run and stops it after)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def call(
    base: str,
    method: str,
    path: str,
    key: str,
    body: Any = None,
    content_type: str = "application/json",
    timeout: float = 30.0,
) -> tuple[int, Any]:
    """One request with ``Authorization: Bearer <key>``; ``body`` is bytes as given, else JSON."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (local URL)
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


def arguments(description: str | None, port: int, aws_port: int) -> argparse.ArgumentParser:
    """The options every drain bench takes; the caller adds its own (``--count``...)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", action="store_true", help="spawn `python -m infra.local` for the run")
    parser.add_argument("--port", type=int, default=int(os.environ.get("OPTOUT_PORT", str(port))))
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("OPTOUT_AWS_PORT", str(aws_port))))
    parser.add_argument("--api-url")
    parser.add_argument("--aws-url")
    parser.add_argument("--admin-key", default=os.environ.get("OPTOUT_ADMIN_KEY", "dev-admin-key"))
    return parser


@contextlib.contextmanager
def local_stack(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """(API URL, AWS endpoint URL) of the stack to measure, healthy; with ``--start`` one spawned for
    the run and stopped after."""
    api_url = args.api_url or f"http://127.0.0.1:{args.port}"
    aws_url = args.aws_url or f"http://127.0.0.1:{args.aws_port}"
    stack = None
    if args.start:
        env = {
            **os.environ,
            "OPTOUT_PORT": str(args.port),
            "OPTOUT_AWS_PORT": str(args.aws_port),
            "OPTOUT_ADMIN_KEY": args.admin_key,
        }
        stack = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "infra.local"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        wait_healthy(api_url)
        yield api_url, aws_url
    finally:
        if stack is not None:
            stack.terminate()
            try:
                stack.wait(15)
            except subprocess.TimeoutExpired:
                stack.kill()


def new_workspace(api_url: str, admin_key: str) -> tuple[str, str]:
    """A fresh workspace (``bench-<hex>``) and its API key."""
    import uuid

    workspace_id = "bench-" + uuid.uuid4().hex[:8]
    status, created = call(api_url, "POST", "/v1/admin/workspaces", admin_key, {"workspace_id": workspace_id})
    if status != 201:
        raise SystemExit(f"creating the workspace failed: {status} {created}")
    return workspace_id, created["api_key"]
