"""Workspaces, API keys, settings, sequences, audiences and the per-instance config cache.

Table layout (WorkspacesTable): pk=<ws> with sk=settings | secrets | seq#<id> | aud#<id> | top#<id>;
pk=key#<sha256(api key)> sk=key -> workspace; pk=ses#<identity> sk=ses -> workspace.
API keys (R18): the key item (pk=key#<sha256>) is what authentication reads; each key also has a
listing item pk=<ws> sk=apikey#<key_id> (prefix, created_at, last_used_at, the key's hash), and the
settings item counts the workspace's keys (``key_count``) so that revoking the last one is refused
atomically.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from chalicelib.config import Config
from chalicelib.errors import ConcurrentUpdate, Conflict, NotFound
from chalicelib.models.domain import Audience, ExclusionRule, Sequence, Topic, WorkspaceSettings
from chalicelib.observability import SERVICE
from chalicelib.store import keys
from chalicelib.store.aws import client
from chalicelib.store.batch import query_items, query_prefix, transact_write
from chalicelib.store.exclusions import ExclusionStore
from chalicelib.store.items import from_item, to_item, to_value

if TYPE_CHECKING:
    from chalicelib.logic.exclusions import CompiledRule

logger = Logger(service=SERVICE, child=True)  # a child of the service logger: correlation ids
API_KEY_SK = "apikey#"
KEY_PREFIX_LENGTH = 8  # "oo_" + 5 characters: enough to tell keys apart, far too little to guess one


def new_key_id() -> str:
    return "key_" + secrets.token_hex(8)


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

    @cached_property
    def compiled_rules(self) -> list[CompiledRule]:
        """The rules compiled once per loaded config (ConfigCache keeps a config <= 1 s)."""
        from chalicelib.logic.exclusions import compile_rules

        return compile_rules(self.rules)


class WorkspaceStore:
    def __init__(self, config: Config, exclusions: ExclusionStore | None = None) -> None:
        self.config = config
        # The workspace config carries the exclusion rules (stored in chunks in their own table).
        self._exclusions = exclusions or ExclusionStore(config)
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
        key_id: str = "",
    ) -> None:
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item(
                        {
                            "pk": workspace_id,
                            "sk": "settings",
                            "settings": settings.model_dump(),
                            "created_at": now,
                            "key_count": 1,
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            *self._key_puts(workspace_id, api_key, key_id or new_key_id(), now),
        ]
        if twilio_auth_token:
            items.append(self._secrets_put(workspace_id, twilio_auth_token))
        first_identity = len(items)
        items.extend(self._identity_puts(workspace_id, settings.ses_identities))
        reasons = transact_write(self._ddb, items)
        if reasons is not None:
            # Item 0 is the settings item: only its condition failing means the id is taken.
            taken = self._taken_identities(reasons, first_identity, settings.ses_identities)
            if reasons and reasons[0] != "ConditionalCheckFailed" and taken:
                raise self._identity_conflict(taken, "settings.ses_identities")
            raise Conflict(f"workspace {workspace_id} already exists", code="workspace_exists")

    def add_api_key(self, workspace_id: str, api_key: str, now: str, key_id: str = "") -> str:
        """Issue one more key of an existing workspace (counted on its settings item)."""
        key_id = key_id or new_key_id()
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    *self._key_puts(workspace_id, api_key, key_id, now),
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": to_item({"pk": workspace_id, "sk": "settings"}),
                            "UpdateExpression": "ADD key_count :one",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeValues": {":one": to_value(1)},
                        }
                    },
                ]
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                raise Conflict("could not issue the key; retry", code="key_conflict") from None
            raise
        return key_id

    def _key_puts(self, workspace_id: str, api_key: str, key_id: str, now: str) -> list[dict[str, Any]]:
        digest = keys.api_key_pk(api_key)
        return [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item(
                        {"pk": digest, "sk": "key", "workspace_id": workspace_id, "key_id": key_id, "created_at": now}
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item(
                        {
                            "pk": workspace_id,
                            "sk": API_KEY_SK + key_id,
                            "key_id": key_id,
                            "key_pk": digest,
                            "prefix": api_key[:KEY_PREFIX_LENGTH],
                            "created_at": now,
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]

    def list_api_keys(self, workspace_id: str) -> list[dict[str, Any]]:
        return list(query_prefix(self._ddb, self.table, workspace_id, API_KEY_SK))

    def revoke_api_key(self, workspace_id: str, key_id: str) -> str:
        """Delete a key and its listing item, unless it is the workspace's last key (409 last_key).
        Returns the revoked key's hash key. One transaction, conditional on the key count."""
        found = self._ddb.get_item(
            TableName=self.table, Key=to_item({"pk": workspace_id, "sk": API_KEY_SK + key_id}), ConsistentRead=True
        )
        listing = from_item(found.get("Item"))
        if not listing:
            raise NotFound("key not found", fields={"key_id": "no such key"})
        settings = from_item(
            self._ddb.get_item(
                TableName=self.table,
                Key=to_item({"pk": workspace_id, "sk": "settings"}),
                ConsistentRead=True,
                ProjectionExpression="key_count",
            ).get("Item")
        )
        if settings is None or "key_count" not in settings:
            # A workspace from before key counting: count its listed keys once.
            count_update = {
                "UpdateExpression": "SET key_count = :left",
                "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(key_count) AND :left > :zero",
                "ExpressionAttributeValues": {
                    ":left": to_value(len(self.list_api_keys(workspace_id)) - 1),
                    ":zero": to_value(0),
                },
            }
        else:
            count_update = {
                "UpdateExpression": "SET key_count = key_count - :one",
                "ConditionExpression": "key_count > :one",
                "ExpressionAttributeValues": {":one": to_value(1)},
            }
        try:
            self._ddb.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self.table,
                            "Key": to_item({"pk": workspace_id, "sk": API_KEY_SK + key_id}),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    {"Delete": {"TableName": self.table, "Key": to_item({"pk": listing["key_pk"], "sk": "key"})}},
                    {
                        "Update": {
                            "TableName": self.table,
                            "Key": to_item({"pk": workspace_id, "sk": "settings"}),
                            **count_update,
                        }
                    },
                ]
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise NotFound("key not found", fields={"key_id": "no such key"}) from None
            if len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed":
                raise Conflict(
                    "the last API key of a workspace cannot be revoked; create another first",
                    code="last_key",
                    fields={"key_id": "the workspace's last key"},
                ) from None
            raise Conflict("the keys changed meanwhile; retry", code="key_conflict") from None
        return str(listing["key_pk"])

    def touch_api_key(self, workspace_id: str, key_id: str, now: str) -> None:
        """Record when a key was last used (its listing item; gone if revoked meanwhile)."""
        try:
            self._ddb.update_item(
                TableName=self.table,
                Key=to_item({"pk": workspace_id, "sk": API_KEY_SK + key_id}),
                UpdateExpression="SET last_used_at = :now",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":now": to_value(now)},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def exists(self, workspace_id: str) -> bool:
        found = self._ddb.get_item(
            TableName=self.table, Key=to_item({"pk": workspace_id, "sk": "settings"}), ProjectionExpression="pk"
        )
        return "Item" in found

    def workspace_for_key(self, api_key: str) -> str | None:
        found = self.key_record(api_key)
        return found[0] if found else None

    def key_record(self, api_key: str) -> tuple[str, str | None] | None:
        """(workspace_id, key_id) of a live key; consistent, so a revoked key is gone at once."""
        found = self._ddb.get_item(
            TableName=self.table, Key=to_item({"pk": keys.api_key_pk(api_key), "sk": "key"}), ConsistentRead=True
        )
        item = from_item(found.get("Item"))
        return (item["workspace_id"], item.get("key_id")) if item else None

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
        reasons = transact_write(self._ddb, items)
        if reasons is not None:
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise NotFound(f"workspace {workspace_id} not found")
            # The claim items are the atomic part of uniqueness: a concurrent claim of the same
            # identity by another workspace fails its condition here, never a read-then-write race.
            taken = self._taken_identities(reasons, first_identity, added)
            if taken or "ConditionalCheckFailed" in reasons:
                raise self._identity_conflict(taken, "ses_identities")
            raise ConcurrentUpdate("settings changed concurrently; retry")

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
        items = query_prefix(self._ddb, self.table, workspace_id, "top#")
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
        rules = self._exclusions.load_rules(workspace_id)
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
    """Key -> workspace lookups, kept per instance at most ``ttl`` seconds (R18: a revoked key is
    refused within one second on every instance; the instance that revokes it forgets it at once).
    Unknown keys are always looked up again. A key's ``last_used_at`` is written at most once per
    ``touch_every`` seconds per key per instance, never per request, and a failure to write it
    never fails the request."""

    def __init__(self, store: WorkspaceStore, ttl: float = 1.0, touch_every: float = 60.0) -> None:
        self._store = store
        self._ttl = ttl
        self._touch_every = touch_every
        self._entries: dict[str, tuple[str, float]] = {}
        self._touched: dict[str, float] = {}

    def workspace_for(self, api_key: str) -> str | None:
        hit = self._entries.get(api_key)
        now = time.monotonic()
        if hit is not None and now - hit[1] < self._ttl:
            return hit[0]
        record = self._store.key_record(api_key)
        if record is None:
            self._entries.pop(api_key, None)
            return None
        workspace_id, key_id = record
        if len(self._entries) > 10_000:
            self._entries.clear()
            self._touched.clear()
        self._entries[api_key] = (workspace_id, now)
        if key_id and now - self._touched.get(api_key, -self._touch_every) >= self._touch_every:
            self._touched[api_key] = now
            try:
                from datetime import UTC, datetime

                stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
                self._store.touch_api_key(workspace_id, key_id, stamp)
            except Exception:  # noqa: BLE001 - last-used is informative; authentication stands
                logger.warning("could not record a key's last use", extra={"workspace_id": workspace_id})
        return workspace_id

    def forget(self, key_pk: str) -> None:
        """Drop a revoked key (known by its hash) from this instance at once."""
        for api_key in [k for k in self._entries if keys.api_key_pk(k) == key_pk]:
            self._entries.pop(api_key, None)
