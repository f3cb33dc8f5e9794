"""Publishing DND-change events to the dnd-events SNS topic (R12, API.md shape)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from chalicelib.config import Config
from chalicelib.store.aws import client


class EventPublisher:
    def __init__(self, config: Config) -> None:
        self.topic = config.dnd_topic

    def publish(self, events: list[dict[str, Any]]) -> None:
        if not self.topic or not events:
            return
        sns = client("sns")
        for start in range(0, len(events), 10):
            chunk = events[start : start + 10]
            sns.publish_batch(
                TopicArn=self.topic,
                PublishBatchRequestEntries=[
                    {
                        "Id": str(index),
                        "Message": json.dumps(event, separators=(",", ":")),
                        "MessageAttributes": {
                            "type": {"DataType": "String", "StringValue": event["type"]},
                            "workspace_id": {"DataType": "String", "StringValue": event["workspace_id"]},
                            "source": {"DataType": "String", "StringValue": str(event.get("source"))},
                            # Present on topic subscription changes only, for filter policies.
                            **(
                                {"topic_id": {"DataType": "String", "StringValue": event["topic_id"]}}
                                if event.get("topic_id")
                                else {}
                            ),
                        },
                    }
                    for index, event in enumerate(chunk)
                ],
            )

    @staticmethod
    def new_event_id() -> str:
        return uuid.uuid4().hex
