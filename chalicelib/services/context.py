"""The composition root: ``get_services()`` builds, once per process and on first use, every store,
queue and cache the services use, the clock, and the ordered DND follow-ups. Nothing registers
itself on import; a capability that reacts to DND changes is listed in ``_follow_ups`` below.

Each field is typed by its port (chalicelib/ports.py): services call only what is on ``Services``,
so a unit test builds one from in-memory fakes (tests/unit/fakes.py), and an integration test sets
``services.clock``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the concrete stores are imported by get_services(), on first use (cold start)
    from chalicelib.config import Config
    from chalicelib.ports import (
        ApiKeyCachePort,
        AuditStorePort,
        BounceStorePort,
        CheckRecordStorePort,
        ConfigCachePort,
        ContactStorePort,
        DndStorePort,
        EnrollmentStorePort,
        EventPublisherPort,
        ExclusionStorePort,
        ExportFilesPort,
        FlagStorePort,
        JobStorePort,
        OutboxStorePort,
        SesSuppressionListPort,
        SuppressionIndexPort,
        WebhookTokenStorePort,
        WorkQueuePort,
        WorkspaceStorePort,
    )
    from chalicelib.services.dnd import DndResult


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# Run after every committed DND change (CRM write-back, unenroll on do-not-contact, and the SES
# suppression list when OPTOUT_SES_SUPPRESSION is on), in order.
AfterChangeHook = Callable[["Services", str, "DndResult"], None]


@dataclass
class Services:
    config: Config
    workspaces: WorkspaceStorePort
    contacts: ContactStorePort
    dnd: DndStorePort
    audit: AuditStorePort
    events: EventPublisherPort
    config_cache: ConfigCachePort
    api_keys: ApiKeyCachePort
    bounces: BounceStorePort
    webhook_tokens: WebhookTokenStorePort
    enrollments: EnrollmentStorePort
    exclusions: ExclusionStorePort
    flags: FlagStorePort
    jobs: JobStorePort
    outbox: OutboxStorePort
    suppressions: SuppressionIndexPort
    exports: ExportFilesPort
    unenroll_queue: WorkQueuePort
    crm_queue: WorkQueuePort
    suppression_jobs_queue: WorkQueuePort
    check_records: CheckRecordStorePort  # the send-check's reads (at most two rounds)
    # DND follow-ups, run in this order after each committed change (chalicelib/services/dnd.py).
    follow_ups: tuple[AfterChangeHook, ...] = ()
    # The SES suppression list: only with OPTOUT_SES_SUPPRESSION on (its follow-up is listed then too).
    ses_suppression: SesSuppressionListPort | None = None
    # The one clock of every service; tests set it (``monkeypatch.setattr(services, "clock", ...)``).
    clock: Callable[[], datetime] = field(default=utcnow)


def _follow_ups(config: Config) -> tuple[AfterChangeHook, ...]:
    from chalicelib.services.crm import enqueue_crm_writeback
    from chalicelib.services.enrollments import unenroll_on_do_not_contact

    hooks: tuple[AfterChangeHook, ...] = (enqueue_crm_writeback, unenroll_on_do_not_contact)
    if config.ses_suppression != "off":  # OPTOUT_SES_SUPPRESSION=account|tenant (issue 16 point 5)
        from chalicelib.services.ses_suppression import push_ses_suppression

        hooks += (push_ses_suppression,)
    return hooks


def _ses_suppression_list(config: Config) -> SesSuppressionListPort | None:
    if config.ses_suppression == "off":
        return None
    from chalicelib.store.ses_suppression import SesSuppressionList

    return SesSuppressionList()


@lru_cache(maxsize=1)
def get_services() -> Services:
    from chalicelib.config import get_config
    from chalicelib.store.audit import AuditStore
    from chalicelib.store.bounces import BounceStore
    from chalicelib.store.check_records import CheckRecordStore
    from chalicelib.store.contacts import ContactStore
    from chalicelib.store.dnd import DndStore
    from chalicelib.store.enrollments import EnrollmentStore
    from chalicelib.store.events import EventPublisher
    from chalicelib.store.exclusions import ExclusionStore
    from chalicelib.store.exports import ExportFiles
    from chalicelib.store.flags import FlagStore
    from chalicelib.store.jobs import JobStore
    from chalicelib.store.outbox import OutboxStore
    from chalicelib.store.queues import CrmQueue, SuppressionJobsQueue, UnenrollQueue
    from chalicelib.store.suppressions import SuppressionIndex
    from chalicelib.store.webhook_tokens import WebhookTokenStore
    from chalicelib.store.workspaces import ApiKeyCache, ConfigCache, WorkspaceStore

    config = get_config()
    exclusions = ExclusionStore(config)
    workspaces = WorkspaceStore(config, exclusions)
    contacts = ContactStore(config)
    return Services(
        config=config,
        workspaces=workspaces,
        contacts=contacts,
        dnd=DndStore(config),
        audit=AuditStore(config),
        events=EventPublisher(config),
        bounces=BounceStore(config),
        config_cache=ConfigCache(workspaces, config.config_cache_seconds),
        webhook_tokens=WebhookTokenStore(config),
        enrollments=EnrollmentStore(config),
        exclusions=exclusions,
        flags=FlagStore(config),
        jobs=JobStore(config),
        api_keys=ApiKeyCache(workspaces, ttl=min(1.0, config.config_cache_seconds)),
        outbox=OutboxStore(config),
        suppressions=SuppressionIndex(config),
        exports=ExportFiles(config),
        follow_ups=_follow_ups(config),
        ses_suppression=_ses_suppression_list(config),
        unenroll_queue=UnenrollQueue(config),
        crm_queue=CrmQueue(config),
        suppression_jobs_queue=SuppressionJobsQueue(config),
        check_records=CheckRecordStore(config, contacts),
    )


def reset_services() -> None:
    get_services.cache_clear()
