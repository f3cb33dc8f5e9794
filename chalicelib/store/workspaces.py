"""Workspaces, API keys, settings, sequences, audiences and the per-instance config cache.

Table layout (WorkspacesTable): pk=<ws> with sk=settings | secrets | seq#<id> | aud#<id> | top#<id>;
pk=key#<sha256(api key)> sk=key -> workspace; pk=ses#<identity> sk=ses -> workspace.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.config import Config
from chalicelib.errors import ConcurrentUpdate, Conflict, NotFound
from chalicelib.models.domain import Audience, ExclusionRule, Sequence, Topic, WorkspaceSettings
from chalicelib.store import keys
from chalicelib.store.aws import client
from chalicelib.store.batch import query_items
from chalicelib.store.exclusions import ExclusionStore
from chalicelib.store.items import from_item, to_item, to_value


@dataclass
class WorkspaceConfig:
    """Everything about a workspace that the send-check reads but may be <= 1 s stale (SPEC R10)."""

    workspace_id: str
    settings: WorkspaceSettings
    sequences: dict[str, Sequence] = field(default_factory=dict)
    audiences: dict[str, Audience] = field(default_factory=dict)
    rules: list[ExclusionRule] = field(default_factory=list)
    loaded_at: float = 0.0
    # Every topic ever defined, deleted ones as tombstones (``Topic.deleted``), by topic_id.
    topics: dict[str, Topic] = field(default_factory=dict)


class WorkspaceStore:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.table = config.workspaces_table
        self._ddb = client("dynamodb")

    # --- workspaces and keys -------------------------------------------------
    def create(
        self,
        workspace_id: str,
        api_key: str,
        settings: WorkspaceSettings,
        twilio_auth_token: str | None,
        now: str,
    ) -> None:
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item(
                        {"pk": workspace_id, "sk": "settings", "settings": settings.model_dump(), "created_at": now}
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item(
                        {"pk": keys.api_key_pk(api_key), "sk": "key", "workspace_id": workspace_id, "created_at": now}
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        if twilio_auth_token:
            items.append(self._secrets_put(workspace_id, twilio_auth_token))
        first_identity = len(items)
        items.extend(self._identity_puts(workspace_id, settings.ses_identities))
        try:
            self._ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            # Item 0 is the settings item: only its condition failing means the id is taken.
            taken = self._taken_identities(reasons, first_identity, settings.ses_identities)
            if reasons and reasons[0] != "ConditionalCheckFailed" and taken:
                raise self._identity_conflict(taken, "settings.ses_identities") from None
            raise Conflict(f"workspace {workspace_id} already exists", code="workspace_exists") from None

    def add_api_key(self, workspace_id: str, api_key: str, now: str) -> None:
        self._ddb.put_item(
            TableName=self.table,
            Item=to_item(
                {"pk": keys.api_key_pk(api_key), "sk": "key", "workspace_id": workspace_id, "created_at": now}
            ),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def exists(self, workspace_id: str) -> bool:
        found = self._ddb.get_item(
            TableName=self.table, Key=to_item({"pk": workspace_id, "sk": "settings"}), ProjectionExpression="pk"
        )
        return "Item" in found

    def workspace_for_key(self, api_key: str) -> str | None:
        found = self._ddb.get_item(TableName=self.table, Key=to_item({"pk": keys.api_key_pk(api_key), "sk": "key"}))
        item = from_item(found.get("Item"))
        return item["workspace_id"] if item else None

    def workspace_for_ses_identity(self, identity: str) -> str | None:
        found = self._ddb.get_item(
            TableName=self.table, Key=to_item({"pk": keys.ses_identity_pk(identity), "sk": "ses"})
        )
        item = from_item(found.get("Item"))
        return item["workspace_id"] if item else None

    # --- settings ---------------------------------------------------------------
    def get_settings(self, workspace_id: str) -> WorkspaceSettings:
        found = self._ddb.get_item(
            TableName=self.table, Key=to_item({"pk": workspace_id, "sk": "settings"}), ConsistentRead=True
        )
        item = from_item(found.get("Item"))
        if not item:
            raise NotFound(f"workspace {workspace_id} not found")
        return WorkspaceSettings.model_validate(item.get("settings") or {})

    def save_settings(
        self,
        workspace_id: str,
        settings: WorkspaceSettings,
        previous: WorkspaceSettings,
        twilio_auth_token: str | None,
    ) -> None:
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": to_item({"pk": workspace_id, "sk": "settings"}),
                    "UpdateExpression": "SET settings = :s",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": {":s": to_value(settings.model_dump())},
                }
            }
        ]
        if twilio_auth_token:
            items.append(self._secrets_put(workspace_id, twilio_auth_token))
        added = [i for i in settings.ses_identities if i not in previous.ses_identities]
        removed = [i for i in previous.ses_identities if i not in settings.ses_identities]
        first_identity = len(items)
        items.extend(self._identity_puts(workspace_id, added))
        for identity in removed:
            items.append(
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": to_item({"pk": keys.ses_identity_pk(identity), "sk": "ses"}),
                        "ConditionExpression": "workspace_id = :w",
                        "ExpressionAttributeValues": {":w": to_value(workspace_id)},
                    }
                }
            )
        try:
            self._ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise NotFound(f"workspace {workspace_id} not found") from None
            # The claim items are the atomic part of uniqueness: a concurrent claim of the same
            # identity by another workspace fails its condition here, never a read-then-write race.
            taken = self._taken_identities(reasons, first_identity, added)
            if taken or "ConditionalCheckFailed" in reasons:
                raise self._identity_conflict(taken, "ses_identities") from None
            raise ConcurrentUpdate("settings changed concurrently; retry") from None

    @staticmethod
    def _taken_identities(reasons: list[str | None], first: int, identities: list[str]) -> list[str]:
        return [
            identity
            for n, identity in enumerate(identities)
            if first + n < len(reasons) and reasons[first + n] == "ConditionalCheckFailed"
        ]

    def _identity_conflict(self, identities: list[str], field_name: str) -> Conflict:
        """409 naming each identity and the workspace holding it (only the admin key reaches this)."""
        conflicts = [{"identity": i, "workspace_id": self.workspace_for_ses_identity(i)} for i in identities]
        named = ": " + ", ".join(identities) if identities else ""
        return Conflict(
            "a sending identity is already registered to another workspace",
            code="identity_taken",
            fields={field_name: "already registered to another workspace" + named},
            extra={"conflicts": conflicts},
        )

    def twilio_auth_token(self, workspace_id: str) -> str | None:
        found = self._ddb.get_item(
            TableName=self.table, Key=to_item({"pk": workspace_id, "sk": "secrets"}), ConsistentRead=True
        )
        item = from_item(found.get("Item"))
        return item.get("twilio_auth_token") if item else None

    # --- sequences and audiences ----------------------------------------------------
    def put_sequence(self, workspace_id: str, sequence: Sequence) -> None:
        self._ddb.put_item(
            TableName=self.table,
            Item=to_item({"pk": workspace_id, "sk": "seq#" + sequence.sequence_id, "sequence": sequence.model_dump()}),
        )

    def put_audience(self, workspace_id: str, audience: Audience) -> None:
        self._ddb.put_item(
            TableName=self.table,
            Item=to_item({"pk": workspace_id, "sk": "aud#" + audience.audience_id, "audience": audience.model_dump()}),
        )

    def get_sequence(self, workspace_id: str, sequence_id: str) -> Sequence | None:
        found = self._ddb.get_item(
            TableName=self.table, Key=to_item({"pk": workspace_id, "sk": "seq#" + sequence_id}), ConsistentRead=True
        )
        item = from_item(found.get("Item"))
        return Sequence.model_validate(item["sequence"]) if item else None

    # --- topics (R16) ----------------------------------------------------------------------
    def put_topic(self, workspace_id: str, topic: Topic) -> None:
        self._ddb.put_item(
            TableName=self.table,
            Item=to_item({"pk": workspace_id, "sk": "top#" + topic.topic_id, "topic": topic.model_dump()}),
        )

    def list_topics(self, workspace_id: str) -> list[Topic]:
        """Every topic of the workspace, tombstones included, by topic_id (consistent read)."""
        items = query_items(
            self._ddb,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :top)",
            ExpressionAttributeValues={":pk": to_value(workspace_id), ":top": to_value("top#")},
            ConsistentRead=True,
        )
        return [Topic.model_validate(item["topic"]) for item in items]

    def get_topic(self, workspace_id: str, topic_id: str) -> Topic | None:
        found = self._ddb.get_item(
            TableName=self.table, Key=to_item({"pk": workspace_id, "sk": "top#" + topic_id}), ConsistentRead=True
        )
        item = from_item(found.get("Item"))
        return Topic.model_validate(item["topic"]) if item else None

    # --- whole-workspace load for the cache -----------------------------------------
    def load_config(self, workspace_id: str) -> WorkspaceConfig:
        settings = WorkspaceSettings()
        sequences: dict[str, Sequence] = {}
        audiences: dict[str, Audience] = {}
        topics: dict[str, Topic] = {}
        for item in self._query_all(self.table, workspace_id):
            sk = item["sk"]
            if sk == "settings":
                settings = WorkspaceSettings.model_validate(item.get("settings") or {})
            elif sk.startswith("seq#"):
                sequence = Sequence.model_validate(item["sequence"])
                sequences[sequence.sequence_id] = sequence
            elif sk.startswith("aud#"):
                audience = Audience.model_validate(item["audience"])
                audiences[audience.audience_id] = audience
            elif sk.startswith("top#"):
                topic = Topic.model_validate(item["topic"])
                topics[topic.topic_id] = topic
        # Rules with large value lists are stored in chunks, kept in memory by version (store/exclusions.py).
        rules = ExclusionStore(self.config).load_rules(workspace_id)
        return WorkspaceConfig(workspace_id, settings, sequences, audiences, rules, time.monotonic(), topics)

    def _query_all(self, table: str, workspace_id: str) -> list[dict[str, Any]]:
        return list(
            query_items(
                self._ddb,
                TableName=table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": to_value(workspace_id)},
                ConsistentRead=True,
            )
        )

    def _secrets_put(self, workspace_id: str, twilio_auth_token: str) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self.table,
                "Item": to_item({"pk": workspace_id, "sk": "secrets", "twilio_auth_token": twilio_auth_token}),
            }
        }

    def _identity_puts(self, workspace_id: str, identities: list[str]) -> list[dict[str, Any]]:
        return [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item({"pk": keys.ses_identity_pk(i), "sk": "ses", "workspace_id": workspace_id}),
                    "ConditionExpression": "attribute_not_exists(pk) OR workspace_id = :w",
                    "ExpressionAttributeValues": {":w": to_value(workspace_id)},
                }
            }
            for i in identities
        ]


class ConfigCache:
    """Per-instance copy of each workspace's config, at most ``max_age`` seconds old.

    Keeps workspace-wide items off the per-check path (SPEC scale note): one
    refresh per workspace per second per instance, whatever the check rate.
    Writes made through this instance invalidate its copy at once.
    """

    def __init__(self, store: WorkspaceStore, max_age: float) -> None:
        self._store = store
        self._max_age = max_age
        self._entries: dict[str, WorkspaceConfig] = {}
        self._lock = threading.Lock()

    def get(self, workspace_id: str) -> WorkspaceConfig:
        cached = self._entries.get(workspace_id)
        if cached is not None and time.monotonic() - cached.loaded_at < self._max_age:
            return cached
        fresh = self._store.load_config(workspace_id)
        with self._lock:
            self._entries[workspace_id] = fresh
        return fresh

    def invalidate(self, workspace_id: str) -> None:
        with self._lock:
            self._entries.pop(workspace_id, None)


class ApiKeyCache:
    """Key -> workspace lookups. Keys are immutable once issued, so a positive answer is
    kept for ``ttl`` seconds; unknown keys are always looked up again."""

    def __init__(self, store: WorkspaceStore, ttl: float = 60.0) -> None:
        self._store = store
        self._ttl = ttl
        self._entries: dict[str, tuple[str, float]] = {}

    def workspace_for(self, api_key: str) -> str | None:
        hit = self._entries.get(api_key)
        now = time.monotonic()
        if hit is not None and now - hit[1] < self._ttl:
            return hit[0]
        workspace_id = self._store.workspace_for_key(api_key)
        if workspace_id is not None:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[api_key] = (workspace_id, now)
        return workspace_id
