"""Fixtures for the local stack: in-process (moto.mock_aws) and as a `python -m infra.local` subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 15.0


# -- in-process ----------------------------------------------------------------------------------


@pytest.fixture
def local_stack_env(monkeypatch) -> Iterator[dict[str, str]]:
    """The template deployed on an in-process moto; yields the OPTOUT_* variables (also set in os.environ).

    A fresh stage per test: if another suite's session-wide mock_aws is active, moto shares its backend.
    """
    from moto import mock_aws

    from infra.local.aws_endpoint import prepare_moto
    from infra.local.stack import deploy_stack

    prepare_moto()  # moto as the local stack's endpoint runs it (idempotent; integration's moto too)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        env = deploy_stack(stage=f"t{uuid.uuid4().hex[:10]}")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield env


# -- subprocess ----------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LocalStack:
    """A running `python -m infra.local`."""

    process: subprocess.Popen[bytes]
    api_url: str
    aws_url: str
    admin_key: str
    api_key: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> HttpResponse:
        data: bytes | None = None
        all_headers = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        if key is not None:
            all_headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.api_url + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (local URL)
                return HttpResponse(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as error:
            return HttpResponse(error.code, dict(error.headers), error.read())

    def boto3_client(self, service: str) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        ).client(service, endpoint_url=self.aws_url)

    def terminate(self, timeout: float = SHUTDOWN_TIMEOUT) -> int:
        """SIGTERM, wait, and return the exit code (kills and fails if it does not stop)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"local stack ignored SIGTERM for {timeout}s\n{self.output()[-4000:]}")
        return int(self.process.returncode)


def start_local_stack(tmp_dir: Path, **overrides: str) -> LocalStack:
    host = "127.0.0.1"
    port, aws_port = free_port(host), free_port(host)
    while aws_port == port:
        aws_port = free_port(host)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPTOUT_")) or k == "AWS_CA_BUNDLE"}
    env.update(
        OPTOUT_HOST=host,
        OPTOUT_PORT=str(port),
        OPTOUT_AWS_PORT=str(aws_port),
        OPTOUT_ADMIN_KEY="e2e-admin-key",
        OPTOUT_DEV_API_KEY="e2e-dev-key",
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    log_path = tmp_dir / f"local-stack-{port}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "infra.local"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    stack = LocalStack(
        process=process,
        api_url=f"http://{host}:{env['OPTOUT_PORT']}",
        aws_url=f"http://{host}:{env['OPTOUT_AWS_PORT']}",
        admin_key=env["OPTOUT_ADMIN_KEY"],
        api_key=env["OPTOUT_DEV_API_KEY"],
        log_path=log_path,
        env=env,
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"local stack exited with {process.returncode} during startup\n{stack.output()[-6000:]}")
        try:
            response = stack.request("GET", "/health", timeout=2)
            if response.status == 200:
                return stack
        except OSError:
            pass
        if time.monotonic() > deadline:
            stack.terminate()
            pytest.fail(f"/health not ready after {STARTUP_TIMEOUT:.0f}s\n{stack.output()[-6000:]}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory) -> Iterator[LocalStack]:
    """One `python -m infra.local` for the session, on free ports; must exit 0 on SIGTERM."""
    stack = start_local_stack(tmp_path_factory.mktemp("e2e"))
    yield stack
    code = stack.terminate()
    assert code == 0, f"local stack exited with {code} on SIGTERM\n{stack.output()[-4000:]}"
