"""The CRM write-back queue (SQS): enqueue sync requests, delete handled records."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.config import Config
from chalicelib.errors import StoreUnavailable
from chalicelib.store.aws import client


class CrmQueue:
    def __init__(self, config: Config) -> None:
        self.url = config.crm_queue_url

    def send(self, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        if not self.url:
            raise StoreUnavailable("the CRM queue is not configured (OPTOUT_CRM_QUEUE_URL)")
        sqs = client("sqs")
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            response = sqs.send_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(index), "MessageBody": json.dumps(message, separators=(",", ":"))}
                    for index, message in enumerate(chunk)
                ],
            )
            if response.get("Failed"):
                raise StoreUnavailable("could not enqueue every CRM write-back; retry")

    def delete(self, receipt_handle: str, queue_url: str | None = None) -> None:
        client("sqs").delete_message(QueueUrl=queue_url or self.url, ReceiptHandle=receipt_handle)
