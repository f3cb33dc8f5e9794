"""Typed records the stores hand to the services (above the store nothing sees DynamoDB keys)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from chalicelib.models.domain import Mode


@dataclass(frozen=True, slots=True)
class Contact:
    """A contact as the contact store reads it (R1-R3): its normalized addresses and attributes,
    its contact-level DND as stored (``DndState.model_validate(contact.dnd)`` reads it) and the
    keyed-hash address keys (``email_key``/``phone_key``) that name its address items. An erased
    contact is a tombstone (``deleted``): id, DND and version only. Attributes this record does not
    name are kept in ``extra``."""

    contact_id: str
    workspace_id: str
    email: str | None = None
    phone: str | None = None
    company_domain: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    dnd: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    email_key: str | None = None
    phone_key: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    deleted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def address(self, kind: str) -> tuple[str | None, str | None]:
        """(address key, normalized address) of the contact's ``email`` or ``phone``."""
        return (self.email_key, self.email) if kind == "email" else (self.phone_key, self.phone)


@dataclass(frozen=True, slots=True)
class Enrollment:
    """An enrollment (R11) as the enrollment store reads it: a contact in a sequence, its status
    (``active``/``unenrolled``), how and from which audience it was enrolled, when it started and
    ended (``unenrolled_at`` starts the re-enrollment cooldown), and the version its optimistic
    writes check. Read from a page that asked for some attributes only, the others are None.
    Attributes this record does not name are kept in ``extra``."""

    workspace_id: str
    sequence_id: str
    contact_id: str
    status: Literal["active", "unenrolled"] | None = None
    mode: Mode | None = None
    audience_id: str | None = None
    company_domain: str | None = None
    version: int = 0
    enrolled_at: str | None = None
    unenrolled_at: str | None = None
    unenroll_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class CheckRecords:
    """Everything a send-check verdict reads, by what the check names: live contacts by contact id,
    address items by address key, enrollments by (sequence_id, contact_id)."""

    contacts: dict[str, Contact] = field(default_factory=dict)
    addresses: dict[str, dict[str, Any]] = field(default_factory=dict)
    enrollments: dict[tuple[str, str], Enrollment] = field(default_factory=dict)

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


@dataclass(frozen=True)
class OutboxItem:
    """A pending DND follow-up as the outbox store reads it: what the sweeper schedules by (key,
    attempts, due) and, in ``fields``, the stored item its follow-ups re-run from (services/dnd.py).
    Read from the pending index, ``fields`` holds only the index's projection."""

    pk: str
    outbox_id: str
    workspace_id: str
    attempts: int
    due: int | None
    fields: dict[str, Any]
