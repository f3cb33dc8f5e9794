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
