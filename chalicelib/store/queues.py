"""The SQS work queues (unenrollment, CRM write-back): batched sends, batched deletes, the redrive
limit. One class; a queue differs only by its URL."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.config import Config
from chalicelib.errors import StoreUnavailable
from chalicelib.store.aws import client

SEND_BATCH = 10  # SendMessageBatch / DeleteMessageBatch limit
SEND_BATCH_BYTES = 250_000  # SendMessageBatch: at most 256 KiB of bodies a call
DEFAULT_MAX_RECEIVES = 3  # if the redrive policy cannot be read: the lowest in infra/template.yaml
_MAX_RECEIVES: dict[str, int] = {}


class WorkQueue:
    name = "queue"

    def __init__(self, url: str, setting: str) -> None:
        self.url = url
        self._setting = setting

    @property
    def _sqs(self) -> Any:  # made on first use: most requests send nothing
        return client("sqs")

    def _require_url(self) -> None:
        if not self.url:
            raise StoreUnavailable(f"the {self.name} is not configured ({self._setting})")

    def send(self, bodies: list[dict[str, Any]]) -> None:
        """Send every body (SendMessageBatch, 10 a call); StoreUnavailable if any is refused twice."""
        if bodies:
            self._require_url()
        for group in _send_groups([json.dumps(body, separators=(",", ":")) for body in bodies]):
            entries = [{"Id": str(n), "MessageBody": text} for n, text in enumerate(group)]
            for _attempt in range(3):
                failed = self._sqs.send_message_batch(QueueUrl=self.url, Entries=entries).get("Failed") or []
                if not failed:
                    break
                retry = {f["Id"] for f in failed if not f.get("SenderFault")}
                if len(retry) != len(failed):
                    raise StoreUnavailable(f"the {self.name} refused a message")
                entries = [e for e in entries if e["Id"] in retry]
            else:
                raise StoreUnavailable(f"the {self.name} did not accept every message; retry")

    def delete(self, receipt_handles: list[str]) -> None:
        if receipt_handles:
            self._require_url()
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


def _send_groups(texts: list[str]) -> list[list[str]]:
    """Bodies in SendMessageBatch calls: <= 10 a call and <= 250 KB together."""
    groups: list[list[str]] = []
    size = 0
    for text in texts:
        length = len(text.encode())
        if not groups or len(groups[-1]) >= SEND_BATCH or size + length > SEND_BATCH_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(text)
        size += length
    return groups


class SuppressionJobsQueue(WorkQueue):
    name = "suppression jobs queue"

    def __init__(self, config: Config) -> None:
        super().__init__(config.suppression_jobs_queue_url, "OPTOUT_SUPPRESSION_JOBS_QUEUE_URL")


class UnenrollQueue(WorkQueue):
    name = "unenrollment queue"

    def __init__(self, config: Config) -> None:
        super().__init__(config.unenroll_queue_url, "OPTOUT_UNENROLL_QUEUE_URL")


class CrmQueue(WorkQueue):
    name = "CRM write-back queue"

    def __init__(self, config: Config) -> None:
        super().__init__(config.crm_queue_url, "OPTOUT_CRM_QUEUE_URL")
