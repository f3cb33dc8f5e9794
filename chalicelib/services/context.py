"""One container of stores and caches per process, built lazily on first use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from chalicelib.config import Config, get_config
from chalicelib.store.audit import AuditStore
from chalicelib.store.bounces import BounceStore
from chalicelib.store.contacts import ContactStore
from chalicelib.store.dnd import DndStore
from chalicelib.store.events import EventPublisher
from chalicelib.store.webhook_tokens import WebhookTokenStore
from chalicelib.store.workspaces import ApiKeyCache, ConfigCache, WorkspaceStore


@dataclass
class Services:
    config: Config
    workspaces: WorkspaceStore
    contacts: ContactStore
    dnd: DndStore
    audit: AuditStore
    events: EventPublisher
    config_cache: ConfigCache
    api_keys: ApiKeyCache
    bounces: BounceStore
    webhook_tokens: WebhookTokenStore


@lru_cache(maxsize=1)
def get_services() -> Services:
    config = get_config()
    workspaces = WorkspaceStore(config)
    return Services(
        config=config,
        workspaces=workspaces,
        contacts=ContactStore(config),
        dnd=DndStore(config),
        audit=AuditStore(config),
        events=EventPublisher(config),
        config_cache=ConfigCache(workspaces, config.config_cache_seconds),
        api_keys=ApiKeyCache(workspaces, ttl=min(1.0, config.config_cache_seconds)),
        bounces=BounceStore(config),
        webhook_tokens=WebhookTokenStore(config),
    )


def reset_services() -> None:
    get_services.cache_clear()


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
