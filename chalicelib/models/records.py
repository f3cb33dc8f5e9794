"""Typed records the stores hand to the services (above the store nothing sees DynamoDB keys)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CheckRecords:
    """Everything a send-check verdict reads, by what the check names: live contacts by contact id,
    address items by address key, enrollments by (sequence_id, contact_id)."""

    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    addresses: dict[str, dict[str, Any]] = field(default_factory=dict)
    enrollments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def merge(self, other: CheckRecords) -> None:
        self.contacts.update(other.contacts)
        self.addresses.update(other.addresses)
        self.enrollments.update(other.enrollments)


@dataclass(frozen=True)
class Job:
    """A bulk job (unenrollment R11, suppression import R18, export) as the job store reads it:
    its counters, its state flags and the kind-specific fields imports and exports add."""

    job_id: str
    workspace_id: str
    kind: str
    spec: dict[str, Any]
    created_at: str
    total: int = 0
    processed: int = 0
    failed: int = 0
    unenrolled: int = 0  # unenrollment jobs: enrollments actually rewritten
    planned: bool = False  # every plan step committed: total is final
    started: bool = False
    error: str | None = None
    # suppression imports (R18)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # the first refused lines, listed
    rejected_count: int = 0
    imported: int = 0
    unchanged: int = 0
    # exports
    s3_key: str | None = None  # set once the file is written
    filename: str | None = None
