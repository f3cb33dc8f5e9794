"""The DND outbox sweeper: finishes follow-ups a request could not (see chalicelib/services/dnd.py).

Runs once a minute (``on_outbox_sweep`` in app.py; the local dispatcher calls the same handler).
Each run Queries every shard of the pending index for items whose ``due`` has passed (the request's
grace period, or the backoff after a failed attempt), claims each with a conditional update that
counts the attempt and pushes ``due`` back, re-runs its follow-ups and deletes it when all
succeeded. After MAX_ATTEMPTS failed attempts the item is parked (kept, out of the index) with a
``DeadLettered`` metric (queue ``dnd-outbox``) and an error log naming only ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib.observability import SERVICE, record_dead_lettered
from chalicelib.ports import OutboxStorePort
from chalicelib.services.context import Services, iso
from chalicelib.store.outbox import SHARDS, shard_key

logger = Logger(service=SERVICE, child=True)  # a child of the service logger: correlation ids

MAX_ATTEMPTS = 8
MAX_ITEMS_PER_RUN = 200
RETRY_BASE_SECONDS = 60
RETRY_MAX_SECONDS = 3600
# Stop starting new items when less than this much of the invocation is left.
SAFETY_MARGIN_MS = 10_000


@dataclass
class SweepReport:
    completed: list[str] = field(default_factory=list)  # outbox ids
    failed: list[str] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)
    skipped: int = 0  # claimed meanwhile by another run, or already done


def _backoff(attempts: int) -> int:
    return min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS)


def sweep_outbox(
    services: Services,
    *,
    max_items: int = MAX_ITEMS_PER_RUN,
    remaining_ms: Callable[[], int] | None = None,
) -> SweepReport:
    """Re-run the follow-ups of every outbox item that is due, up to ``max_items`` per run."""
    from chalicelib.services.dnd import run_follow_ups

    store = services.outbox
    report = SweepReport()
    now = int(services.clock().timestamp())
    budget = max_items
    for shard in range(SHARDS):
        for pending in store.due_in_shard(shard_key(shard), now, budget):
            if remaining_ms is not None and remaining_ms() < SAFETY_MARGIN_MS:
                budget = 0  # the next run carries on
            if budget <= 0:
                break
            budget -= 1
            try:
                _attempt(services, store, pending, now, report, run_follow_ups)
            except Exception:  # one item's store failure must not hold up the others
                logger.exception(
                    "dnd outbox item could not be processed", extra={"outbox_id": pending.get("outbox_id")}
                )
                report.failed.append(str(pending.get("outbox_id")))
        if budget <= 0:
            break
    if report.completed or report.failed or report.gave_up:
        logger.info(
            "dnd outbox sweep",
            extra={
                "completed": len(report.completed),
                "failed": len(report.failed),
                "gave_up": len(report.gave_up),
                "skipped": report.skipped,
            },
        )
    return report


def _attempt(
    services: Services,
    store: OutboxStorePort,
    pending: dict[str, Any],
    now: int,
    report: SweepReport,
    run_follow_ups: Callable[[Services, dict[str, Any]], bool],
) -> None:
    attempts = int(pending.get("attempts") or 0)
    item = store.claim(pending["pk"], attempts, now + _backoff(attempts + 1))
    if item is None:
        report.skipped += 1
        return
    log = {"workspace_id": item.get("ws"), "outbox_id": item.get("outbox_id"), "attempt": attempts + 1}
    if run_follow_ups(services, item):
        store.delete(item["pk"])
        report.completed.append(item["outbox_id"])
        logger.info("dnd outbox item completed by the sweeper", extra=log)
    elif attempts + 1 >= MAX_ATTEMPTS:
        store.give_up(item["pk"], iso(services.clock()))
        record_dead_lettered("dnd-outbox")
        report.gave_up.append(item["outbox_id"])
        logger.error("dnd outbox item given up after repeated failures", extra=log)
    else:
        report.failed.append(item["outbox_id"])
        logger.warning("dnd outbox item failed again; retried later", extra=log)
