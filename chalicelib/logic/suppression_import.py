"""Parsing a suppression import (R18): CSV with a header row, or NDJSON, into validated rows.

Pure: bytes in, rows and per-line rejections out. A file whose structure is broken (not UTF-8, no
``email``/``phone`` column, a CSV quote never closed, an NDJSON line that is not a JSON object) is
``MalformedImport`` naming the line; a well-formed row with a bad value (an invalid address, an
unknown channel, a date that is not ISO 8601) is rejected with its line and the import goes on.
Line numbers are the file's: the CSV header is line 1.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.errors import InvalidAddress
from chalicelib.logic.normalize import normalize_email, normalize_phone
from chalicelib.models.domain import SOURCES_ALL, AddressKind, address_channels

FIELDS = ("email", "phone", "channel", "reason", "kind", "source", "at")
DEFAULT_REASON = "imported"
DEFAULT_SOURCE = "user"
MAX_REASON = 500
# An original time in the future is a mistake in the file (clock skew aside).
FUTURE_SLACK = timedelta(days=1)


class MalformedImport(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass(frozen=True)
class ImportRow:
    line: int
    address_kind: AddressKind
    address: str  # normalized
    channels: tuple[str, ...]
    reason: str
    kind: str
    source: str
    at: str | None  # UTC ISO 8601 with microseconds, or None (import time)


@dataclass
class ParsedImport:
    rows: list[ImportRow]
    rejected: list[tuple[int, str]]


def check_structure(body: bytes, media_type: str) -> int:
    """The number of records of a well-formed file, or MalformedImport naming the line. Cheap
    (no address is validated): the API runs it before accepting a file of up to 10 MB."""
    return sum(1 for _record in _records(body, media_type))


def _records(body: bytes, media_type: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise MalformedImport(line, "not UTF-8") from None
    return _ndjson_records(text) if media_type == "application/x-ndjson" else _csv_records(text)


def parse_import(body: bytes, media_type: str, default_region: str, now: datetime) -> ParsedImport:
    parsed = ParsedImport(rows=[], rejected=[])
    for row in iter_import(body, media_type, default_region, now):
        if isinstance(row, ImportRow):
            parsed.rows.append(row)
        else:
            parsed.rejected.append(row)
    return parsed


def iter_import(
    body: bytes, media_type: str, default_region: str, now: datetime
) -> Iterator[ImportRow | tuple[int, str]]:
    """Each record in file order: a valid row, or ``(line, error)``; the planner queues rows while
    it is still reading the file."""
    for line, record in _records(body, media_type):
        try:
            yield validate_row(line, record, default_region, now)
        except ValueError as exc:
            yield line, str(exc)


def _csv_records(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise MalformedImport(reader.line_num or 1, f"bad CSV header ({exc})") from None
    if header is None:
        raise MalformedImport(1, "empty file: expected a header row naming email or phone")
    names = [name.strip().lower() for name in header]
    if "email" not in names and "phone" not in names:
        raise MalformedImport(1, "the header must name a column email or phone")
    duplicated = sorted({n for n in names if n and names.count(n) > 1})
    if duplicated:
        raise MalformedImport(1, f"column {duplicated[0]} appears twice in the header")
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise MalformedImport(start, f"bad CSV ({exc})") from None
        if not values or all(not v.strip() for v in values):
            continue  # blank line
        if len(values) > len(names):
            yield start, {"__error__": f"{len(values)} fields, the header has {len(names)}"}
            continue
        yield start, {name: value for name, value in zip(names, values, strict=False) if name}


def _ndjson_records(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            raise MalformedImport(number, "not valid JSON") from None
        if not isinstance(record, dict):
            raise MalformedImport(number, "each line must be a JSON object")
        yield number, record


def _text(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value.strip() or None


def validate_row(line: int, record: dict[str, Any], default_region: str, now: datetime) -> ImportRow:
    """One row, normalized; ValueError naming the field otherwise (no address in the message)."""
    if "__error__" in record:
        raise ValueError(record["__error__"])
    email, phone = _text(record, "email"), _text(record, "phone")
    if bool(email) == bool(phone):
        raise ValueError("give exactly one of email or phone")
    kind: AddressKind = "email" if email else "phone"
    try:
        address = normalize_email(email) if email else normalize_phone(phone or "", default_region)
    except InvalidAddress:
        raise ValueError(f"invalid {kind}") from None
    allowed = address_channels(kind)
    channel = (_text(record, "channel") or "").lower() or allowed[0]
    if channel == "all":
        channels = allowed
    elif channel in allowed:
        channels = (channel,)
    else:
        raise ValueError(f"channel must be one of {', '.join((*allowed, 'all'))} for an {kind}")
    reason = _text(record, "reason") or DEFAULT_REASON
    if len(reason) > MAX_REASON or any(ord(c) < 32 for c in reason):
        raise ValueError(f"reason must be 1-{MAX_REASON} printable characters")
    source = (_text(record, "source") or DEFAULT_SOURCE).lower()
    if source not in SOURCES_ALL:
        raise ValueError(f"source must be one of {', '.join(SOURCES_ALL)}")
    entry_kind = (_text(record, "kind") or ("permanent" if source == "contact" else "temporary")).lower()
    if entry_kind not in ("permanent", "temporary"):
        raise ValueError("kind must be permanent or temporary")
    at = _text(record, "at")
    return ImportRow(line, kind, address, channels, reason, entry_kind, source, _original_time(at, now) if at else None)


def _original_time(value: str, now: datetime) -> str:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("at must be an ISO 8601 date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # a time without an offset is read as UTC
    if moment > now + FUTURE_SLACK:
        raise ValueError("at is in the future")
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
