"""The suppression index (R18): one item per active DND entry, for listing and exporting a
workspace's suppressions by time without a Scan.

SuppressionsTable: pk=<subject pk>#<o|i>#<channel>#<hash of reason>, written in the same transaction
as the DND change that adds or removes the entry (chalicelib/store/dnd.py), so the index never
disagrees with the subjects. GSI ``by_time``: ``list_shard`` = ``<ws>#00``..``<ws>#15`` (from a hash
of the subject), ``at_sk`` = ``<entry at>#<hash of pk>`` (unique, ordered by time). A workspace's
entries spread over 16 partitions (SPEC scale note: 10,000 opt-outs/s of one workspace are ~625
index writes/s per shard); a page queries every shard and merges them by ``at_sk``, and the cursor
is the last ``at_sk`` returned, so every matching entry is paged exactly once.

The audit table gets the same treatment (``audit_shard`` = ``<ws>#00``..15 on each entry, GSI
``by_workspace`` sorted by the entry's ``sk``) for audit exports.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.config import Config
from chalicelib.models.domain import DndEntry, DndState
from chalicelib.store.aws import client
from chalicelib.store.items import from_item, to_item, to_value

SHARDS = 16
LIST_INDEX = "by_time"
AUDIT_INDEX = "by_workspace"


def _short_hash(text: str, length: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def shard_of(workspace_id: str, text: str) -> str:
    return f"{workspace_id}#{zlib.crc32(text.encode()) % SHARDS:02d}"


def audit_shard(audit_pk: str, sk: str) -> str:
    """The ``by_workspace`` shard of an audit entry: its workspace is the first part of its pk."""
    return shard_of(audit_pk.split("#", 1)[0], audit_pk + sk)


def subject_kind(subject_pk: str) -> str:
    """email | phone (address items, ``<ws>#e#<hash>``/``<ws>#p#<hash>``) or contact."""
    parts = subject_pk.split("#")
    if len(parts) == 3 and parts[1] in ("e", "p") and len(parts[2]) == 64:
        return "email" if parts[1] == "e" else "phone"
    return "contact"


def _entries(state: DndState) -> dict[tuple[str, str, str], DndEntry]:
    found: dict[tuple[str, str, str], DndEntry] = {}
    for channel, by_reason in state.outbound.items():
        for reason, entry in by_reason.items():
            found[("outbound", channel, reason)] = entry
    for reason, entry in state.inbound.items():
        found[("inbound", "all", reason)] = entry
    return found


def index_item_pk(subject_pk: str, direction: str, channel: str, reason: str) -> str:
    return f"{subject_pk}#{direction[0]}#{channel}#{_short_hash(reason)}"


def index_actions(
    table: str, workspace_id: str, subject_pk: str, contact_id: str | None, old: DndState, new: DndState
) -> list[dict[str, Any]]:
    """TransactWriteItems entries that make the index match ``new`` where it differs from ``old``."""
    before, after = _entries(old), _entries(new)
    actions: list[dict[str, Any]] = []
    kind = subject_kind(subject_pk)
    for key, entry in after.items():
        if before.get(key) == entry:
            continue
        direction, channel, reason = key
        pk = index_item_pk(subject_pk, direction, channel, reason)
        item = {
            "pk": pk,
            "ws": workspace_id,
            "list_shard": shard_of(workspace_id, subject_pk),
            "at_sk": f"{entry.at}#{_short_hash(pk, 20)}",
            "subject_pk": subject_pk,
            "subject": kind,
            "contact_id": contact_id if kind == "contact" else None,
            "channel": channel,
            "direction": direction,
            "reason": reason,
            "kind": entry.kind,
            "source": entry.source,
            "at": entry.at,
        }
        actions.append({"Put": {"TableName": table, "Item": to_item(item)}})
    for key in before.keys() - after.keys():
        direction, channel, reason = key
        pk = index_item_pk(subject_pk, direction, channel, reason)
        actions.append({"Delete": {"TableName": table, "Key": to_item({"pk": pk})}})
    return actions


class SuppressionIndex:
    def __init__(self, config: Config) -> None:
        self.table = config.suppressions_table
        self.audit_table = config.audit_table
        self._ddb = client("dynamodb")

    def _shard_page(
        self,
        table: str,
        index: str,
        shard_attr: str,
        sort_attr: str,
        shard: str,
        after: str,
        until: str | None,
        want: int,
        filters: dict[str, str],
    ) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``want`` matching items of one shard with sort key > ``after`` (and entry time <=
        ``until``), in order; and whether the shard may hold more."""
        found: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        names = {"#s": shard_attr}
        values = {":s": to_value(shard)}
        key_condition = "#s = :s"
        if after:
            names["#k"] = sort_attr
            values[":after"] = to_value(after)
            key_condition += " AND #k > :after"
        conditions = []
        for n, (name, value) in enumerate(sorted(filters.items())):
            names[f"#f{n}"] = name
            values[f":f{n}"] = to_value(value)
            conditions.append(f"#f{n} = :f{n}")
        while True:
            kwargs: dict[str, Any] = {
                "TableName": table,
                "IndexName": index,
                "KeyConditionExpression": key_condition,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
                "Limit": max(want * 2, 50),
            }
            if conditions:
                kwargs["FilterExpression"] = " AND ".join(conditions)
            if start:
                kwargs["ExclusiveStartKey"] = start
            page = self._ddb.query(**kwargs)
            for raw in page.get("Items", []):
                item = from_item(raw) or {}
                if until is not None and str(item.get(sort_attr, ""))[: len(until)] > until:
                    return found, False
                found.append(item)
                if len(found) >= want:
                    return found, True
            start = page.get("LastEvaluatedKey")
            if not start:
                return found, False

    def page(
        self,
        workspace_id: str,
        *,
        after: str,
        until: str | None,
        limit: int,
        filters: dict[str, str],
        audit: bool = False,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page, oldest first, merged over every shard; the cursor of the next page or None."""
        table, index, shard_attr, sort_attr = (
            (self.audit_table, AUDIT_INDEX, "audit_shard", "sk")
            if audit
            else (self.table, LIST_INDEX, "list_shard", "at_sk")
        )
        shards = [f"{workspace_id}#{n:02d}" for n in range(SHARDS)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(
                pool.map(
                    lambda shard: self._shard_page(
                        table, index, shard_attr, sort_attr, shard, after, until, limit, filters
                    ),
                    shards,
                )
            )
        merged = sorted((item for items, _more in results for item in items), key=lambda i: i[sort_attr])
        more = any(more for _items, more in results) or len(merged) > limit
        taken = merged[:limit]
        return taken, (taken[-1][sort_attr] if more and taken else None)

    def iterate(
        self, workspace_id: str, *, after: str, until: str | None, filters: dict[str, str], audit: bool = False
    ) -> Iterator[list[dict[str, Any]]]:
        """Every matching item, page by page (exports)."""
        cursor: str | None = after
        while cursor is not None:
            items, cursor = self.page(workspace_id, after=cursor, until=until, limit=500, filters=filters, audit=audit)
            if items:
                yield items
