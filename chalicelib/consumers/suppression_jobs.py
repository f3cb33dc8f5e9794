"""Body of the suppression-jobs queue's Lambda handler (``app.on_suppression_job``): import chunks
and exports (services/suppressions.py, idempotent); partial batch failures as in consumers/batch.py.
A message's final failure is counted in its job so the job still completes."""

from __future__ import annotations

from typing import Any

from chalicelib.consumers.batch import process_job_batch
from chalicelib.services.context import Services
from chalicelib.services.suppressions import handle_job_message, record_final_failure


def handle_suppression_job_event(services: Services, records: list[dict[str, Any]]) -> int:
    queue = services.suppression_jobs_queue
    return process_job_batch(services, records, handle_job_message, record_final_failure, queue, "suppression-jobs")
