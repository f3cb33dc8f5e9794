"""Body of the suppression-jobs queue's Lambda handler (``app.on_suppression_job``): import chunks
and exports (services/suppressions.py, idempotent); partial batch failures as in consumers/batch.py.
A message's final failure is counted in its job so the job still completes."""

from __future__ import annotations

from typing import Any

from chalicelib.consumers.batch import process_partial_batch
from chalicelib.services.context import Services
from chalicelib.services.suppressions import handle_job_message, record_final_failure


def handle_suppression_job_event(services: Services, records: list[dict[str, Any]]) -> int:
    return process_partial_batch(
        records,
        lambda body: handle_job_message(services, body),
        services.suppression_jobs_queue,
        "suppression-jobs",
        on_final_failure=lambda body: record_final_failure(services, body),
    )
