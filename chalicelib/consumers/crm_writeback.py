"""SQS handler body for CRM write-back batches (R13); partial batch failures as in
consumers/batch.py (a record that keeps failing goes to the DLQ, counted as DeadLettered)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.consumers.batch import process_partial_batch
from chalicelib.crm.base import CrmClient
from chalicelib.crm.registry import client_for
from chalicelib.services.context import Services, get_services


def handle_crm_writeback(
    event: dict[str, Any],
    services: Services | None = None,
    client_factory: Callable[..., CrmClient] = client_for,
) -> int:
    from chalicelib.services.crm import write_back

    resolved = services or get_services()
    return process_partial_batch(
        event.get("Records") or [],
        lambda body: write_back(resolved, json.loads(body), client_factory),
        resolved.crm_queue,
        "crm-writeback",
    )
