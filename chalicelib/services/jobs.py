"""Bulk unenrollment jobs (R11): plan off the request path, apply in batches of ~100, exactly once.

Flow. The API writes a job item and one ``plan`` message, then answers 202. The worker handles
two message kinds from the same queue:

- ``plan`` (step n, cursor): reads one page of matches through an index (Query, never Scan),
  splits it into ``batch`` messages of BATCH_SIZE contacts and, when there is more, a ``plan``
  message for step n+1. Before sending anything it commits a marker for step n holding the
  page's batches and next cursor, together with ``total += page size``, in one transaction; a
  redelivered step replays the stored page instead of re-reading a changed index, so every
  step's messages are identical however often it runs and ``total`` is counted once.
- ``batch``: reads the ~100 enrollments (one BatchGetItem, projected), rewrites the still-active
  ones as unenrolled (BatchWriteItem: status, unenrolled_at, status index key), then commits the
  batch marker with ``processed += n`` in one transaction. A redelivered batch finds its marker
  and does nothing; a re-run after a crash between the writes and the marker sees the items
  already unenrolled and writes nothing, so the cooldown start never moves.

A batch that fails on its last allowed receive (the queue's maxReceiveCount) is counted in
``failed`` before it moves to the dead-letter queue, so the job still finishes. Job counters
are written once per plan step and once per batch, never per contact (SPEC scale note).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.errors import InvalidInput, NotFound, StoreUnavailable
from chalicelib.logic.exclusions import CompiledRule, compile_rules, matching_rules
from chalicelib.logic.normalize import is_valid_id
from chalicelib.models.records import Contact
from chalicelib.models.requests import UnenrollmentBody, parse, require_id
from chalicelib.observability import record_unenrollments
from chalicelib.services.context import Services, iso
from chalicelib.services.recipients import Target, match_subject
from chalicelib.store.enrollments import ACTIVE
from chalicelib.store.workspaces import WorkspaceConfig

BATCH_SIZE = 100  # contacts per SQS message
# Index items read per plan step (DynamoDB may return fewer: a Query page stops at 1 MB read). Each step
# costs a Query, a marker transaction and its sends, so fewer, larger steps plan 10,000 faster.
PLAN_PAGE = 5000
CONTACTS_PER_PLAN_STEP = 200  # contact lists without a sequence: one by_contact Query each
REASON_BULK = "bulk_unenroll"
REASON_EXCLUSION = "exclusion"


# --- messages ----------------------------------------------------------------------------------


class PlanStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["plan"] = "plan"
    ws: str
    job_id: str
    step: int = 0
    source: dict[str, Any]
    reason: str
    cursor: dict[str, Any] | None = None


class UnenrollBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["batch"] = "batch"
    ws: str
    job_id: str
    batch_id: str
    pairs: list[tuple[str, str]] = Field(min_length=1, max_length=BATCH_SIZE)  # (sequence_id, contact_id)
    reason: str


def parse_message(body: str) -> PlanStep | UnenrollBatch:
    """A message of the unenrollment queue; ValueError for anything else (a poison message)."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("not an object")
    if data.get("kind") == "plan":
        return PlanStep.model_validate(data)
    if data.get("kind") == "batch":
        return UnenrollBatch.model_validate(data)
    raise ValueError(f"unknown message kind {data.get('kind')!r}")


# --- API side ----------------------------------------------------------------------------------


def request_unenrollment(services: Services, workspace_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /v1/unenrollments: validate, record the job, queue its first plan step."""
    parsed = parse(UnenrollmentBody, body)
    for name in ("sequence_id", "exclusion_id"):
        value = getattr(parsed, name)
        if value is not None:
            require_id(value, name)
    chosen = [n for n in ("exclusion_id", "contact_ids") if getattr(parsed, n) is not None]
    if len(chosen) > 1 or (not chosen and parsed.sequence_id is None):
        raise InvalidInput(
            "give sequence_id (and status), exclusion_id or contact_ids",
            fields={"body": "exactly one of: sequence_id with status, exclusion_id, contact_ids (+ sequence_id)"},
        )
    source: dict[str, Any]
    if parsed.contact_ids is not None:
        for n, contact_id in enumerate(parsed.contact_ids):
            if not is_valid_id(contact_id):
                raise InvalidInput("invalid contact id", fields={f"contact_ids[{n}]": "not a contact id"})
        source = {
            "by": "contacts",
            "contact_ids": list(dict.fromkeys(parsed.contact_ids)),
            "sequence_id": parsed.sequence_id,
        }
    elif parsed.exclusion_id is not None:
        if parsed.sequence_id is not None:
            raise InvalidInput("exclusion jobs cover every sequence", fields={"sequence_id": "not with exclusion_id"})
        services.exclusions.get(workspace_id, parsed.exclusion_id)  # 404 when unknown
        source = {"by": "exclusion", "exclusion_id": parsed.exclusion_id}
    else:
        source = {"by": "status", "sequence_id": parsed.sequence_id, "status": parsed.status or ACTIVE}
    default_reason = REASON_EXCLUSION if source["by"] == "exclusion" else REASON_BULK
    return {"job_id": start_unenroll_job(services, workspace_id, source, parsed.reason or default_reason)}


def start_unenroll_job(services: Services, workspace_id: str, source: dict[str, Any], reason: str) -> str:
    job_id = "job_" + secrets.token_hex(10)
    jobs = services.jobs
    jobs.create(workspace_id, job_id, "unenroll", {**source, "reason": reason}, iso(services.clock()))
    try:
        services.unenroll_queue.send(
            [PlanStep(ws=workspace_id, job_id=job_id, source=source, reason=reason).model_dump()]
        )
    except Exception:
        jobs.set_error(workspace_id, job_id, "could_not_queue")
        raise StoreUnavailable("could not queue the job; retry") from None
    return job_id


def job_view(services: Services, workspace_id: str, job_id: str) -> dict[str, Any]:
    if not is_valid_id(job_id):
        raise NotFound("job not found", fields={"job_id": "no such job"})
    job = services.jobs.get(workspace_id, job_id)
    if job is None:
        raise NotFound("job not found", fields={"job_id": "no such job"})
    total, processed, failed = job.total, job.processed, job.failed
    rejected = job.rejected_count  # import rows refused by line (R18)
    if job.error:
        status = "failed"
    elif job.planned and processed + failed + rejected >= total:
        status = "failed" if failed else "done"
    elif job.started:
        status = "running"
    else:
        status = "queued"
    view = {
        "job_id": job_id,
        "status": status,
        "total": total,
        "processed": processed,
        "failed": failed,
        "unenrolled": job.unenrolled,
        "kind": job.kind,
        "created_at": job.created_at,
    }
    if job.error:
        view["error"] = job.error
    if job.kind in ("suppression_import", "export"):
        from chalicelib.services.suppressions import job_extras

        view.update(job_extras(services, workspace_id, job))
    return view


# --- worker side -------------------------------------------------------------------------------


def handle_message(services: Services, body: str) -> None:
    message = parse_message(body)
    if isinstance(message, PlanStep):
        run_plan_step(services, message)
    else:
        apply_batch(services, message)


def record_final_failure(services: Services, body: str) -> None:
    """The message failed on its last allowed receive: count it so the job can finish."""
    try:
        message = parse_message(body)
    except (ValueError, ValidationError):
        return  # not ours to count: no job to attribute it to
    jobs = services.jobs
    if isinstance(message, UnenrollBatch):
        jobs.commit_step(
            message.ws,
            message.job_id,
            f"batch#{message.batch_id}",
            record={"failed": True},
            add={"failed": len(message.pairs)},
        )
    else:
        jobs.set_error(message.ws, message.job_id, "planning_failed")


def run_plan_step(services: Services, message: PlanStep) -> None:
    jobs = services.jobs
    step = f"plan#{message.step}"
    marker = jobs.get_marker(message.ws, message.job_id, step)
    if marker is None:
        batches, next_cursor = _plan_page(services, message)
        # One string rather than ~1,000 nested list values: cheaper to store, read and copy.
        record: dict[str, Any] = {"batches_json": json.dumps(batches, separators=(",", ":")), "next": next_cursor}
        fields: dict[str, Any] = {"started": True}
        if next_cursor is None:
            fields["planned"] = True
        total = sum(len(batch) for batch in batches)
        if jobs.commit_step(message.ws, message.job_id, step, record=record, add={"total": total}, set_fields=fields):
            marker = record
        else:  # a concurrent delivery of the same step won: send what it recorded
            marker = jobs.get_marker(message.ws, message.job_id, step) or record
    outgoing: list[dict[str, Any]] = [
        UnenrollBatch(
            ws=message.ws,
            job_id=message.job_id,
            batch_id=f"{message.step}-{n}",
            pairs=[(seq, cid) for seq, cid in batch],
            reason=message.reason,
        ).model_dump()
        for n, batch in enumerate(json.loads(marker.get("batches_json") or "[]"))
    ]
    if marker.get("next"):
        outgoing.append(message.model_copy(update={"step": message.step + 1, "cursor": marker["next"]}).model_dump())
    services.unenroll_queue.send(outgoing)


def apply_batch(services: Services, message: UnenrollBatch) -> None:
    jobs = services.jobs
    step = f"batch#{message.batch_id}"
    if jobs.get_marker(message.ws, message.job_id, step) is not None:
        return  # redelivered: already applied and counted
    store = services.enrollments
    written = store.unenroll_batch(message.ws, list(message.pairs), iso(services.clock()), message.reason)
    if jobs.commit_step(
        message.ws,
        message.job_id,
        step,
        record={"unenrolled": written},
        add={"processed": len(message.pairs), "unenrolled": written},
    ):
        record_unenrollments(written)


def _batches(pairs: list[tuple[str, str]]) -> list[list[list[str]]]:
    return [[list(p) for p in pairs[i : i + BATCH_SIZE]] for i in range(0, len(pairs), BATCH_SIZE)]


def _plan_page(services: Services, message: PlanStep) -> tuple[list[list[list[str]]], dict[str, Any] | None]:
    """One page of (sequence_id, contact_id) pairs for the job's source, and the next cursor."""
    source, cursor, ws = message.source, message.cursor or {}, message.ws
    store = services.enrollments
    by = source.get("by")
    if by == "status":
        found, last = store.page(
            ws,
            source["sequence_id"],
            source.get("status") or ACTIVE,
            limit=PLAN_PAGE,
            start_key=cursor.get("key"),
            attributes=("contact_id",),
        )
        pairs = [(source["sequence_id"], enrollment.contact_id) for enrollment in found]
        return _batches(pairs), ({"key": last} if last else None)
    if by == "contacts":
        contact_ids: list[str] = source["contact_ids"]
        offset = int(cursor.get("offset", 0))
        if source.get("sequence_id"):
            chunk = contact_ids[offset : offset + PLAN_PAGE]
            pairs = [(source["sequence_id"], cid) for cid in chunk]
        else:
            chunk = contact_ids[offset : offset + CONTACTS_PER_PLAN_STEP]
            pairs = [(e.sequence_id, cid) for cid in chunk for e in store.active_for_contact(ws, cid)]
        end = offset + len(chunk)
        return _batches(pairs), ({"offset": end} if end < len(contact_ids) else None)
    if by == "exclusion":
        config = services.workspaces.load_config(ws)
        sequence_ids = cursor.get("sequence_ids")
        if sequence_ids is None:
            sequence_ids = sorted(s.sequence_id for s in config.sequences.values() if s.exclusions_enabled)
        index = int(cursor.get("index", 0))
        rule = next((r for r in config.rules if r.exclusion_id == source["exclusion_id"]), None)
        if rule is None or index >= len(sequence_ids):
            return [], None
        page = exclusion_page(
            services, ws, compile_rules([rule]), config, sequence_ids[index], cursor.get("key"), services.clock()
        )
        if page.next_key:
            following: dict[str, Any] | None = {"sequence_ids": sequence_ids, "index": index, "key": page.next_key}
        elif index + 1 < len(sequence_ids):
            following = {"sequence_ids": sequence_ids, "index": index + 1}
        else:
            following = None
        return _batches([(sequence_ids[index], cid) for cid in page.contact_ids]), following
    raise ValueError(f"unknown job source {by!r}")


# --- exclusion matching over enrollments (shared with preview) ---------------------------------


class ExclusionPage(BaseModel):
    contact_ids: list[str]
    next_key: dict[str, Any] | None = None


def exclusion_page(
    services: Services,
    workspace_id: str,
    compiled: list[CompiledRule],
    config: WorkspaceConfig,
    sequence_id: str,
    start_key: dict[str, Any] | None,
    now: datetime,
    contacts: dict[str, Contact] | None = None,
) -> ExclusionPage:
    """One page of a sequence's active enrollments whose contact the rule excludes from that
    sequence, with the hierarchy (enabled, ruleset on, audience not disabling it) applied.
    ``contacts`` (id -> item) saves the contact reads when the caller already has them."""
    store = services.enrollments
    enrollments, last = store.page(
        workspace_id,
        sequence_id,
        ACTIVE,
        limit=PLAN_PAGE,
        start_key=start_key,
        attributes=("contact_id", "audience_id"),
    )
    if contacts is None:
        contacts = services.contacts.get_many(workspace_id, [e.contact_id for e in enrollments])
    sequence = config.sequences.get(sequence_id)
    matched: list[str] = []
    for enrollment in enrollments:
        contact = contacts.get(enrollment.contact_id)
        if contact is None:
            continue
        audience = config.audiences.get(enrollment.audience_id) if enrollment.audience_id else None
        hits = matching_rules(
            compiled,
            match_subject(contact, Target()),
            now,
            sequence=sequence,
            sequence_id=sequence_id,
            audience=audience,
        )
        if hits:
            matched.append(enrollment.contact_id)
    return ExclusionPage(contact_ids=matched, next_key=last)


def iter_exclusion_matches(
    services: Services,
    workspace_id: str,
    compiled: list[CompiledRule],
    config: WorkspaceConfig,
    now: datetime,
    contacts: dict[str, Contact] | None = None,
) -> Iterator[tuple[str, str]]:
    """Every (sequence_id, contact_id) the rule would unenroll: the planner's pages, in full."""
    for sequence_id in sorted(s.sequence_id for s in config.sequences.values() if s.exclusions_enabled):
        key: dict[str, Any] | None = None
        while True:
            page = exclusion_page(services, workspace_id, compiled, config, sequence_id, key, now, contacts)
            yield from ((sequence_id, cid) for cid in page.contact_ids)
            if not page.next_key:
                break
            key = page.next_key
