"""The unenrollment queue (SQS): batched sends, explicit deletes, the redrive limit."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.config import Config
from chalicelib.errors import StoreUnavailable
from chalicelib.store.aws import client

SEND_BATCH = 10  # SendMessageBatch limit


class UnenrollQueue:
    def __init__(self, config: Config) -> None:
        self.url = config.unenroll_queue_url
        self._sqs = client("sqs")

    def send(self, bodies: list[dict[str, Any]]) -> None:
        """Send every body (SendMessageBatch, 10 a call); StoreUnavailable if any is refused twice."""
        for start in range(0, len(bodies), SEND_BATCH):
            entries = [
                {"Id": str(n), "MessageBody": json.dumps(body, separators=(",", ":"))}
                for n, body in enumerate(bodies[start : start + SEND_BATCH])
            ]
            for _attempt in range(3):
                failed = self._sqs.send_message_batch(QueueUrl=self.url, Entries=entries).get("Failed") or []
                if not failed:
                    break
                retry = {f["Id"] for f in failed if not f.get("SenderFault")}
                if len(retry) != len(failed):
                    raise StoreUnavailable("the queue refused a message")
                entries = [e for e in entries if e["Id"] in retry]
            else:
                raise StoreUnavailable("the queue did not accept every message; retry")

    def delete(self, receipt_handles: list[str]) -> None:
        for start in range(0, len(receipt_handles), SEND_BATCH):
            entries = [
                {"Id": str(n), "ReceiptHandle": handle}
                for n, handle in enumerate(receipt_handles[start : start + SEND_BATCH])
            ]
            self._sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)

    def max_receive_count(self) -> int:
        """The queue's redrive maxReceiveCount (the receive after which a failure is final)."""
        cached = _MAX_RECEIVES.get(self.url)
        if cached is None:
            try:
                attributes = self._sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["RedrivePolicy"])
                policy = json.loads(attributes.get("Attributes", {}).get("RedrivePolicy") or "{}")
                cached = int(policy.get("maxReceiveCount") or 0) or DEFAULT_MAX_RECEIVES
            except Exception:  # noqa: BLE001 - an unknown limit only delays counting failures
                cached = DEFAULT_MAX_RECEIVES
            _MAX_RECEIVES[self.url] = cached
        return cached


DEFAULT_MAX_RECEIVES = 3  # infra/template.yaml UnenrollQueue RedrivePolicy
_MAX_RECEIVES: dict[str, int] = {}
