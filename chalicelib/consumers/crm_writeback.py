"""SQS handler body for CRM write-back batches (R13).

Partial batch success: chalice does not enable ReportBatchItemFailures, so when some records fail
the successful ones are deleted here, one by one, and the handler raises; SQS then redelivers only
the failures, and the queue's redrive policy moves a record that keeps failing to the DLQ. When
every record succeeds, returning normally lets Lambda delete the batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.crm import client_for
from chalicelib.crm.base import CrmClient
from chalicelib.models.domain import CrmSettings
from chalicelib.observability import logger
from chalicelib.services.context import Services, get_services


class BatchFailed(Exception):
    """Some records of an SQS batch failed; they stay on the queue to be retried."""


def process_partial_batch(
    event: dict[str, Any],
    handle_record: Callable[[dict[str, Any]], Any],
    delete_record: Callable[[dict[str, Any]], None],
) -> int:
    """Run ``handle_record`` on every record of a Lambda SQS event. If any fail, delete the
    successful ones and raise BatchFailed; otherwise return the number handled."""
    records = event.get("Records") or []
    succeeded: list[dict[str, Any]] = []
    failed: list[str] = []
    for record in records:
        try:
            handle_record(record)
        except Exception:
            logger.exception("SQS record failed; it will be retried", extra={"message_id": record.get("messageId")})
            failed.append(str(record.get("messageId")))
        else:
            succeeded.append(record)
    if not failed:
        return len(succeeded)
    for record in succeeded:
        try:
            delete_record(record)
        except Exception:  # redelivery of a handled record is harmless (idempotent handlers)
            logger.warning("could not delete a handled SQS record", extra={"message_id": record.get("messageId")})
    raise BatchFailed(f"{len(failed)} of {len(records)} records failed: {', '.join(failed)}")


def handle_crm_writeback(
    event: dict[str, Any],
    services: Services | None = None,
    client_factory: Callable[[CrmSettings], CrmClient] = client_for,
) -> int:
    from chalicelib.services.crm import write_back
    from chalicelib.store.crm_queue import CrmQueue

    services = services or get_services()
    queue = CrmQueue(services.config)

    def handle(record: dict[str, Any]) -> None:
        write_back(services, json.loads(record["body"]), client_factory)

    def delete(record: dict[str, Any]) -> None:
        queue.delete(record["receiptHandle"])

    return process_partial_batch(event, handle, delete)
