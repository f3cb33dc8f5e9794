"""Integration fixtures: moto in-process, the infra template deployed once per session,
the Chalice app driven through chalice.test.Client, one fresh workspace per test."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

ADMIN_KEY = "test-admin-key"


def emf_total(stdout: str, name: str, **dimensions: str) -> float:
    """The sum of metric ``name`` over the EMF documents in ``stdout`` whose dimensions include these."""
    total = 0.0
    for line in stdout.splitlines():
        if line.startswith('{"_aws"'):
            document = json.loads(line)
            if name in document and all(document.get(key) == value for key, value in dimensions.items()):
                value = document[name]
                total += sum(value) if isinstance(value, list) else value
    return total


@pytest.fixture(scope="session")
def aws_env() -> Iterator[dict[str, str]]:
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "optout",
            "POWERTOOLS_DEV": "false",
            "OPTOUT_ADMIN_KEY": ADMIN_KEY,
            "OPTOUT_PUBLIC_URL": "https://optout.test",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    with mock_aws():
        from infra.local.aws_endpoint import prepare_moto

        prepare_moto()  # moto as the local stack's endpoint runs it (infra/moto_transactions.py)
        from chalicelib.config import reset_config
        from chalicelib.services.context import reset_services
        from chalicelib.store.aws import reset_clients
        from infra.local.stack import deploy_stack

        env = deploy_stack("test")
        os.environ.update(env)
        reset_config()
        reset_clients()
        reset_services()
        yield env


@pytest.fixture(scope="session")
def chalice_app(aws_env: dict[str, str]) -> Any:
    from app import app

    return app


class Api:
    """Thin JSON wrapper over chalice.test.Client."""

    def __init__(self, client: Any, key: str | None) -> None:
        self.client = client
        self.key = key

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = "__default__",
        headers: dict[str, str] | None = None,
        raw: str | bytes | None = None,
    ) -> tuple[int, Any]:
        sent = {"Content-Type": "application/json"}
        token = self.key if key == "__default__" else key
        if token:
            sent["Authorization"] = f"Bearer {token}"
        sent.update(headers or {})
        payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
        response = self.client.http.request(method, path, headers=sent, body=payload)
        try:
            parsed = json.loads(response.body) if response.body else None
        except ValueError:
            parsed = response.body.decode()
        self.last_headers = response.headers
        return response.status_code, parsed

    def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return self.call("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return self.call("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> tuple[int, Any]:
        return self.call("DELETE", path, **kw)


@pytest.fixture()
def http(chalice_app: Any) -> Iterator[Any]:
    from chalice.test import Client

    # Stage "local" (.chalice/config.json): the AWS stages' env (SSM secrets prefix, OPTOUT_STAGE) stays out.
    with Client(chalice_app, stage_name="local") as client:
        yield client


@pytest.fixture()
def admin(http: Any) -> Api:
    return Api(http, ADMIN_KEY)


def new_workspace(admin: Api, **body: Any) -> tuple[str, str]:
    workspace_id = "ws-" + uuid.uuid4().hex[:12]
    status, created = admin.post("/v1/admin/workspaces", {"workspace_id": workspace_id, **body})
    assert status == 201, created
    return workspace_id, created["api_key"]


@pytest.fixture()
def workspace(admin: Api) -> tuple[str, str]:
    return new_workspace(admin)


@pytest.fixture()
def api(http: Any, workspace: tuple[str, str]) -> Api:
    client = Api(http, workspace[1])
    client.workspace_id = workspace[0]  # type: ignore[attr-defined]
    return client


@pytest.fixture()
def other_api(http: Any, admin: Api) -> Api:
    """A second workspace, for isolation checks."""
    workspace_id, key = new_workspace(admin)
    client = Api(http, key)
    client.workspace_id = workspace_id  # type: ignore[attr-defined]
    return client
