"""Publish a JSON file to the SES notifications topic of a running local stack (`make publish-event`).

    python -m infra.local.publish events/ses-complaint.json [--topic ARN]

The file may hold the SNS message itself (an SES notification, as SES would publish it), an SNS
envelope (``{"Type": "Notification", "Message": "..."}``) or a Lambda SNS event (``{"Records": [...]}``);
the message(s) inside are published exactly as SES would, so the dispatcher delivers them to the same
handler Lambda runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import boto3

from infra.local.stack import stack_name


def _messages(document: Any) -> list[dict[str, Any]]:
    """``sns.publish`` arguments, from any of the accepted file shapes."""
    if isinstance(document, dict) and isinstance(document.get("Records"), list):
        return [_from_envelope(record["Sns"]) for record in document["Records"]]
    if isinstance(document, dict) and document.get("Type") == "Notification" and "Message" in document:
        return [_from_envelope(document)]
    return [{"Message": json.dumps(document)}]


def _from_envelope(envelope: dict[str, Any]) -> dict[str, Any]:
    message = envelope["Message"]
    request: dict[str, Any] = {"Message": message if isinstance(message, str) else json.dumps(message)}
    if envelope.get("Subject"):
        request["Subject"] = envelope["Subject"]
    attributes = {
        name: {"DataType": value.get("Type", "String"), "StringValue": value["Value"]}
        for name, value in (envelope.get("MessageAttributes") or {}).items()
        if "Value" in value
    }
    if attributes:
        request["MessageAttributes"] = attributes
    return request


def _ses_topic_arn(endpoint_url: str, stage: str) -> str:
    cfn = boto3.client("cloudformation", endpoint_url=endpoint_url)
    outputs = cfn.describe_stacks(StackName=stack_name(stage))["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == "SesNotificationsTopicArn":
            return str(output["OutputValue"])
    raise SystemExit(f"stack {stack_name(stage)} has no SesNotificationsTopicArn output")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("event", type=Path, help="JSON file: an SES notification (or SNS envelope/event)")
    parser.add_argument("--topic", help="topic ARN (default: the stack's SES notifications topic)")
    args = parser.parse_args(argv)

    host = os.environ.get("OPTOUT_HOST") or "127.0.0.1"
    endpoint_url = f"http://{host}:{os.environ.get('OPTOUT_AWS_PORT') or '4566'}"
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ[name] = value  # the local endpoint takes any credentials; never sign with real ones

    try:
        document = json.loads(args.event.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"publish: cannot read {args.event}: {error}", file=sys.stderr)
        return 2
    try:
        topic_arn = args.topic or _ses_topic_arn(endpoint_url, os.environ.get("OPTOUT_STAGE") or "local")
        sns = boto3.client("sns", endpoint_url=endpoint_url)
        for request in _messages(document):
            message_id = sns.publish(TopicArn=topic_arn, **request)["MessageId"]
            print(f"published {args.event} to {topic_arn} (MessageId {message_id})")
    except Exception as error:  # connection refused, missing stack: explain, no traceback
        print(f"publish: is `make run` up on {endpoint_url}? {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
