"""Deploy ``infra/template.yaml`` onto moto and describe the result as OPTOUT_* variables.

The template is the one definition of every table, queue and topic; this module only adds what
exists locally and nowhere else: SQS "tap" queues subscribed to SNS topics. In AWS, SNS invokes the
Lambda directly; locally the dispatcher polls a tap queue instead, and tests read the dnd-events tap
to observe published events.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import boto3

from chalicelib.config import TEMPLATE_OUTPUT_ENV
from infra.local.aws_endpoint import quiet_moto_alarm_warning

TEMPLATE_PATH = Path(__file__).resolve().parents[1] / "template.yaml"

SES_TAP_ENV = "OPTOUT_LOCAL_SES_NOTIFICATIONS_TAP_URL"
DND_EVENTS_TAP_ENV = "OPTOUT_LOCAL_DND_EVENTS_TAP_URL"

# Topic variable -> (variable naming the tap queue subscribed to it, consumed by the dispatcher?).
TAPS: dict[str, tuple[str, bool]] = {
    "OPTOUT_SES_TOPIC": (SES_TAP_ENV, True),  # -> app.on_ses_notification (its @app.on_sns_message)
    "OPTOUT_DND_TOPIC": (DND_EVENTS_TAP_ENV, False),  # observed only: tests read published DND events
}

# SNS invokes Lambda asynchronously: one attempt plus two retries, then the event is dropped (or sent to
# an on-failure destination). The tap queue's redrive policy reproduces that for the consumed topic.
TAP_MAX_RECEIVE_COUNT = 3


def tap_queue_name(topic_name: str) -> str:
    """The local tap queue subscribed to a topic (``optout-<stage>-<topic>-local-tap``)."""
    return f"{topic_name}-local-tap"


def stack_name(stage: str) -> str:
    return f"optout-{stage}"


def _client(service: str, endpoint_url: str | None) -> Any:
    return boto3.client(service, endpoint_url=endpoint_url)


def _wait_for_stack(cfn: Any, name: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stack: dict[str, Any] = cfn.describe_stacks(StackName=name)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            return stack
        if not status.endswith("_IN_PROGRESS"):
            raise RuntimeError(f"stack {name} ended in {status}: {stack.get('StackStatusReason', '')}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"stack {name} still {status} after {timeout:.0f}s")
        time.sleep(0.1)


def _create_tap(sqs: Any, sns: Any, topic_arn: str, queue_name: str, with_dlq: bool) -> str:
    attributes: dict[str, str] = {}
    if with_dlq:
        dlq_url = sqs.create_queue(QueueName=f"{queue_name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes["RedrivePolicy"] = (
            f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": "{TAP_MAX_RECEIVE_COUNT}"}}'
        )
    queue_url: str = sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    # Raw delivery off: the queue receives the SNS envelope, from which the dispatcher rebuilds the
    # Lambda "aws:sns" record.
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True)
    return queue_url


def deploy_stack(stage: str = "local", endpoint_url: str | None = None) -> dict[str, str]:
    """Create stack ``optout-<stage>`` from the template; return the OPTOUT_* variables it defines.

    ``endpoint_url=None`` uses boto3's defaults (``AWS_ENDPOINT_URL``, or an active ``moto.mock_aws()``).
    """
    quiet_moto_alarm_warning()
    cfn = _client("cloudformation", endpoint_url)
    name = stack_name(stage)
    cfn.create_stack(
        StackName=name,
        TemplateBody=TEMPLATE_PATH.read_text(encoding="utf-8"),
        Parameters=[{"ParameterKey": "Stage", "ParameterValue": stage}],
    )
    stack = _wait_for_stack(cfn, name)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = sorted(set(TEMPLATE_OUTPUT_ENV) - set(outputs))
    if missing:
        raise RuntimeError(f"stack {name} lacks outputs {missing}")
    env = {var: outputs[key] for key, var in TEMPLATE_OUTPUT_ENV.items()}
    env["OPTOUT_STAGE"] = stage

    sqs = _client("sqs", endpoint_url)
    sns = _client("sns", endpoint_url)
    for topic_var, (tap_var, consumed) in TAPS.items():
        topic_short = env[topic_var].rsplit(":", 1)[-1]  # optout-<stage>-ses-notifications
        env[tap_var] = _create_tap(sqs, sns, env[topic_var], tap_queue_name(topic_short), with_dlq=consumed)
    return env


# The process environment of an in-process stack: fake credentials, tracing off, the local stage's
# Powertools settings. Without AWS_ENDPOINT_URL boto3 goes to the active ``moto.mock_aws()``.
IN_PROCESS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "optout",
    "POWERTOOLS_DEV": "false",
}


def deploy_in_process(stage: str, **env: str) -> dict[str, str]:
    """Stage ``stage`` on the active in-process moto (``moto.mock_aws()``), for the integration suite
    and the in-process bench: the process environment set (``IN_PROCESS_ENV`` and ``env``; no endpoint
    URL, SSM prefix or profile), moto patched as the embedded endpoint runs it, the template deployed,
    and the app's cached config, clients and services dropped. Returns the stack's OPTOUT_* variables
    (also set in ``os.environ``)."""
    import os

    from chalicelib.config import reset_config
    from chalicelib.services.context import reset_services
    from chalicelib.store.aws import reset_clients
    from infra.local.aws_endpoint import prepare_moto

    os.environ.update({**IN_PROCESS_ENV, **env})
    for name in ("AWS_ENDPOINT_URL", "OPTOUT_SECRETS_SSM_PREFIX", "AWS_PROFILE"):
        os.environ.pop(name, None)
    prepare_moto()
    deployed = deploy_stack(stage)
    os.environ.update(deployed)
    reset_config()
    reset_clients()
    reset_services()
    return deployed
