"""Body of the unenrollment queue's Lambda handler (``app.on_unenroll_batch``).

Partial batch failures without ReportBatchItemFailures. Chalice does not enable the event source
mapping's ``ReportBatchItemFailures``, so Lambda either deletes a whole batch (normal return) or
retries a whole batch (exception). To retry only what failed:

1. every record is handled on its own; a failure is logged and remembered, never stops the loop;
2. if any record failed, the handler deletes the successful records itself (DeleteMessageBatch
   with their receipt handles on the queue URL from config) and then raises, so Lambda makes
   only the failed ones visible again after the visibility timeout;
3. after ``maxReceiveCount`` receives (template: 3) SQS moves a failing message to the
   dead-letter queue; on that last receive the failure is first counted in the job's ``failed``
   so the job still completes. The others were never held up.

Handling is idempotent (see services/jobs.py), so a success whose delete was lost, or a whole
batch retried after a crash, changes nothing and counts nothing twice.
"""

from __future__ import annotations

from typing import Any

from chalicelib.observability import logger, record_dead_lettered
from chalicelib.services.context import Services
from chalicelib.services.jobs import handle_message, record_final_failure
from chalicelib.store.queues import UnenrollQueue


class UnenrollBatchFailed(Exception):
    """Raised after the successes were deleted, so Lambda retries only the failed records."""


def handle_unenroll_event(services: Services, records: list[dict[str, Any]]) -> None:
    """``records``: the Lambda SQS event's ``Records`` (messageId, receiptHandle, body, attributes)."""
    queue = UnenrollQueue(services.config)
    succeeded: list[str] = []
    failed: list[str] = []
    for record in records:
        try:
            handle_message(services, record["body"])
            succeeded.append(record["receiptHandle"])
        except Exception:
            logger.exception("unenroll message failed", extra={"message_id": record.get("messageId")})
            failed.append(record.get("messageId", "?"))
            receives = int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
            if receives >= queue.max_receive_count():
                record_dead_lettered("unenroll")
                try:
                    record_final_failure(services, record["body"])
                except Exception:
                    logger.exception("could not count a final failure")
    if failed:
        if succeeded:
            queue.delete(succeeded)
        raise UnenrollBatchFailed(f"{len(failed)} of {len(records)} messages failed: {', '.join(failed)}")
