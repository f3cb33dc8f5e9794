"""Integration fixtures: moto in-process, the infra template deployed once per session,
the Chalice app driven through chalice.test.Client, one fresh workspace per test."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from moto import mock_aws
from twilio.request_validator import RequestValidator

ADMIN_KEY = "test-admin-key"
PUBLIC_URL = "https://optout.test"  # OPTOUT_PUBLIC_URL: what webhook signatures are computed over
EVENTS = Path(__file__).resolve().parents[2] / "events"


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


class LogRecords(logging.Handler):
    """Every log record it is attached to receives, before formatting (what the code logs)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def record_text(record: logging.LogRecord) -> str:
    """All of a record: message, every attribute, the formatted traceback."""
    text = record.getMessage() + " " + " ".join(str(v) for v in vars(record).values())
    if record.exc_info:
        text += logging.Formatter().formatException(record.exc_info)
    return text


class SqsSource:
    """A queue of the stack, driven in-process the way Lambda's SQS event source drives it."""

    def __init__(self, app: Any, url: str) -> None:
        import boto3

        self.app = app
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.url = url
        self.arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The Lambda SQS event carrying ``messages``."""
        from infra.local.dispatcher import sqs_record

        return {"Records": [sqs_record(m, self.arn, "us-east-1") for m in messages]}


def write_items(table: str, items: list[dict[str, Any]]) -> None:
    """Put plain-dict items straight into a table, 25 a request (seeding beyond what the API makes fast)."""
    import boto3

    from chalicelib.store.items import to_item

    ddb = boto3.client("dynamodb", region_name="us-east-1")
    for start in range(0, len(items), 25):
        ddb.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": to_item(item)}} for item in items[start : start + 25]]}
        )


def audit(api: Api, **query: str) -> list[dict[str, Any]]:
    """The audit entries of ``api``'s workspace for ``query`` (default: contact c1)."""
    status, body = api.get("/v1/audit?" + urlencode(query or {"contact_id": "c1"}))
    assert status == 200, body
    return body["entries"]  # type: ignore[no-any-return]


def allowed(api: Api, channel: str, **target: str) -> bool:
    """The send-check verdict for ``channel`` to ``target`` (default: contact c1)."""
    status, body = api.post("/v1/send-check", {**(target or {"contact_id": "c1"}), "channel": channel})
    assert status == 200, body
    return body["allowed"]  # type: ignore[no-any-return]


def post_signed_crm_webhook(api: Api, secret: str, raw: bytes) -> tuple[int, Any]:
    """A CRM change posted to the HubSpot webhook route of ``api``'s workspace, signed with its webhook
    secret as the route checks it (X-Optout-Signature: sha256= HMAC-SHA256 of the body)."""
    signature = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    headers = {"X-Optout-Workspace": api.workspace_id, "X-Optout-Signature": signature}  # type: ignore[attr-defined]
    return api.post("/v1/webhooks/crm/hubspot", raw=raw, key=None, headers=headers)


@contextlib.contextmanager
def dnd_event_subscription(workspace_id: str | None = None) -> Iterator[Callable[[], list[tuple[str, Any]]]]:
    """An SQS queue of its own subscribed to OPTOUT_DND_TOPIC (raw delivery; with ``workspace_id``,
    filtered on that message attribute); yields a function draining it into (body, event) pairs.

    The local stack's tap queue receives every workspace's events for the whole session, so draining
    that gets slower as the suite grows."""
    from chalicelib.store.aws import client

    sqs, sns = client("sqs"), client("sns")
    url = sqs.create_queue(QueueName="dnd-events-test-" + uuid.uuid4().hex[:10])["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {"RawMessageDelivery": "true"}
    if workspace_id is not None:
        attributes["FilterPolicy"] = json.dumps({"workspace_id": [workspace_id]})
    subscription = sns.subscribe(
        TopicArn=os.environ["OPTOUT_DND_TOPIC"], Protocol="sqs", Endpoint=arn, Attributes=attributes
    )["SubscriptionArn"]

    def drain() -> list[tuple[str, Any]]:
        found = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                found.append((message["Body"], json.loads(message["Body"])))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return found

    try:
        yield drain
    finally:
        sns.unsubscribe(SubscriptionArn=subscription)
        sqs.delete_queue(QueueUrl=url)


def scan_table(table: str) -> list[dict[str, Any]]:
    """Every raw item of a table (DynamoDB's wire format), to look for what the API does not show."""
    from chalicelib.store.aws import client

    ddb = client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.fixture(scope="session")
def aws_env() -> Iterator[dict[str, str]]:
    from infra.local.stack import deploy_in_process

    with mock_aws():  # moto as the local stack's endpoint runs it (infra/moto_patches.py)
        yield deploy_in_process("test", OPTOUT_ADMIN_KEY=ADMIN_KEY, OPTOUT_PUBLIC_URL=PUBLIC_URL)


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


# --- Twilio: webhooks signed as Twilio signs them ---------------------------------------------------

AUTH_TOKEN = "twilio-auth-token-for-tests-0123"
PHONE = "+14155552671"  # the From of the sample bodies


def compute_signature(url: str, params: list[tuple[str, str]], auth_token: str) -> str:
    """The signature Twilio sends, computed by the twilio package's own RequestValidator."""
    return RequestValidator(auth_token).compute_signature(url, dict(params))


def sample(name: str, **changes: str) -> list[tuple[str, str]]:
    params = parse_qsl((EVENTS / name).read_text().strip(), keep_blank_values=True)
    if changes:
        params = [(k, changes.get(k, v)) for k, v in params] + [
            (k, v) for k, v in changes.items() if k not in dict(params)
        ]
    return params


def sid(n: int) -> str:
    """A MessageSid of Twilio's shape, distinct per ``n``."""
    return f"SM{n:032d}"


class Twilio:
    """Posts signed (or forged) Twilio webhooks to one workspace."""

    def __init__(self, api: Api, workspace_id: str, auth_token: str = AUTH_TOKEN) -> None:
        self.api, self.workspace_id, self.auth_token = api, workspace_id, auth_token

    def post(
        self,
        leaf: str,
        params: list[tuple[str, str]],
        *,
        signature: str | None = "sign",
        workspace_id: str | None = None,
    ) -> tuple[int, str, dict[str, str]]:
        path = f"/v1/webhooks/twilio/{workspace_id or self.workspace_id}/{leaf}"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature == "sign":
            signature = compute_signature(PUBLIC_URL + path, params, self.auth_token)
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        response = self.api.client.http.request("POST", path, headers=headers, body=urlencode(params))
        return response.status_code, response.body.decode(), response.headers

    def sms(self, name: str, **kw: Any) -> tuple[int, str, dict[str, str]]:
        return self.post("sms", sample(name, **kw.pop("changes", {})), **kw)


@pytest.fixture()
def twilio(http: Any, admin: Api) -> Twilio:
    """A workspace with a Twilio auth token and contact c1 holding PHONE."""
    workspace_id, key = new_workspace(admin, twilio_auth_token=AUTH_TOKEN)
    api = Api(http, key)
    api.workspace_id = workspace_id  # type: ignore[attr-defined]
    assert api.put("/v1/contacts/c1", {"email": "ann@example.com", "phone": PHONE})[0] == 200
    return Twilio(api, workspace_id)
