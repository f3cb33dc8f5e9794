"""Local stand-in for Lambda's event sources: poll SQS on the embedded endpoint, call the app's handlers.

In AWS, SNS invokes ``on_ses_notification``, SQS event source mappings invoke ``on_unenroll_batch`` /
``on_crm_writeback`` / ``on_suppression_job`` and EventBridge invokes ``on_outbox_sweep``. Locally
the event sources are read from the Chalice app's own registry (``app.event_sources``, filled by
``@app.on_sqs_message`` / ``@app.on_sns_message`` / ``@app.schedule``): there is no second list to keep
in step. A thread per source polls the queue (for SNS: the tap queue subscribed to the topic, see
``stack.py``), rebuilds the event Lambda would pass and calls the very same Chalice handler object:
``handler(event, context)``.

Delivery semantics follow Lambda's:
- SQS: up to the registered ``batch_size`` records per invocation. Normal return -> the batch is
  deleted. Exception -> nothing is deleted; the messages become visible again and the queue's
  RedrivePolicy moves them to the DLQ after ``maxReceiveCount`` receives. Handlers may delete records
  themselves (partial batch success), so deleting an already-deleted receipt handle is expected and
  harmless. The return value is ignored: chalice does not enable ReportBatchItemFailures, so
  ``batchItemFailures`` means nothing in AWS either.
- A received message stays invisible for **the queue's own visibility timeout** (``infra/template.yaml``,
  e.g. 960 s for suppression jobs), the same as Lambda's poller: a handler that is still running is
  never handed the same message a second time. The context's ``get_remaining_time_in_millis`` counts
  down from the function's deployed timeout (``lambda_timeout`` of stage ``dev`` in
  ``.chalice/config.json``, which Lambda requires to be at most the queue's visibility timeout);
  Lambda would stop a handler there, so one that runs longer is logged.
- SNS: one record per invocation; a failed invocation is retried (the tap queue's redrive policy
  gives up after 3 attempts, like Lambda's asynchronous retries). While it runs, the tap message
  stays invisible for the function's timeout.
- Schedules: ``Rate`` expressions, invoked every period with the event EventBridge sends.

Locally a failed batch is made visible again after ``retry_delay`` seconds instead of the queue's
visibility timeout, so retries and dead-lettering happen in seconds.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qs, urlparse

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from infra.local.stack import tap_queue_name

logger = logging.getLogger(__name__)

LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account
CHALICE_CONFIG = Path(__file__).resolve().parents[2] / ".chalice" / "config.json"
DEPLOYED_STAGE = "dev"  # whose per-function settings (timeouts) the local stack reproduces
LAMBDA_MAX_TIMEOUT = 900


class Source(NamedTuple):
    """One event source of the app, as registered by its decorator."""

    handler: str  # the registered function's name (an attribute of the ``app`` module)
    shape: Literal["sqs", "sns"]  # "sqs": the queue is the event source; "sns": poll the topic's tap queue
    resource: str  # the queue or topic name given to the decorator (app.py: ``deployed_name(...)``)
    batch_size: int = 10  # @app.on_sqs_message(batch_size=...); 1 for SNS


def event_sources(chalice_app: Any) -> tuple[dict[str, Source], dict[str, float]]:
    """The SQS/SNS sources (handler name -> Source) and schedules (handler name -> period in seconds)
    registered on a Chalice app."""
    from chalice.app import ScheduledEventConfig, SNSEventConfig, SQSEventConfig

    sources: dict[str, Source] = {}
    schedules: dict[str, float] = {}
    for config in chalice_app.event_sources:
        if isinstance(config, SQSEventConfig):
            queue = config.queue or (config.queue_arn or "").rsplit(":", 1)[-1]
            sources[config.name] = Source(config.name, "sqs", queue, config.batch_size)
        elif isinstance(config, SNSEventConfig):
            sources[config.name] = Source(config.name, "sns", config.topic.rsplit(":", 1)[-1], 1)
        elif isinstance(config, ScheduledEventConfig):
            period = schedule_period(config.schedule_expression)
            if period is None:
                logger.warning("%s: only rate() schedules run locally; it will not be invoked", config.name)
            else:
                schedules[config.name] = period
        else:
            logger.warning("%s: %s is not dispatched locally", config.name, type(config).__name__)
    return sources, schedules


_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60.0, "hour": 3600.0, "day": 86400.0}


def schedule_period(expression: Any) -> float | None:
    """Seconds between invocations of a ``Rate`` (object or ``rate(...)`` string); None for cron."""
    text = expression.to_string() if hasattr(expression, "to_string") else str(expression)
    match = _RATE.fullmatch(text.strip())
    if match is None:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).removesuffix("s")]


@cache
def _registered() -> tuple[dict[str, Source], dict[str, float]]:
    import app as app_module  # the real app (imported late: it reads the OPTOUT_* variables)

    return event_sources(app_module.app)


def __getattr__(name: str) -> Any:
    """``SOURCES``: the real app's SQS/SNS sources (handler name -> Source), read from its registry."""
    if name == "SOURCES":
        return _registered()[0]
    raise AttributeError(name)


# Period overrides (handler name -> seconds) for scheduled handlers, e.g. a test's quicker sweep;
# without one a schedule runs at the rate its @app.schedule registered.
SCHEDULES: dict[str, float] = {}


@cache
def function_timeout(handler: str) -> float:
    """The function's deployed timeout in seconds (``.chalice/config.json``, stage ``dev``)."""
    from chalice.config import Config as ChaliceConfig

    try:
        data = json.loads(CHALICE_CONFIG.read_text(encoding="utf-8"))
        config = ChaliceConfig(chalice_stage=DEPLOYED_STAGE, function_name=handler, config_from_disk=data)
        timeout = config.lambda_timeout
    except (OSError, ValueError):
        timeout = None
    return float(timeout or LAMBDA_MAX_TIMEOUT)


def stage_resource_name(name: str, stage: str) -> str:
    """A registered queue/topic name in ``stage``: app.py names them ``optout-<stage>-<suffix>``
    (``deployed_name``) when it is imported; an app imported for another stage (or a bare suffix)
    is rebased on the dispatcher's stage."""
    suffix = name.split("-", 2)[2] if name.startswith("optout-") and name.count("-") >= 2 else name
    return f"optout-{stage}-{suffix}"


@dataclass
class LocalLambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 512
    timeout_seconds: float = 900.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    _started: float = field(default_factory=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.log_stream_name = self.log_stream_name or f"local/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self._started
        return max(0, int((self.timeout_seconds - elapsed) * 1000))


def _lambda_message_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """SQS API message attributes -> the camelCase form Lambda puts in ``messageAttributes``."""
    converted: dict[str, Any] = {}
    for name, value in attributes.items():
        entry: dict[str, Any] = {
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value.get("DataType", "String"),
        }
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            raw = value["BinaryValue"]
            entry["binaryValue"] = base64.b64encode(raw).decode() if isinstance(raw, bytes) else raw
        converted[name] = entry
    return converted


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of an ``aws:sqs`` Lambda event, from a ``ReceiveMessage`` result."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": _lambda_message_attributes(message.get("MessageAttributes", {})),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def sns_event(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """The ``aws:sns`` Lambda event for one notification, from the envelope SNS delivered to SQS."""
    unsubscribe_url = envelope.get("UnsubscribeURL", "")
    subscription_arns = parse_qs(urlparse(unsubscribe_url).query).get("SubscriptionArn", [])
    topic_arn = envelope["TopicArn"]
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arns[0] if subscription_arns else f"{topic_arn}:local",
                "Sns": {
                    "Type": envelope.get("Type", "Notification"),
                    "MessageId": envelope["MessageId"],
                    "TopicArn": topic_arn,
                    "Subject": envelope.get("Subject"),
                    "Message": envelope["Message"],
                    "Timestamp": envelope.get("Timestamp", ""),
                    "SignatureVersion": envelope.get("SignatureVersion", "1"),
                    "Signature": envelope.get("Signature", ""),
                    "SigningCertUrl": envelope.get("SigningCertURL", ""),
                    "UnsubscribeUrl": unsubscribe_url,
                    "MessageAttributes": dict(envelope.get("MessageAttributes", {})),
                },
            }
        ]
    }


@dataclass
class _Watch:
    source: Source
    queue_url: str
    queue_arn: str
    handler: Callable[[Any, Any], Any]
    visibility_timeout: int  # seconds a received message stays invisible while its handler runs
    timeout: float  # the function's timeout (the context's remaining time counts down from it)
    # One ReceiveMessage at a time per queue: moto checks a message's visibility and hides it in
    # two steps, so two pollers receiving at once could both get it (a duplicate delivery).
    receiving: threading.Lock = field(default_factory=threading.Lock)


class Dispatcher:
    """Background pollers delivering queue messages to the app's event handlers.

    ``app_module`` defaults to the imported ``app`` module (import it only after the OPTOUT_*
    variables are set); its ``app`` (the Chalice app) says which handlers consume which queue,
    topic or schedule. A stand-in module without a Chalice ``app`` (tests) provides handlers for the
    real app's registrations. ``env`` (default ``os.environ``) gives ``OPTOUT_STAGE``.
    ``visibility_timeout``: None (the default) keeps each queue's own, as Lambda does.
    """

    def __init__(
        self,
        app_module: Any = None,
        env: Mapping[str, str] | None = None,
        *,
        endpoint_url: str | None = None,
        batch_size: int = 10,
        workers_per_source: int = 2,
        wait_seconds: int = 1,
        visibility_timeout: int | None = None,
        retry_delay: int = 1,
    ) -> None:
        import os

        self._app_module = app_module
        self._env = dict(os.environ if env is None else env)
        self._endpoint_url = endpoint_url
        self._batch_size = min(max(batch_size, 1), 10)
        self._workers_per_source = max(workers_per_source, 1)
        self._wait_seconds = wait_seconds
        self._visibility_timeout = visibility_timeout
        self._retry_delay = retry_delay
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._watches: list[_Watch] = []
        self._lock = threading.Lock()
        self._busy = 0  # batches received and not yet settled (handled + deleted or released)
        self._activity = 0  # bumps on every received batch; drain() checks nothing happened meanwhile
        self._region = boto3.session.Session().region_name or "us-east-1"
        self._stage = self._env.get("OPTOUT_STAGE", "local")

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def watched(self) -> dict[str, str]:
        """Queue URL -> handler name for every source being dispatched."""
        return {w.queue_url: w.source.handler for w in self._watches}

    @property
    def visibility_timeouts(self) -> dict[str, int]:
        """Handler name -> how long a message it received stays invisible (seconds)."""
        return {w.source.handler: w.visibility_timeout for w in self._watches}

    def _registrations(self) -> tuple[dict[str, Source], dict[str, float]]:
        from chalice import Chalice

        chalice_app = getattr(self._app_module, "app", None)
        if isinstance(chalice_app, Chalice):
            return event_sources(chalice_app)
        return _registered()

    def start(self) -> Dispatcher:
        if self._app_module is None:
            import app as app_module  # the Chalice app; imported late so it reads the local config

            self._app_module = app_module
        sources, schedules = self._registrations()
        sqs = self._client()
        for source in sources.values():
            handler = getattr(self._app_module, source.handler, None)
            if not callable(handler):
                logger.warning("app has no handler %r; messages for %s stay queued", source.handler, source.resource)
                continue
            watch = self._watch(sqs, source, handler)
            if watch is not None:
                self._watches.append(watch)
        for watch in self._watches:
            for n in range(self._workers_per_source):
                thread = threading.Thread(
                    target=self._poll, args=(watch,), name=f"dispatch-{watch.source.handler}-{n}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        for name, period in schedules.items():
            scheduled = getattr(self._app_module, name, None)
            if callable(scheduled):
                thread = threading.Thread(
                    target=self._tick,
                    args=(name, scheduled, SCHEDULES.get(name, period)),
                    name=f"schedule-{name}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
        return self

    def _queue_url(self, sqs: Any, name: str) -> str | None:
        for candidate in dict.fromkeys((name, stage_resource_name(name, self._stage))):
            try:
                url: str = sqs.get_queue_url(QueueName=candidate)["QueueUrl"]
                return url
            except ClientError:
                continue
        return None

    def _watch(self, sqs: Any, source: Source, handler: Callable[[Any, Any], Any]) -> _Watch | None:
        """The queue a source is polled on (SNS: the topic's local tap queue), with its timeouts."""
        queue_name = source.resource if source.shape == "sqs" else tap_queue_name(source.resource)
        queue_url = self._queue_url(sqs, queue_name)
        if queue_url is None:
            logger.warning("no queue %s on the endpoint; %s will not be invoked", queue_name, source.handler)
            return None
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn", "VisibilityTimeout"])[
            "Attributes"
        ]
        timeout = function_timeout(source.handler)
        if self._visibility_timeout is not None:
            visibility = self._visibility_timeout
        elif source.shape == "sqs":
            visibility = int(attributes.get("VisibilityTimeout", 30))  # the queue's, as Lambda's poller
        else:
            visibility = int(timeout)  # SNS invokes asynchronously: no re-run while one is running
        return _Watch(source, queue_url, attributes["QueueArn"], handler, visibility, timeout)

    def _tick(self, name: str, handler: Callable[[Any, Any], Any], period: float) -> None:
        """Invoke a scheduled handler every ``period`` seconds with the event EventBridge would send."""
        function_name = f"optout-{self._stage}-{name}"
        while not self._stop.wait(period):
            event: dict[str, Any] = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": LOCAL_ACCOUNT_ID,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "region": self._region,
                "resources": [f"arn:aws:events:{self._region}:{LOCAL_ACCOUNT_ID}:rule/{function_name}"],
                "detail": {},
            }
            context = LocalLambdaContext(
                function_name=function_name,
                timeout_seconds=function_timeout(name),
                invoked_function_arn=f"arn:aws:lambda:{self._region}:{LOCAL_ACCOUNT_ID}:function:{function_name}",
            )
            try:
                handler(event, context)
            except Exception:
                logger.exception("%s raised; it runs again in %ss", name, period)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def __enter__(self) -> Dispatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- observation -----------------------------------------------------------------------------

    def drain(self, timeout: float = 30.0, poll: float = 0.05) -> None:
        """Block until every watched queue is empty and no handler is running; TimeoutError otherwise.

        Failing messages count as pending until the redrive policy moves them to their DLQ.
        """
        sqs = self._client()
        deadline = time.monotonic() + timeout
        pending: dict[str, int] = {}
        quiet_rounds = 0
        while True:
            with self._lock:
                activity_before, busy = self._activity, self._busy
            pending = {} if busy else self._pending_counts(sqs)
            with self._lock:
                settled = busy == 0 and not pending and self._busy == 0 and self._activity == activity_before
            # Two quiet observations in a row: nothing was received in between.
            quiet_rounds = quiet_rounds + 1 if settled else 0
            if quiet_rounds >= 2:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"dispatcher not drained after {timeout}s: busy={busy} pending={pending}")
            time.sleep(poll)

    def _pending_counts(self, sqs: Any) -> dict[str, int]:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        counts: dict[str, int] = {}
        for watch in self._watches:
            response = sqs.get_queue_attributes(QueueUrl=watch.queue_url, AttributeNames=names)
            attributes = response["Attributes"]
            total = sum(int(attributes.get(name, 0)) for name in names)
            if total:
                counts[watch.queue_url] = total
        return counts

    # -- polling ---------------------------------------------------------------------------------

    def _client(self) -> Any:
        # One client per thread: boto3 sessions are not thread-safe to create clients from concurrently.
        with self._lock:
            session = boto3.session.Session(region_name=self._region)
            return session.client("sqs", endpoint_url=self._endpoint_url)

    def _poll(self, watch: _Watch) -> None:
        sqs = self._client()
        while not self._stop.is_set():
            try:
                with watch.receiving:
                    messages = self._receive(sqs, watch)
            except (BotoCoreError, ClientError) as error:
                if self._stop.is_set():
                    return
                logger.warning("polling %s failed: %s", watch.queue_url, error)
                self._stop.wait(0.5)
                continue
            if not messages:
                if not self._wait_seconds:  # short polling: don't spin
                    self._stop.wait(0.02)
                continue
            # Received messages are in flight (not visible) until settled, so drain() sees them either
            # in the queue counts or in _busy.
            with self._lock:
                self._busy += 1
                self._activity += 1
            try:
                if watch.source.shape == "sns":
                    for message in messages:
                        self._deliver_sns(sqs, watch, message)
                else:
                    self._deliver_sqs(sqs, watch, messages)
            except (BotoCoreError, ClientError) as error:
                logger.warning("settling a batch on %s failed: %s", watch.queue_url, error)
            finally:
                with self._lock:
                    self._busy -= 1

    def _receive(self, sqs: Any, watch: _Watch) -> list[dict[str, Any]]:
        response = sqs.receive_message(
            QueueUrl=watch.queue_url,
            MaxNumberOfMessages=min(self._batch_size, watch.source.batch_size),
            WaitTimeSeconds=self._wait_seconds,
            VisibilityTimeout=watch.visibility_timeout,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _context(self, watch: _Watch) -> LocalLambdaContext:
        function_name = f"optout-{self._stage}-{watch.source.handler}"
        return LocalLambdaContext(
            function_name=function_name,
            timeout_seconds=watch.timeout,
            invoked_function_arn=f"arn:aws:lambda:{self._region}:{LOCAL_ACCOUNT_ID}:function:{function_name}",
        )

    def _invoke(self, watch: _Watch, event: dict[str, Any]) -> bool:
        context = self._context(watch)
        try:
            watch.handler(event, context)
        except Exception:
            logger.exception("%s raised; the message(s) will be retried", watch.source.handler)
            return False
        finally:
            if context.get_remaining_time_in_millis() == 0:
                logger.warning(
                    "%s ran longer than its %.0f s Lambda timeout (Lambda would have stopped it)",
                    watch.source.handler,
                    watch.timeout,
                )
        return True

    def _deliver_sqs(self, sqs: Any, watch: _Watch, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [sqs_record(m, watch.queue_arn, self._region) for m in messages]}
        if self._invoke(watch, event):
            self._delete(sqs, watch, messages)
        else:
            self._release(sqs, watch, messages)

    def _deliver_sns(self, sqs: Any, watch: _Watch, message: dict[str, Any]) -> None:
        try:
            event = sns_event(json.loads(message["Body"]))
        except (ValueError, KeyError, TypeError):
            logger.error("%s holds a message that is not an SNS envelope", watch.queue_url)
            self._release(sqs, watch, [message])
            return
        if self._invoke(watch, event):
            self._delete(sqs, watch, [message])
        else:
            self._release(sqs, watch, [message])

    def _delete(self, sqs: Any, watch: _Watch, messages: list[dict[str, Any]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        try:
            failed = sqs.delete_message_batch(QueueUrl=watch.queue_url, Entries=entries).get("Failed", [])
        except ClientError as error:  # e.g. every handle already deleted by the handler
            logger.debug("delete on %s: %s", watch.queue_url, error)
            return
        if failed:
            # Expected when the handler deleted its successes itself.
            logger.debug("%d handle(s) already gone on %s", len(failed), watch.queue_url)

    def _release(self, sqs: Any, watch: _Watch, messages: list[dict[str, Any]]) -> None:
        """Make failed messages visible again soon (Lambda waits for the queue's visibility timeout)."""
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self._retry_delay}
            for i, m in enumerate(messages)
        ]
        try:
            sqs.change_message_visibility_batch(QueueUrl=watch.queue_url, Entries=entries)
        except ClientError as error:  # messages the handler deleted are simply gone
            logger.debug("release on %s: %s", watch.queue_url, error)
