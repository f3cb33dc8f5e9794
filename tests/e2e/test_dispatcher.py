"""The local dispatcher delivers queue messages to handlers the way Lambda's event sources do.

In-process (moto.mock_aws) with a stand-in app module, so these run without the real handlers.
"""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from infra.local.dispatcher import SOURCES, Dispatcher
from infra.local.stack import DND_EVENTS_TAP_ENV, SES_TAP_ENV


class Recorder:
    """A handler that records (event, context) and can be told to fail or delete records itself."""

    def __init__(self, fail_times: int = 0, delete_own: bool = False) -> None:
        self.calls: list[tuple[dict[str, Any], Any]] = []
        self.fail_times = fail_times
        self.delete_own = delete_own
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> None:
        with self.lock:
            self.calls.append((event, context))
            failing = self.fail_times > 0
            self.fail_times -= 1
        if self.delete_own:
            sqs = boto3.client("sqs")
            for record in event["Records"]:
                queue_url = record["eventSourceARN"].rsplit(":", 1)[-1]
                url = sqs.get_queue_url(QueueName=queue_url)["QueueUrl"]
                sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])
        if failing:
            raise RuntimeError("handler failure (test)")

    @property
    def records(self) -> list[dict[str, Any]]:
        return [r for event, _ in self.calls for r in event["Records"]]


def _dispatcher(app: Any, env: dict[str, str]) -> Dispatcher:
    return Dispatcher(app, env, retry_delay=0, wait_seconds=0)


def test_sqs_batch_is_delivered_as_lambda_records_and_deleted(local_stack_env):
    # Given an unenroll handler and three messages on its queue
    handler = Recorder()
    app = SimpleNamespace(on_unenroll_batch=handler)
    sqs = boto3.client("sqs")
    queue_url = local_stack_env["OPTOUT_UNENROLL_QUEUE_URL"]
    for n in range(3):
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"n": n}))

    # When the dispatcher runs until the queue is drained
    with _dispatcher(app, local_stack_env) as dispatcher:
        dispatcher.drain(timeout=20)

    # Then every message reached the handler once, as an aws:sqs record, and the queue is empty
    records = handler.records
    assert sorted(json.loads(r["body"])["n"] for r in records) == [0, 1, 2]
    record = records[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":" + queue_url.rsplit("/", 1)[-1])
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"messageId", "receiptHandle", "md5OfBody", "messageAttributes"} <= set(record)
    _, context = handler.calls[0]
    assert context.function_name == f"optout-{local_stack_env['OPTOUT_STAGE']}-on_unenroll_batch"
    assert context.get_remaining_time_in_millis() > 0
    assert context.aws_request_id and context.invoked_function_arn.startswith("arn:aws:lambda:")
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_failing_handler_retries_then_dead_letters(local_stack_env):
    # Given a CRM write-back handler that always fails (the queue's maxReceiveCount is 5)
    handler = Recorder(fail_times=10**6)
    app = SimpleNamespace(on_crm_writeback=handler)
    sqs = boto3.client("sqs")
    queue_url = local_stack_env["OPTOUT_CRM_QUEUE_URL"]
    dlq_url = sqs.get_queue_url(QueueName=f"optout-{local_stack_env['OPTOUT_STAGE']}-crm-writeback-dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody="poison")

    # When the dispatcher runs until the queue is drained
    with _dispatcher(app, local_stack_env) as dispatcher:
        dispatcher.drain(timeout=30)

    # Then the handler saw it maxReceiveCount times and the message now sits in the DLQ
    assert len(handler.calls) == 5
    assert [r["attributes"]["ApproximateReceiveCount"] for r in handler.records] == ["1", "2", "3", "4", "5"]
    dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in dead] == ["poison"]


def test_failure_once_is_retried_and_then_deleted(local_stack_env):
    handler = Recorder(fail_times=1)
    app = SimpleNamespace(on_unenroll_batch=handler)
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=local_stack_env["OPTOUT_UNENROLL_QUEUE_URL"], MessageBody="once")

    with _dispatcher(app, local_stack_env) as dispatcher:
        dispatcher.drain(timeout=20)

    assert [r["body"] for r in handler.records] == ["once", "once"]


def test_handler_deleting_its_own_messages_does_not_break_dispatch(local_stack_env):
    # Given a handler that deletes each record itself (partial batch success pattern) and then fails once
    handler = Recorder(fail_times=1, delete_own=True)
    app = SimpleNamespace(on_unenroll_batch=handler)
    sqs = boto3.client("sqs")
    sqs.send_message(QueueUrl=local_stack_env["OPTOUT_UNENROLL_QUEUE_URL"], MessageBody="a")

    with _dispatcher(app, local_stack_env) as dispatcher:
        dispatcher.drain(timeout=20)
        # Then the deleted message is not redelivered and the dispatcher keeps working
        sqs.send_message(QueueUrl=local_stack_env["OPTOUT_UNENROLL_QUEUE_URL"], MessageBody="b")
        dispatcher.drain(timeout=20)

    assert [r["body"] for r in handler.records] == ["a", "b"]


def test_sns_publish_reaches_the_ses_handler_as_an_sns_event(local_stack_env):
    # Given a SES-notification handler
    handler = Recorder()
    app = SimpleNamespace(on_ses_notification=handler)
    topic = local_stack_env["OPTOUT_SES_TOPIC"]

    # When a producer publishes to the topic, as SES would
    with _dispatcher(app, local_stack_env) as dispatcher:
        boto3.client("sns").publish(
            TopicArn=topic,
            Message=json.dumps({"notificationType": "Complaint"}),
            Subject="Amazon SES Email Event Notification",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
        )
        dispatcher.drain(timeout=20)

    # Then the handler got one Lambda-shaped aws:sns record per notification
    assert len(handler.calls) == 1
    event, _ = handler.calls[0]
    (record,) = event["Records"]
    assert record["EventSource"] == "aws:sns"
    assert record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"].startswith(topic + ":")
    sns = record["Sns"]
    assert sns["Type"] == "Notification"
    assert sns["TopicArn"] == topic
    assert json.loads(sns["Message"]) == {"notificationType": "Complaint"}
    assert sns["Subject"] == "Amazon SES Email Event Notification"
    assert sns["MessageAttributes"]["kind"]["Value"] == "test"
    for key in ("MessageId", "Timestamp", "SignatureVersion", "Signature", "SigningCertUrl", "UnsubscribeUrl"):
        assert sns[key]
    attrs = boto3.client("sqs").get_queue_attributes(QueueUrl=local_stack_env[SES_TAP_ENV], AttributeNames=["All"])[
        "Attributes"
    ]
    assert attrs["ApproximateNumberOfMessages"] == "0"


def test_chalice_handler_objects_are_invoked_like_lambda(local_stack_env):
    # Given a real Chalice app with an SNS and an SQS handler
    from chalice import Chalice

    chalice_app = Chalice(app_name="dispatch-test")
    seen: list[tuple[str, Any]] = []

    @chalice_app.on_sns_message(topic="ses-notifications")
    def on_ses_notification(event):
        seen.append(("sns", (event.subject, event.message)))

    @chalice_app.on_sqs_message(queue="unenroll", batch_size=10)
    def on_unenroll_batch(event):
        seen.extend(("sqs", record.body) for record in event)

    module = SimpleNamespace(
        app=chalice_app, on_ses_notification=on_ses_notification, on_unenroll_batch=on_unenroll_batch
    )
    with _dispatcher(module, local_stack_env) as dispatcher:
        boto3.client("sns").publish(TopicArn=local_stack_env["OPTOUT_SES_TOPIC"], Message="m", Subject="s")
        boto3.client("sqs").send_message(QueueUrl=local_stack_env["OPTOUT_UNENROLL_QUEUE_URL"], MessageBody="b")
        dispatcher.drain(timeout=20)

    assert sorted(seen, key=repr) == [("sns", ("s", "m")), ("sqs", "b")]


def test_missing_handlers_are_skipped_and_dnd_tap_is_not_consumed(local_stack_env, caplog):
    # Given an app that has none of the handlers yet
    app = SimpleNamespace()
    caplog.set_level("WARNING", logger="infra.local.dispatcher")

    dispatcher = _dispatcher(app, local_stack_env).start()
    try:
        # Then nothing is watched, each missing handler is logged, and drain() returns at once
        assert dispatcher.watched == {}
        assert sum("has no handler" in r.getMessage() for r in caplog.records) == len(SOURCES)
        dispatcher.drain(timeout=5)
    finally:
        dispatcher.stop()
    assert local_stack_env[DND_EVENTS_TAP_ENV] not in dispatcher.watched


def test_stop_is_prompt(local_stack_env):
    app = SimpleNamespace(on_unenroll_batch=Recorder(), on_crm_writeback=Recorder())
    dispatcher = _dispatcher(app, local_stack_env).start()
    time.sleep(0.2)
    started = time.monotonic()
    dispatcher.stop()
    assert time.monotonic() - started < 3


def test_drain_times_out_while_messages_stay_unhandled(local_stack_env):
    handler = Recorder(fail_times=10**6)
    app = SimpleNamespace(on_unenroll_batch=handler)
    boto3.client("sqs").send_message(QueueUrl=local_stack_env["OPTOUT_UNENROLL_QUEUE_URL"], MessageBody="x")
    dispatcher = Dispatcher(app, local_stack_env, retry_delay=5, wait_seconds=0).start()
    try:
        with pytest.raises(TimeoutError):
            dispatcher.drain(timeout=1)
    finally:
        dispatcher.stop()


def test_sources_are_read_from_the_apps_registered_handlers(local_stack_env):
    # Given a Chalice app that registers a queue handler and a schedule, and no list anywhere else
    from chalice import Chalice, Rate

    from infra.local.dispatcher import event_sources

    chalice_app = Chalice(app_name="dispatch-registry-test")
    seen: list[str] = []

    @chalice_app.on_sqs_message(queue="crm-writeback", batch_size=3)
    def on_crm_writeback(event):
        seen.extend(record.body for record in event)

    @chalice_app.schedule(Rate(2, unit=Rate.HOURS), name="hourly")
    def hourly(event):
        pass

    # Then the registrations are the dispatcher's sources: queue, batch size, period
    sources, schedules = event_sources(chalice_app)
    assert sources["on_crm_writeback"].resource == "crm-writeback"
    assert sources["on_crm_writeback"].batch_size == 3
    assert schedules == {"hourly": 7200.0}

    # And a message on that queue reaches the handler
    module = SimpleNamespace(app=chalice_app, on_crm_writeback=on_crm_writeback, hourly=hourly)
    with _dispatcher(module, local_stack_env) as dispatcher:
        boto3.client("sqs").send_message(QueueUrl=local_stack_env["OPTOUT_CRM_QUEUE_URL"], MessageBody="m")
        dispatcher.drain(timeout=20)
    assert seen == ["m"]
    assert dispatcher.watched == {local_stack_env["OPTOUT_CRM_QUEUE_URL"]: "on_crm_writeback"}


def test_the_real_apps_sources_match_its_decorators(local_stack_env):
    import app as app_module
    from infra.local.dispatcher import event_sources

    sources, schedules = event_sources(app_module.app)
    assert {name: (s.shape, s.batch_size) for name, s in sources.items()} == {
        "on_ses_notification": ("sns", 1),
        "on_unenroll_batch": ("sqs", 10),
        "on_crm_writeback": ("sqs", 10),
        "on_suppression_job": ("sqs", 1),
    }
    assert schedules == {"on_outbox_sweep": 60.0}


def test_a_running_handler_keeps_its_message_for_the_queues_visibility_timeout(local_stack_env):
    """Lambda's poller hides a received message for the queue's VisibilityTimeout (infra/template.yaml:
    960 s for suppression jobs), longer than the function may run (900 s): a chunk still being imported
    is never handed to a second worker."""
    # Given a suppression-job handler that, while it runs, looks at its own queue
    sqs = boto3.client("sqs")
    queue_url = local_stack_env["OPTOUT_SUPPRESSION_JOBS_QUEUE_URL"]
    observed: list[tuple[list[Any], int]] = []

    def on_suppression_job(event: dict[str, Any], context: Any) -> None:
        visible = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        observed.append((visible.get("Messages", []), context.get_remaining_time_in_millis()))

    sqs.send_message(QueueUrl=queue_url, MessageBody="chunk")
    with _dispatcher(SimpleNamespace(on_suppression_job=on_suppression_job), local_stack_env) as dispatcher:
        dispatcher.drain(timeout=20)

    # Then the handler ran once, its message was invisible meanwhile, its context counts down from
    # the function's deployed timeout, and the dispatcher hides messages for the queue's own timeout
    assert len(observed) == 1
    messages, remaining_ms = observed[0]
    assert messages == []
    assert 800_000 < remaining_ms <= 900_000
    visibility = int(
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])["Attributes"][
            "VisibilityTimeout"
        ]
    )
    assert visibility == 960
    assert dispatcher.visibility_timeouts == {"on_suppression_job": 960}
