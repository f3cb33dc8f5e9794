"""Topics of a workspace (R16): PUT / GET / DELETE /v1/topics.

A topic is workspace configuration, like sequences: stored on the workspaces table, read by the
send-check from the per-instance config cache (<= 1 s stale; writes through this instance
invalidate it at once). DELETE keeps a tombstone: the unsubscribes recorded for the topic stay on
the contacts and addresses and still block checks naming it; PUT revives it.
"""

from __future__ import annotations

from typing import Any

from chalicelib.errors import Conflict, InvalidInput, NotFound
from chalicelib.models.domain import Topic
from chalicelib.models.requests import TopicBody, parse, require_id
from chalicelib.services.context import Services, iso

MAX_TOPICS = 200


def topic_view(topic: Topic) -> dict[str, Any]:
    return topic.model_dump(exclude={"deleted"})


def put_topic(services: Services, workspace_id: str, topic_id: str, body: dict[str, Any]) -> dict[str, Any]:
    require_id(topic_id, "topic_id")
    parsed = parse(TopicBody, body)
    existing = {t.topic_id: t for t in services.workspaces.list_topics(workspace_id)}
    live = [t for t in existing.values() if not t.deleted and t.topic_id != topic_id]
    if topic_id not in existing and len(existing) >= MAX_TOPICS:
        raise InvalidInput("too many topics", fields={"topic_id": f"at most {MAX_TOPICS} topics per workspace"})
    group = parsed.sendgrid_asm_group_id
    if group is not None:
        other = next((t for t in live if t.sendgrid_asm_group_id == group), None)
        if other is not None:
            raise Conflict(
                "another topic maps this SendGrid unsubscribe group",
                code="sendgrid_group_taken",
                fields={"sendgrid_asm_group_id": f"already used by topic {other.topic_id}"},
            )
    now = iso(services.clock())
    previous = existing.get(topic_id)
    created_at = previous.created_at if previous is not None and not previous.deleted else now
    topic = Topic(topic_id=topic_id, **parsed.model_dump(), created_at=created_at, updated_at=now)
    services.workspaces.put_topic(workspace_id, topic)
    services.config_cache.invalidate(workspace_id)
    return topic_view(topic)


def list_topics(services: Services, workspace_id: str) -> dict[str, Any]:
    topics = services.workspaces.list_topics(workspace_id)
    return {"topics": [topic_view(t) for t in sorted(topics, key=lambda t: t.topic_id) if not t.deleted]}


def get_topic(services: Services, workspace_id: str, topic_id: str) -> dict[str, Any]:
    require_id(topic_id, "topic_id")
    topic = services.workspaces.get_topic(workspace_id, topic_id)
    if topic is None or topic.deleted:
        raise NotFound("topic not found", fields={"topic_id": "no such topic"})
    return topic_view(topic)


def delete_topic(services: Services, workspace_id: str, topic_id: str) -> None:
    """Tombstone the topic; the unsubscribes recorded for it are kept (and keep blocking)."""
    require_id(topic_id, "topic_id")
    topic = services.workspaces.get_topic(workspace_id, topic_id)
    if topic is None or topic.deleted:
        raise NotFound("topic not found", fields={"topic_id": "no such topic"})
    services.workspaces.put_topic(
        workspace_id,
        topic.model_copy(update={"deleted": True, "sendgrid_asm_group_id": None, "updated_at": iso(services.clock())}),
    )
    services.config_cache.invalidate(workspace_id)


def topic_for_sendgrid_group(services: Services, workspace_id: str, group_id: int) -> Topic | None:
    """The live topic mapping SendGrid unsubscribe group ``group_id`` (``asm_group_id`` of a
    ``group_unsubscribe`` event), from the config cache; None when no topic maps it."""
    topics = services.config_cache.get(workspace_id).topics.values()
    return next((t for t in topics if not t.deleted and t.sendgrid_asm_group_id == group_id), None)
