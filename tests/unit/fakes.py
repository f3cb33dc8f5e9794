"""In-memory fakes of the ports (chalicelib/ports.py), for unit tests of services without AWS.

Each fake keeps plain items in dicts and honours the contract the services rely on (consistent
reads, conditional writes, exactly-once markers), not DynamoDB's wire format. ``fake_services()``
wires them into a ``Services`` with a fixed clock; a port a test does not wire raises on use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from chalicelib.config import Config
from chalicelib.errors import ConcurrentUpdate, NotFound
from chalicelib.models.domain import WorkspaceSettings
from chalicelib.models.records import CheckRecords, Contact, Enrollment, Job, OutboxItem
from chalicelib.services.context import AfterChangeHook, Services
from chalicelib.store import keys
from chalicelib.store.contacts import contact_from_item
from chalicelib.store.dnd import AuditRecord, DuplicateEvent, Subject
from chalicelib.store.enrollments import ACTIVE, UNENROLLED, enrollment_from_item
from chalicelib.store.jobs import job_from_item, new_job
from chalicelib.store.outbox import outbox_from_item, outbox_pk, shard_of
from chalicelib.store.workspaces import WorkspaceConfig

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday afternoon


class NotWired:
    """A port the test did not wire: any use is a test bug, said plainly."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        raise AssertionError(f"services.{self._name}.{attribute} used, but this unit test wired no fake for it")


class Transaction:
    """What a fake's ``put_action`` returns: applied by FakeDnd.commit with the change, or not at all."""

    def __init__(self, apply: Callable[[], None]) -> None:
        self.apply = apply


class FakeContacts:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def add(self, workspace_id: str, contact_id: str, **fields: Any) -> dict[str, Any]:
        item = {"ws": workspace_id, "contact_id": contact_id, "version": 1, **fields}
        self.items[(workspace_id, contact_id)] = item
        return item

    def key(self, workspace_id: str, contact_id: str) -> dict[str, Any]:
        return {"pk": keys.contact_pk(workspace_id, contact_id)}

    def get(self, workspace_id: str, contact_id: str) -> Contact | None:
        contact = self.get_raw(workspace_id, contact_id)
        return None if contact is None or contact.deleted else contact

    def get_raw(self, workspace_id: str, contact_id: str) -> Contact | None:
        item = self.items.get((workspace_id, contact_id))
        return contact_from_item(dict(item)) if item is not None else None

    def get_many(self, workspace_id: str, contact_ids: list[str]) -> dict[str, Contact]:
        return {cid: contact for cid in contact_ids if (contact := self.get(workspace_id, cid)) is not None}

    def put(self, workspace_id: str, contact_id: str, fields: dict[str, Any], now: str) -> Contact:
        current = self.items.get((workspace_id, contact_id), {})
        item = {
            **{k: current[k] for k in ("dnd", "version", "created_at") if k in current},
            "ws": workspace_id,
            "contact_id": contact_id,
            "updated_at": now,
            **{k: v for k, v in fields.items() if v not in (None, {}, "")},
        }
        item.setdefault("created_at", now)
        item["version"] = int(item.get("version", 0)) + 1
        self.items[(workspace_id, contact_id)] = item
        return contact_from_item(dict(item))

    def erase(self, workspace_id: str, contact_id: str, now: str) -> None:
        current = self.items.get((workspace_id, contact_id))
        if current is None or current.get("deleted"):
            raise NotFound(f"contact {contact_id} not found", fields={"contact_id": "not found"})
        keep = {k: current[k] for k in ("ws", "contact_id", "dnd", "version") if k in current}
        self.items[(workspace_id, contact_id)] = {**keep, "deleted": True, "updated_at": now}

    def contact_ids_with_address(self, address_pk: str, kind: str) -> list[str]:
        attribute = "email_key" if kind == "email" else "phone_key"
        return [item["contact_id"] for item in self.items.values() if item.get(attribute) == address_pk]

    def contact_ids_with_addresses(self, workspace_id: str, addresses: dict[str, str]) -> dict[str, list[str]]:
        return {pk: self.contact_ids_with_address(pk, kind) for pk, kind in addresses.items()}

    def contact_ids_with_crm_id(self, workspace_id: str, crm_id: str) -> list[str]:
        return [
            cid
            for (ws, cid), item in self.items.items()
            if ws == workspace_id and str((item.get("attributes") or {}).get("crm_id")) == crm_id
        ]


class FakeDnd:
    """Address items, exactly-once markers and the audit trail; ``commit`` is all-or-nothing."""

    def __init__(self, config: Config, contacts: FakeContacts) -> None:
        self.config = config
        self.contacts = contacts
        self.addresses: dict[str, dict[str, Any]] = {}
        self.markers: set[str] = set()
        self.audit: list[AuditRecord] = []
        self.commits = 0

    def get_address_items(self, pks: list[str]) -> dict[str, dict[str, Any]]:
        return {pk: dict(self.addresses[pk]) for pk in pks if pk in self.addresses}

    def get_address_item(self, pk: str) -> dict[str, Any] | None:
        item = self.addresses.get(pk)
        return dict(item) if item is not None else None

    def is_processed(self, marker_id: str) -> bool:
        return marker_id in self.markers

    def processed_markers(self, marker_ids: list[str]) -> set[str]:
        return {m for m in marker_ids if m in self.markers}

    def mark_processed(self, marker_id: str) -> bool:
        if marker_id in self.markers:
            return False
        self.markers.add(marker_id)
        return True

    def _stored(self, subject: Subject) -> dict[str, Any] | None:
        if subject.table == self.config.contacts_table:
            return self.contacts.items.get((subject.workspace_id, subject.extra["contact_id"]))
        return self.addresses.get(subject.pk)

    def commit(self, subjects, audit, *, marker_id=None, extra_updates=None) -> None:
        if marker_id is not None and marker_id in self.markers:
            raise DuplicateEvent(marker_id)
        for subject in subjects:
            if int((self._stored(subject) or {}).get("version", 0)) != subject.version:
                raise ConcurrentUpdate("the record changed while being updated; retry")
        for subject in subjects:
            dumped = subject.state.model_dump(mode="json")
            stored = self._stored(subject)
            if stored is not None:
                stored.update(dnd=dumped, version=subject.version + 1)
            else:
                self.addresses[subject.pk] = {"pk": subject.pk, "dnd": dumped, "version": 1, "ws": subject.workspace_id}
        self.audit.extend(audit)
        for update in extra_updates or []:
            assert isinstance(update, Transaction), f"a raw transaction entry reached the fake: {update}"
            update.apply()
        if marker_id is not None:
            self.markers.add(marker_id)
        self.commits += 1

    def change_actions(self, subjects, audit, markers=None) -> list[Any]:
        def apply() -> None:
            self.commit(subjects, audit)
            self.markers.update(markers or [])

        return [Transaction(apply)]

    def transact(self, items: list[Any]) -> list[str | None] | None:
        for item in items:
            item.apply()
        return None


class FakeOutbox:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.given_up: dict[str, str] = {}

    def item(self, workspace_id: str, outbox_id: str, due: int, payload: dict[str, Any]) -> dict[str, Any]:
        pk = outbox_pk(workspace_id, outbox_id)
        return {
            **payload,
            "pk": pk,
            "outbox_id": outbox_id,
            "ws": workspace_id,
            "outbox_shard": shard_of(outbox_id),
            "due": due,
            "attempts": 0,
        }

    def put_action(self, item: dict[str, Any]) -> Any:
        return Transaction(lambda: self.items.__setitem__(item["pk"], dict(item)))

    def delete(self, pk: str) -> None:
        self.items.pop(pk, None)

    def delete_many(self, pks: list[str]) -> None:
        for pk in pks:
            self.delete(pk)

    def get(self, pk: str) -> dict[str, Any] | None:
        return self.items.get(pk)

    def due_in_shard(self, shard: str, now: int, limit: int) -> Iterator[OutboxItem]:
        due = [i for i in self.items.values() if i.get("outbox_shard") == shard and i["due"] <= now]
        yield from (outbox_from_item(dict(i)) for i in sorted(due, key=lambda i: i["due"])[:limit])

    def claim(self, pk: str, attempts: int, next_due: int) -> OutboxItem | None:
        item = self.items.get(pk)
        if item is None or "outbox_shard" not in item or item["attempts"] != attempts:
            return None
        item.update(attempts=attempts + 1, due=next_due)
        return outbox_from_item(dict(item))

    def give_up(self, pk: str, at: str) -> None:
        item = self.items[pk]
        item.pop("outbox_shard", None)
        item["gave_up_at"] = at


class FakeEvents:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, events: list[dict[str, Any]]) -> None:
        self.published.extend(events)

    @staticmethod
    def new_event_id() -> str:
        return "evt-1"


class FakeQueue:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, bodies: list[dict[str, Any]]) -> None:
        self.sent.extend(bodies)

    def delete(self, receipt_handles: list[str]) -> None:
        pass

    def max_receive_count(self) -> int:
        return 3

    def take(self) -> list[dict[str, Any]]:
        sent, self.sent = self.sent, []
        return sent


class FakeJobs:
    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self.markers: dict[tuple[str, str, str], dict[str, Any]] = {}

    def create(self, workspace_id, job_id, kind, spec, at, fields=None) -> None:
        assert (workspace_id, job_id) not in self.jobs
        self.jobs[(workspace_id, job_id)] = {**new_job(workspace_id, job_id, kind, spec, at), **(fields or {})}

    def get(self, workspace_id: str, job_id: str) -> Job | None:
        job = self.jobs.get((workspace_id, job_id))
        return job_from_item(dict(job)) if job is not None else None

    def set_error(self, workspace_id: str, job_id: str, error: str) -> None:
        self.jobs[(workspace_id, job_id)]["error"] = error

    def set_fields(self, workspace_id: str, job_id: str, fields: dict[str, Any]) -> None:
        self.jobs[(workspace_id, job_id)].update(fields)

    def get_marker(self, workspace_id: str, job_id: str, step: str) -> dict[str, Any] | None:
        return self.markers.get((workspace_id, job_id, step))

    def commit_step(self, workspace_id, job_id, step, *, record=None, add=None, set_fields=None) -> bool:
        if (workspace_id, job_id, step) in self.markers:
            return False
        self.markers[(workspace_id, job_id, step)] = dict(record or {})
        job = self.jobs[(workspace_id, job_id)]
        for name, amount in (add or {}).items():
            job[name] = int(job.get(name, 0)) + amount
        job.update(set_fields or {})
        return True


class FakeEnrollments:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], dict[str, Any]] = {}

    def add(self, workspace_id: str, sequence_id: str, contact_id: str, status: str = ACTIVE) -> None:
        self.items[(workspace_id, sequence_id, contact_id)] = {
            "ws": workspace_id,
            "sequence_id": sequence_id,
            "contact_id": contact_id,
            "status": status,
            "version": 1,
        }

    def key(self, workspace_id: str, sequence_id: str, contact_id: str) -> dict[str, Any]:
        return {"pk": keys.enrollment_pk(workspace_id, sequence_id), "sk": contact_id}

    def get(self, workspace_id: str, sequence_id: str, contact_id: str) -> Enrollment | None:
        item = self.items.get((workspace_id, sequence_id, contact_id))
        return enrollment_from_item(dict(item)) if item is not None else None

    def get_many(self, pairs: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], Enrollment]:
        return {
            (seq, cid): enrollment_from_item(dict(self.items[(ws, seq, cid)]))
            for ws, seq, cid in pairs
            if (ws, seq, cid) in self.items
        }

    def enroll(
        self, workspace_id, sequence_id, contact_id, *, previous, audience_id, mode, company_domain, at
    ) -> Enrollment:
        self.add(workspace_id, sequence_id, contact_id)
        item = self.items[(workspace_id, sequence_id, contact_id)]
        item.update(audience_id=audience_id, mode=mode, company_domain=company_domain, enrolled_at=at)
        return enrollment_from_item(dict(item))

    def unenroll_one(self, enrollment: Enrollment, at: str, reason: str) -> bool:
        return self._unenroll(enrollment.workspace_id, enrollment.sequence_id, enrollment.contact_id, at, reason)

    def _unenroll(self, workspace_id: str, sequence_id: str, contact_id: str, at: str, reason: str) -> bool:
        stored = self.items.get((workspace_id, sequence_id, contact_id))
        if stored is None or stored["status"] != ACTIVE:
            return False
        stored.update(status=UNENROLLED, unenrolled_at=at, unenroll_reason=reason)
        return True

    def unenroll_batch(self, workspace_id: str, pairs: list[tuple[str, str]], at: str, reason: str) -> int:
        return sum(self._unenroll(workspace_id, seq, cid, at, reason) for seq, cid in dict.fromkeys(pairs))

    def page(
        self, workspace_id, sequence_id, status, *, limit, start_key=None, attributes=None
    ) -> tuple[list[Enrollment], dict[str, Any] | None]:
        matching = sorted(
            (item for (ws, seq, _), item in self.items.items() if ws == workspace_id and seq == sequence_id),
            key=lambda item: item["contact_id"],
        )
        matching = [item for item in matching if status is None or item["status"] == status]
        offset = int((start_key or {}).get("offset", 0))
        page = matching[offset : offset + limit]
        more = offset + limit < len(matching)
        return [enrollment_from_item(dict(item)) for item in page], ({"offset": offset + limit} if more else None)

    def active_for_contact(self, workspace_id: str, contact_id: str) -> list[Enrollment]:
        return [
            enrollment_from_item(dict(item))
            for (ws, _, cid), item in self.items.items()
            if ws == workspace_id and cid == contact_id and item["status"] == ACTIVE
        ]

    def active_for_company(self, workspace_id: str, sequence_id: str, company_domain: str) -> list[Enrollment]:
        return [
            enrollment_from_item(dict(item))
            for (ws, seq, _), item in self.items.items()
            if (ws, seq) == (workspace_id, sequence_id)
            and item.get("company_domain") == company_domain
            and item["status"] == ACTIVE
        ]

    def count_active_for_company(self, workspace_id: str, sequence_id: str, company_domain: str) -> int:
        return len(self.active_for_company(workspace_id, sequence_id, company_domain))


class FakeConfigCache:
    """One workspace config per workspace, as the ConfigCache hands it out."""

    def __init__(self) -> None:
        self.configs: dict[str, WorkspaceConfig] = {}

    def set(self, workspace_id: str, settings: WorkspaceSettings | None = None, **parts: Any) -> WorkspaceConfig:
        config = WorkspaceConfig(workspace_id, settings or WorkspaceSettings(), **parts)
        self.configs[workspace_id] = config
        return config

    def get(self, workspace_id: str) -> WorkspaceConfig:
        if workspace_id not in self.configs:
            raise NotFound("workspace not found", fields={"workspace_id": "no such workspace"})
        return self.configs[workspace_id]

    def invalidate(self, workspace_id: str) -> None:
        pass


class FakeCheckRecords:
    """The send-check's reads, answered from FakeContacts, FakeDnd and FakeEnrollments; counts its rounds."""

    def __init__(self, contacts: FakeContacts, dnd: FakeDnd, enrollments: FakeEnrollments) -> None:
        self.contacts, self.dnd, self.enrollments = contacts, dnd, enrollments
        self.rounds = 0

    def load_check_records(self, workspace_id, *, contact_ids=(), address_pks=(), enrollments=()) -> CheckRecords:
        self.rounds += 1
        return CheckRecords(
            contacts=self.contacts.get_many(workspace_id, list(contact_ids)),
            addresses=self.dnd.get_address_items(list(address_pks)),
            enrollments=self.enrollments.get_many((workspace_id, seq, cid) for seq, cid in enrollments),
        )


class FakeSesSuppressionList:
    """The SES suppression list: what was put and deleted, in order; ``fail`` makes calls raise."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.listed: dict[tuple[str | None, str], str] = {}  # (tenant, address) -> reason
        self.fail = False

    def put(self, email: str, reason: str, tenant: str | None) -> None:
        if self.fail:
            raise RuntimeError("SES unavailable")
        self.calls.append(("put", email, reason, tenant or ""))
        self.listed[(tenant, email)] = reason

    def delete(self, email: str, tenant: str | None) -> bool:
        if self.fail:
            raise RuntimeError("SES unavailable")
        self.calls.append(("delete", email, tenant or ""))
        return self.listed.pop((tenant, email), None) is not None


def fake_services(
    *,
    follow_ups: tuple[AfterChangeHook, ...] = (),
    now: datetime = NOW,
    config: Config | None = None,
    ses_suppression: FakeSesSuppressionList | None = None,
) -> Services:
    """A ``Services`` on in-memory fakes, its clock stopped at ``now``."""
    config = config or Config()
    contacts = FakeContacts()
    dnd = FakeDnd(config, contacts)
    enrollments = FakeEnrollments()
    return Services(
        config=config,
        workspaces=NotWired("workspaces"),  # type: ignore[arg-type]
        contacts=contacts,
        dnd=dnd,
        audit=NotWired("audit"),  # type: ignore[arg-type]
        events=FakeEvents(),
        config_cache=FakeConfigCache(),
        api_keys=NotWired("api_keys"),  # type: ignore[arg-type]
        bounces=NotWired("bounces"),  # type: ignore[arg-type]
        webhook_tokens=NotWired("webhook_tokens"),  # type: ignore[arg-type]
        enrollments=enrollments,
        exclusions=NotWired("exclusions"),  # type: ignore[arg-type]
        flags=NotWired("flags"),  # type: ignore[arg-type]
        jobs=FakeJobs(),
        outbox=FakeOutbox(),
        suppressions=NotWired("suppressions"),  # type: ignore[arg-type]
        exports=NotWired("exports"),  # type: ignore[arg-type]
        unenroll_queue=FakeQueue(),
        crm_queue=FakeQueue(),
        suppression_jobs_queue=FakeQueue(),
        check_records=FakeCheckRecords(contacts, dnd, enrollments),
        follow_ups=follow_ups,
        ses_suppression=ses_suppression,
        clock=lambda: now,
    )
