"""Body of the unenrollment queue's Lambda handler (``app.on_unenroll_batch``): each message is a
plan step or a batch of ~100 unenrollments (services/jobs.py, idempotent); partial batch failures
as in consumers/batch.py. A message's final failure is counted in its job's ``failed`` so the job
still completes; the others were never held up."""

from __future__ import annotations

from typing import Any

from chalicelib.consumers.batch import process_job_batch
from chalicelib.services.context import Services
from chalicelib.services.jobs import handle_message, record_final_failure


def handle_unenroll_event(services: Services, records: list[dict[str, Any]]) -> int:
    """``records``: the Lambda SQS event's ``Records`` (messageId, receiptHandle, body, attributes)."""
    return process_job_batch(
        services, records, handle_message, record_final_failure, services.unenroll_queue, "unenroll"
    )
