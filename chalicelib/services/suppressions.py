"""Adoption and audit (R18): import existing suppressions, list them, export suppressions or audit
entries as a file in S3.

Import. ``POST /v1/suppressions/import`` checks the file's structure (400 naming the line when it
is broken: cheap, no address validated), stages the body in the job-files bucket (private,
encrypted, expiring) and queues an ``import_plan`` message, then answers 202: a 10 MB file is
accepted in well under API Gateway's 29 s. The planner validates every row (rejections by line go
to the job), replaces each address by its keyed hash (the address item's key, R3) and queues the
valid rows in chunks of ROWS_PER_MESSAGE, then deletes the staged file: from there on the rows wait
in SQS without a readable address. The worker applies a chunk with
``services.dnd.apply_dnd_changes``: the same rules, records, audit, events and follow-ups as a live
opt-out, in batched transactions, each row exactly once (its marker is a hash of workspace,
address, channels, reason, kind, source and ``at``: the same file twice adds nothing). Job counters
move once per chunk, with the chunk's marker, so a redelivered chunk counts nothing twice.

List. ``GET /v1/suppressions`` pages through the suppression index (chalicelib/store/suppressions.py).

Export. ``POST /v1/exports`` records a job and queues it; the worker pages through the index (or
the audit table's workspace index), writes CSV or NDJSON to a temporary file, uploads it to the
exports bucket, and the done job answers a presigned ``download_url`` (valid one hour, minted on
each GET). Rows give contact ids, and the contact's current address where a contact holds the
address, else the address's keyed hash: nothing new is stored to make exports possible (R3).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import secrets
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from chalicelib.errors import InvalidInput, MalformedBody, OptoutError, StoreUnavailable
from chalicelib.logic.suppression_import import ImportRow, MalformedImport, check_structure, iter_import
from chalicelib.models.records import Job
from chalicelib.models.requests import ExportBody, SuppressionFilters, parse
from chalicelib.observability import logger
from chalicelib.services.context import Services, iso
from chalicelib.services.recipients import Target, address_pk
from chalicelib.store.dnd import subject_from_item
from chalicelib.store.suppressions import subject_kind

MAX_BODY_BYTES = 10 * 1024 * 1024  # what API Gateway accepts
ROWS_PER_MESSAGE = 100
CHUNKS_PER_SEND = 10  # the planner queues rows 1,000 at a time while it reads the file
MAX_REJECTED_LISTED = 1000
IMPORT_JOB = "suppression_import"
EXPORT_JOB = "export"
MEDIA_TYPES = ("text/csv", "application/x-ndjson")


class PayloadTooLarge(OptoutError):
    status = 413
    code = "payload_too_large"


# --- import: API side ----------------------------------------------------------------------------


def request_import(services: Services, workspace_id: str, content_type: str, body: bytes) -> dict[str, Any]:
    """Check the file's structure (400 naming the line), stage it in S3 and queue its planning: the
    answer comes before any address is validated, whatever the size (up to 10 MB)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "text/plain":
        media_type = "text/csv"
    if media_type not in MEDIA_TYPES:
        raise InvalidInput("send text/csv or application/x-ndjson", fields={"Content-Type": "text/csv or NDJSON"})
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(
            "the file is larger than 10 MB: split it into several imports of at most 10 MB each "
            "(importing a row twice is harmless)",
            fields={"body": "at most 10 MB"},
        )
    if not body.strip():
        raise MalformedBody("the file is empty", fields={"body": "a header row and rows are required"})
    try:
        total = check_structure(body, media_type)
    except MalformedImport as exc:
        raise MalformedBody(str(exc), code="malformed_import", fields={"line": str(exc.line)}) from None
    job_id = "job_" + secrets.token_hex(10)
    staged = f"imports/{workspace_id}/{job_id}"
    jobs = services.jobs
    jobs.create(
        workspace_id,
        job_id,
        IMPORT_JOB,
        {"media_type": media_type, "staged": staged},
        iso(services.clock()),
        fields={"total": total, "rejected_count": 0, "rejected": [], "imported": 0, "unchanged": 0},
    )
    return _queue_job(
        services,
        workspace_id,
        job_id,
        "import_plan",
        lambda: services.exports.put(staged, io.BytesIO(body), media_type),
    )


def _queue_job(
    services: Services, workspace_id: str, job_id: str, kind: str, stage: Callable[[], Any] | None = None
) -> dict[str, Any]:
    """Queue a job's first message (after ``stage``, e.g. the import file to S3): 202's body, or the
    job marked ``could_not_queue`` and StoreUnavailable (503)."""
    try:
        if stage is not None:
            stage()
        services.suppression_jobs_queue.send([{"kind": kind, "ws": workspace_id, "job_id": job_id}])
    except Exception:
        services.jobs.set_error(workspace_id, job_id, "could_not_queue")
        raise StoreUnavailable(f"could not queue the {kind.split('_')[0]}; retry") from None
    return {"job_id": job_id}


def plan_import(services: Services, message: dict[str, Any]) -> None:
    """Validate the staged file, queue its valid rows in chunks (addresses hashed) while reading it,
    record the rejected lines, then delete the file. A row repeated in the file is queued once (and
    counted unchanged). Re-running it is harmless: the chunks come out the same (numbered in file
    order) and are applied once each; the plan's counts are committed once, with its marker."""
    ws, job_id = message["ws"], message["job_id"]
    jobs = services.jobs
    job = jobs.get(ws, job_id)
    if job is None or job.planned:
        return
    files = services.exports
    staged = job.spec["staged"]
    body = files.get(staged)
    if body is None:
        jobs.set_error(ws, job_id, "import_file_missing")
        return
    region = services.config_cache.get(ws).settings.default_phone_region
    queue = services.suppression_jobs_queue
    seen: set[str] = set()
    rows: list[list[Any]] = []
    rejected: list[tuple[int, str]] = []
    repeats = chunks = 0

    def send(final: bool) -> None:
        nonlocal rows, chunks
        ready = len(rows) if final else len(rows) - len(rows) % ROWS_PER_MESSAGE
        messages = [
            {
                "kind": "import",
                "ws": ws,
                "job_id": job_id,
                "chunk": chunks + n,
                "rows": rows[start : start + ROWS_PER_MESSAGE],
            }
            for n, start in enumerate(range(0, ready, ROWS_PER_MESSAGE))
        ]
        queue.send(messages)
        chunks += len(messages)
        rows = rows[ready:]

    for row in iter_import(body, job.spec["media_type"], region, services.clock()):
        if not isinstance(row, ImportRow):
            rejected.append(row)
            continue
        queued = _row_message(services, ws, row)
        if queued[-1] in seen:
            repeats += 1
            continue
        seen.add(queued[-1])
        rows.append(queued)
        if len(rows) >= ROWS_PER_MESSAGE * CHUNKS_PER_SEND:
            send(final=False)
    send(final=True)
    jobs.commit_step(
        ws,
        job_id,
        "plan",
        add={"processed": repeats, "unchanged": repeats},
        set_fields={
            "total": len(seen) + repeats + len(rejected),
            "planned": True,
            "rejected_count": len(rejected),
            "rejected": [{"line": line, "error": error} for line, error in rejected[:MAX_REJECTED_LISTED]],
        },
    )
    files.delete(staged)


def _row_message(services: Services, workspace_id: str, row: ImportRow) -> list[Any]:
    """A row as queued: the address replaced by its keyed hash (no readable address in SQS)."""
    pk = address_pk(services, workspace_id, row.address_kind, row.address)
    identity = "\n".join((workspace_id, pk, ",".join(row.channels), row.reason, row.at or "", row.kind, row.source))
    key = hashlib.sha256(identity.encode()).hexdigest()[:40]
    return [row.line, row.address_kind, pk, list(row.channels), row.reason, row.kind, row.source, row.at, key]


# --- import: worker side ---------------------------------------------------------------------------


def apply_import_chunk(services: Services, message: dict[str, Any]) -> None:
    from chalicelib.services.dnd import DndChange, apply_dnd_changes

    ws, job_id, step = message["ws"], message["job_id"], f"chunk#{message['chunk']}"
    jobs = services.jobs
    if jobs.get_marker(ws, job_id, step):
        return  # counted before: a redelivery
    changes = [
        DndChange(
            ws,
            Target(address_key=pk, address_kind=kind),
            "outbound",
            tuple(channels),
            "enable",
            source,
            reason,
            kind=entry_kind,
            actor=f"import {job_id}",
            event_id=f"import:{key}",
            at=at,
        )
        for _line, kind, pk, channels, reason, entry_kind, source, at, key in message["rows"]
    ]
    outcomes = _applied_by_this_job(services, message, apply_dnd_changes(services, changes))
    rejected = [
        (row[0], o.removeprefix("rejected: "))
        for row, o in zip(message["rows"], outcomes, strict=True)
        if o.startswith("rejected")
    ]
    if rejected:
        logger.warning(
            "import rows rejected by the worker", extra={"job_id": job_id, "lines": [r[0] for r in rejected][:20]}
        )
    jobs.commit_step(
        ws,
        job_id,
        step,
        record={"rejected": [{"line": line, "error": error} for line, error in rejected]},
        add={
            "processed": len(changes) - len(rejected),
            "imported": outcomes.count("applied"),
            "unchanged": outcomes.count("unchanged") + outcomes.count("duplicate"),
            "rejected_count": len(rejected),
        },
    )


def _applied_by_this_job(services: Services, message: dict[str, Any], outcomes: list[str]) -> list[str]:
    """Rows found already applied (``duplicate``) that this job applied itself, in an earlier
    delivery of this chunk that stopped before counting them (or ran at the same time): their entry
    carries this job as actor and the row's own time. They count as imported, once (the chunk's
    marker), not as unchanged; a row the job met twice in its file was never queued twice."""
    duplicates = [n for n, outcome in enumerate(outcomes) if outcome == "duplicate"]
    if not duplicates:
        return outcomes
    rows = message["rows"]
    items = services.dnd.get_address_items(list({rows[n][2] for n in duplicates}))
    actor = f"import {message['job_id']}"
    settled = list(outcomes)
    for n in duplicates:
        _line, _kind, pk, channels, reason, _entry_kind, _source, at, _key = rows[n]
        state = subject_from_item(services.config.dnd_table, pk, pk, message["ws"], items.get(pk)).state
        for channel in channels:
            entry = state.entries("outbound", channel).get(reason)
            if entry is not None and entry.actor == actor and (at is None or entry.at == at):
                settled[n] = "applied"
                break
    return settled


# --- the queue's messages ------------------------------------------------------------------------


def handle_job_message(services: Services, body: str) -> None:
    message = json.loads(body)
    if not isinstance(message, dict) or message.get("kind") not in ("import_plan", "import", "export"):
        raise ValueError("not a suppression job message")
    if message["kind"] == "import_plan":
        plan_import(services, message)
    elif message["kind"] == "import":
        apply_import_chunk(services, message)
    else:
        run_export(services, message)


def record_final_failure(services: Services, body: str) -> None:
    """A message failed on its last allowed receive: count it so its job still finishes."""
    try:
        message = json.loads(body)
        ws, job_id = message["ws"], message["job_id"]
    except (ValueError, KeyError, TypeError):
        return
    jobs = services.jobs
    if message.get("kind") == "import_plan":
        jobs.set_error(ws, job_id, "import_failed")
    elif message.get("kind") == "import":
        jobs.commit_step(
            ws, job_id, f"chunk#{message['chunk']}", record={"failed": True}, add={"failed": len(message["rows"])}
        )
    else:
        jobs.set_error(ws, job_id, "export_failed")


def job_extras(services: Services, workspace_id: str, job: Job) -> dict[str, Any]:
    """What GET /v1/jobs/{id} adds for imports (rejected lines, counts) and exports (download_url)."""
    if job.kind == IMPORT_JOB:
        return {
            "rejected": job.rejected,
            "rejected_count": job.rejected_count,
            "imported": job.imported,
            "unchanged": job.unchanged,
        }
    if job.kind == EXPORT_JOB and job.s3_key:
        return {
            "download_url": services.exports.download_url(job.s3_key, job.filename or "export"),
            "expires_in": 3600,
            "format": job.spec.get("format"),
        }
    return {}


# --- list ----------------------------------------------------------------------------------------


def _parse_filters(values: dict[str, Any]) -> tuple[dict[str, str], str, str | None]:
    parsed = parse(SuppressionFilters, values)
    filters = {name: getattr(parsed, name) for name in ("channel", "reason", "source", "kind") if getattr(parsed, name)}
    since = _time(parsed.since, "since") if parsed.since else ""
    until = _time(parsed.until, "until") if parsed.until else None
    return filters, since, until


def _time(value: str, name: str) -> str:
    try:
        moment = datetime.fromisoformat(value.replace(" ", "+"))  # a '+' in a query string arrives as ' '
    except ValueError:
        raise InvalidInput(f"invalid {name}", fields={name: "an ISO 8601 date or time"}) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return iso(moment)


def _encode_cursor(position: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": position}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position = data["after"]
        if not isinstance(position, str) or len(position) > 200:
            raise ValueError
        return position
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(
            "invalid cursor", fields={"cursor": "pass back the next value of the previous page"}
        ) from None


def list_suppressions(services: Services, workspace_id: str, params: dict[str, str]) -> dict[str, Any]:
    params = dict(params)
    cursor = params.pop("cursor", None)
    raw_limit = params.pop("limit", None)
    try:
        limit = int(raw_limit) if raw_limit is not None else 100
        if not 1 <= limit <= 500:
            raise ValueError
    except ValueError:
        raise InvalidInput("invalid limit", fields={"limit": "an integer from 1 to 500"}) from None
    filters, since, until = _parse_filters(params)
    after = max(since, _decode_cursor(cursor)) if cursor else since
    items, next_position = services.suppressions.page(
        workspace_id, after=after, until=until, limit=limit, filters=filters
    )
    contacts = _contact_ids(services, items)
    return {
        "suppressions": [_suppression_view(item, contacts) for item in items],
        "next": _encode_cursor(next_position) if next_position else None,
    }


def _suppression_view(item: dict[str, Any], contacts: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "suppression_id": item["at_sk"].rsplit("#", 1)[1],  # stable while the entry is active
        "contact_ids": contacts.get(item["subject_pk"], []),
        "channel": item["channel"],
        "direction": item["direction"],
        "reason": item["reason"],
        "kind": item["kind"],
        "source": item["source"],
        "at": item["at"],
        "subject": item.get("subject") or subject_kind(item["subject_pk"]),
    }


def _contact_ids(services: Services, items: list[dict[str, Any]], pk_field: str = "subject_pk") -> dict[str, list[str]]:
    """Subject pk -> the contacts it covers: the contacts holding an address (its index), or the contact."""
    subjects = list(dict.fromkeys(item[pk_field] for item in items))
    found: dict[str, list[str]] = {}
    addresses = []
    for pk in subjects:
        kind = subject_kind(pk)
        if kind == "contact":
            found[pk] = [pk.split("#", 1)[1].removeprefix("c#")]
        else:
            addresses.append((pk, kind))
    if addresses:
        with ThreadPoolExecutor(max_workers=8) as pool:
            for pk, ids in zip(
                [a[0] for a in addresses],
                pool.map(lambda a: services.contacts.contact_ids_with_address(a[0], a[1]), addresses),
                strict=True,
            ):
                found[pk] = ids
    return found


# --- export --------------------------------------------------------------------------------------


SUPPRESSION_COLUMNS = (
    "at",
    "contact_ids",
    "subject",
    "email",
    "phone",
    "address_hash",
    "channel",
    "direction",
    "reason",
    "kind",
    "source",
)
AUDIT_COLUMNS = (
    "at", "contact_ids", "subject", "email", "phone", "address_hash", "channel", "direction", "action",
    "reason", "kind", "source", "actor", "evidence", "note", "imported", "imported_at",
)  # fmt: skip


def request_export(services: Services, workspace_id: str, body: dict[str, Any]) -> dict[str, Any]:
    parsed = parse(ExportBody, body)
    export_kind, export_format = parsed.kind, parsed.format
    values = parsed.model_dump(exclude_none=True, exclude={"kind", "format", "filters", "entry_kind"})
    if parsed.entry_kind:
        values["kind"] = parsed.entry_kind
    if parsed.filters is not None:
        values.update(parsed.filters.model_dump(exclude_none=True))
    filters, since, until = _parse_filters(values)
    job_id = "job_" + secrets.token_hex(10)
    spec = {"export": export_kind, "format": export_format, "filters": filters, "since": since, "until": until}
    services.jobs.create(workspace_id, job_id, EXPORT_JOB, spec, iso(services.clock()))
    return _queue_job(services, workspace_id, job_id, "export")


def run_export(services: Services, message: dict[str, Any]) -> None:
    ws, job_id = message["ws"], message["job_id"]
    jobs = services.jobs
    job = jobs.get(ws, job_id)
    if job is None or job.s3_key:
        return  # unknown (expired) or already written: a redelivery
    spec = job.spec
    audit = spec["export"] == "audit"
    columns = AUDIT_COLUMNS if audit else SUPPRESSION_COLUMNS
    extension = spec["format"]
    count = 0
    with tempfile.TemporaryFile() as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = csv.writer(text) if extension == "csv" else None
        if writer is not None:
            writer.writerow(columns)
        pages = services.suppressions.iterate(
            ws, after=spec.get("since") or "", until=spec.get("until"), filters=spec.get("filters") or {}, audit=audit
        )
        for items in pages:
            for row in _export_rows(services, ws, items, audit):
                count += 1
                if writer is not None:
                    writer.writerow([_csv_cell(row.get(column)) for column in columns])
                else:
                    text.write(json.dumps({k: row.get(k) for k in columns}, separators=(",", ":")) + "\n")
        text.flush()
        raw.seek(0)
        key = f"{ws}/{job_id}.{extension}"
        media = "text/csv" if extension == "csv" else "application/x-ndjson"
        services.exports.put(key, raw, media)
        text.detach()
    jobs.set_fields(
        ws,
        job_id,
        {
            "s3_key": key,
            "filename": f"{spec['export']}-{job_id}.{extension}",
            "total": count,
            "processed": count,
            "planned": True,
        },
    )


def _export_rows(services: Services, ws: str, items: list[dict[str, Any]], audit: bool) -> list[dict[str, Any]]:
    pk_field = "pk" if audit else "subject_pk"
    contacts = _contact_ids(services, items, pk_field)
    wanted = sorted({cid for ids in contacts.values() for cid in ids[:1]})
    by_id = services.contacts.get_many(ws, wanted)
    rows = []
    for item in items:
        pk = item[pk_field]
        kind = subject_kind(pk)
        ids = contacts.get(pk, [])
        row: dict[str, Any] = {
            **{k: item.get(k) for k in (AUDIT_COLUMNS if audit else SUPPRESSION_COLUMNS)},
            "contact_ids": ids,
            "subject": kind,
            "email": None,
            "phone": None,
            "address_hash": None,
        }
        if kind in ("email", "phone"):
            holder = by_id.get(ids[0]) if ids else None
            key, address = holder.address(kind) if holder is not None else (None, None)
            if key == pk:
                row[kind] = address  # the contact's current address (R3: nothing else kept)
            else:
                row["address_hash"] = pk.rsplit("#", 1)[1]
        rows.append(row)
    return rows


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # a spreadsheet must not read a reason or actor as a formula
    return "" if value is None else value
