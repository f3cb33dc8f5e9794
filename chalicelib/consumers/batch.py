"""Partial batch failures for the SQS handlers, without ReportBatchItemFailures.

Chalice does not enable the event source mapping's ``ReportBatchItemFailures``, so Lambda either
deletes a whole batch (normal return) or makes a whole batch visible again (exception); Powertools'
BatchProcessor needs that setting, so it does not apply. To retry only what failed:

1. every record is handled on its own; a failure is logged and remembered, never stops the loop;
2. if any record failed, the successful ones are deleted here (DeleteMessageBatch with their
   receipt handles) and the handler raises, so only the failed ones come back after the
   visibility timeout;
3. after the queue's ``maxReceiveCount`` receives (read from its redrive policy) SQS moves a failing message to its
   dead-letter queue; on that last receive ``on_final_failure`` runs first (count it, finish a job).

Handlers must be idempotent: a success whose delete was lost, or a whole batch retried after a
crash, is delivered again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib.observability import logger, record_dead_lettered
from chalicelib.ports import WorkQueuePort

if TYPE_CHECKING:
    from chalicelib.services.context import Services


class BatchFailed(Exception):
    """Raised after the successes were deleted, so Lambda retries only the failed records."""


def process_partial_batch(
    records: list[dict[str, Any]],
    handle: Callable[[str], Any],
    queue: WorkQueuePort,
    metric_name: str,
    on_final_failure: Callable[[str], Any] | None = None,
) -> int:
    """``handle(body)`` every record of a Lambda SQS event's ``Records``; the number handled, or
    BatchFailed after deleting the successes."""
    succeeded: list[str] = []
    failed: list[str] = []
    for record in records:
        try:
            handle(record["body"])
        except Exception:
            logger.exception("SQS record failed; it will be retried", extra={"message_id": record.get("messageId")})
            failed.append(str(record.get("messageId", "?")))
            receives = int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
            if receives >= queue.max_receive_count():
                record_dead_lettered(metric_name)
                if on_final_failure is not None:
                    try:
                        on_final_failure(record["body"])
                    except Exception:
                        logger.exception("could not count a final failure")
        else:
            succeeded.append(record["receiptHandle"])
    if not failed:
        return len(succeeded)
    if succeeded:
        try:
            queue.delete(succeeded)
        except Exception:  # redelivery of a handled record is harmless (idempotent handlers)
            logger.warning("could not delete the handled SQS records of a failed batch")
    raise BatchFailed(f"{len(failed)} of {len(records)} messages failed: {', '.join(failed)}")


def process_job_batch(
    services: Services,
    records: list[dict[str, Any]],
    handle: Callable[[Services, str], Any],
    final_failure: Callable[[Services, str], Any],
    queue: WorkQueuePort,
    metric_name: str,
) -> int:
    """A job queue's batch (bulk unenrollment; suppression import and export): each message through
    ``handle(services, body)`` (idempotent); a message failing for the last time is counted in its
    job by ``final_failure(services, body)``, so the job still completes."""
    return process_partial_batch(
        records,
        lambda body: handle(services, body),
        queue,
        metric_name,
        on_final_failure=lambda body: final_failure(services, body),
    )
