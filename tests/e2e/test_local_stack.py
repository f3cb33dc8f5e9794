"""`python -m infra.local` (`make run`) as users and producers see it: HTTP on one port, AWS on another."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest

from .conftest import REPO_ROOT, LocalStack, free_port, start_local_stack

pytestmark = pytest.mark.e2e

SES_TAP = "optout-local-ses-notifications-local-tap"
DND_EVENTS_TAP = "optout-local-dnd-events-local-tap"


def eventually(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met after {timeout}s; last value: {value!r}")
        time.sleep(interval)


def ses_complaint(address: str, workspace: str = "default") -> dict[str, Any]:
    """A classic SES complaint notification (original headers included), as SES publishes it to SNS."""
    message_id = f"0100-{uuid.uuid4()}-000000"
    return {
        "notificationType": "Complaint",
        "complaint": {
            "feedbackId": f"0100-{uuid.uuid4()}-000000",
            "complainedRecipients": [{"emailAddress": address}],
            "timestamp": "2024-05-02T10:15:30.000Z",
            "complaintFeedbackType": "abuse",
            "userAgent": "Yahoo!-Mail-Feedback/2.0",
        },
        "mail": {
            "timestamp": "2024-05-02T10:10:00.000Z",
            "source": "sales@mail.acme.example",
            "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/mail.acme.example",
            "sendingAccountId": "123456789012",
            "messageId": message_id,
            "destination": [address],
            "headersTruncated": False,
            "headers": [
                {"name": "To", "value": address},
                {"name": "X-Optout-Workspace", "value": workspace},
            ],
            "commonHeaders": {"to": [address], "messageId": message_id, "subject": "Hello"},
        },
    }


def require_handler(stack: LocalStack, name: str) -> None:
    """Fail at once, saying why, when the app lacks the handler (the dispatcher logged it at start)."""
    if f"app has no handler '{name}'" in stack.output():
        pytest.fail(f"app.{name} does not exist, so nothing consumes its queue")


def publish_to_ses_topic(stack: LocalStack, notification: dict[str, Any]) -> None:
    sns = stack.boto3_client("sns")
    topics = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    topic = next(arn for arn in topics if arn.endswith(":optout-local-ses-notifications"))
    sns.publish(TopicArn=topic, Message=json.dumps(notification), Subject="Amazon SES Email Event Notification")


def queue_depth(stack: LocalStack, queue_name: str) -> int:
    sqs = stack.boto3_client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[n]) for n in names)


# -- startup -------------------------------------------------------------------------------------


def test_health_answers_ok(local_stack):
    response = local_stack.request("GET", "/health")
    assert response.status == 200
    assert response.json() == {"status": "ok"}


def test_startup_prints_urls_keys_and_ses_topic(local_stack):
    output = local_stack.output()
    assert local_stack.api_url in output
    assert local_stack.aws_url in output
    assert local_stack.admin_key in output
    assert local_stack.api_key in output
    assert "arn:aws:sns:us-east-1:123456789012:optout-local-ses-notifications" in output


def test_serves_concurrent_clients(local_stack):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: local_stack.request("GET", "/health").status, range(32)))
    assert statuses == [200] * 32


# -- admin (R14) ---------------------------------------------------------------------------------


def test_admin_key_creates_a_workspace(local_stack):
    # Given a new workspace id
    workspace_id = f"e2e-{uuid.uuid4().hex[:12]}"

    # When the admin creates it
    response = local_stack.request(
        "POST", "/v1/admin/workspaces", {"workspace_id": workspace_id}, key=local_stack.admin_key
    )

    # Then it exists with its own API key, and the id cannot be taken twice
    assert response.status == 201, response.body
    body = response.json()
    assert body["workspace_id"] == workspace_id
    assert isinstance(body["api_key"], str) and body["api_key"]
    again = local_stack.request(
        "POST", "/v1/admin/workspaces", {"workspace_id": workspace_id}, key=local_stack.admin_key
    )
    assert again.status == 409, again.body


# -- SNS -> dispatcher -> handler (R8) -----------------------------------------------------------


def test_ses_notification_published_on_the_embedded_endpoint_is_consumed(local_stack):
    # Given the local stack and an SES notification
    require_handler(local_stack, "on_ses_notification")
    address = f"tap-{uuid.uuid4().hex[:8]}@example.com"
    notification = ses_complaint(address)
    dead_lettered = queue_depth(local_stack, SES_TAP + "-dlq")

    # When a producer publishes it to the SES topic on the embedded endpoint
    publish_to_ses_topic(local_stack, notification)

    # Then the dispatcher delivers it to the handler, which succeeds: the tap queue empties
    eventually(lambda: queue_depth(local_stack, SES_TAP) == 0)
    # with the complaint recorded, and not into the tap's DLQ (where a handler failing three times
    # would also have emptied it)
    audit = local_stack.request("GET", "/v1/audit?" + urlencode({"email": address}), key=local_stack.api_key)
    assert audit.status == 200, audit.body
    assert [entry["reason"] for entry in audit.json()["entries"]] == ["spam_complaint"]
    assert queue_depth(local_stack, SES_TAP + "-dlq") == dead_lettered


def test_ses_complaint_blocks_email_to_that_address(local_stack):
    # Given a contact with an address that may be emailed
    require_handler(local_stack, "on_ses_notification")
    contact_id = f"c-{uuid.uuid4().hex[:10]}"
    address = f"complainer-{uuid.uuid4().hex[:8]}@example.com"
    put = local_stack.request("PUT", f"/v1/contacts/{contact_id}", {"email": address}, key=local_stack.api_key)
    assert put.status == 200, put.body
    check = {"email": address, "channel": "email"}
    before = local_stack.request("POST", "/v1/send-check", check, key=local_stack.api_key)
    assert before.status == 200, before.body
    assert before.json()["allowed"] is True

    # (the dnd-events tap starts empty: the session's stack has carried every earlier test's events)
    sqs = local_stack.boto3_client("sqs")
    tap_url = sqs.get_queue_url(QueueName=DND_EVENTS_TAP)["QueueUrl"]
    sqs.purge_queue(QueueUrl=tap_url)

    # When SES reports a spam complaint for it through SNS
    publish_to_ses_topic(local_stack, ses_complaint(address))

    # Then the send check refuses email to that address because of DND
    def blocked() -> dict[str, Any] | None:
        answer = local_stack.request("POST", "/v1/send-check", check, key=local_stack.api_key).json()
        return answer if answer.get("allowed") is False else None

    answer = eventually(blocked)
    assert any(b["type"] == "dnd" for b in answer["blocked_by"])

    # And a dnd.changed event naming the contact (never the address) reaches the dnd-events topic
    def contact_event() -> dict[str, Any] | None:
        # The tap holds every event of the stack's life (other tests' too): drain what is not ours,
        # so the search does not depend on how many came before.
        for message in sqs.receive_message(QueueUrl=tap_url, MaxNumberOfMessages=10).get("Messages", []):
            event = json.loads(json.loads(message["Body"])["Message"])
            if contact_id in event.get("contact_ids", []):
                return event
            sqs.delete_message(QueueUrl=tap_url, ReceiptHandle=message["ReceiptHandle"])
        return None

    event = eventually(contact_event)
    assert event["type"] == "dnd.changed"
    assert event["channel"] == "email"
    assert event["action"] == "enabled"
    assert event["reason"] == "spam_complaint"
    assert address not in json.dumps(event)


def test_publish_event_script_publishes_a_sample_file(local_stack):
    # make publish-event EVENT=events/ses-complaint.json, against this stack's ports
    env = dict(os.environ, OPTOUT_HOST="127.0.0.1", OPTOUT_AWS_PORT=local_stack.env["OPTOUT_AWS_PORT"])
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "infra.local.publish", "events/ses-complaint.json"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "optout-local-ses-notifications" in result.stdout


# -- shutdown ------------------------------------------------------------------------------------


def test_sigterm_stops_everything_with_exit_code_0(tmp_path):
    # Given a second local stack of its own
    stack = start_local_stack(tmp_path)
    port, aws_port = int(stack.env["OPTOUT_PORT"]), int(stack.env["OPTOUT_AWS_PORT"])

    # When it receives SIGTERM
    started = time.monotonic()
    code = stack.terminate()

    # Then it exits 0 promptly and frees both ports
    assert code == 0, stack.output()[-4000:]
    assert time.monotonic() - started < 10
    assert "stopped" in stack.output()
    import socket

    for p in (port, aws_port):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", p))


def test_refuses_to_start_when_a_port_is_taken(tmp_path):
    import socket

    host = "127.0.0.1"
    with socket.socket() as busy:
        busy.bind((host, 0))
        busy.listen()
        taken = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPTOUT_")}
        env.update(OPTOUT_HOST=host, OPTOUT_PORT=str(free_port()), OPTOUT_AWS_PORT=str(taken))
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "infra.local"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert "already in use" in result.stderr
