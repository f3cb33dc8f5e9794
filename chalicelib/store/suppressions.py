"""The suppression index (R18): one item per active DND entry, for listing and exporting a
workspace's suppressions by time without a Scan.

SuppressionsTable: pk=<subject pk>#<o|i>#<channel>#<hash of reason>, written in the same transaction
as the DND change that adds or removes the entry (chalicelib/store/dnd.py), so the index never
disagrees with the subjects. GSI ``by_time``: ``list_shard`` = ``<ws>#00``..``<ws>#15`` (from a hash
of the subject), ``at_sk`` = ``<entry at>#<hash of pk>`` (unique, ordered by time). A workspace's
entries spread over 16 partitions (SPEC scale note: 10,000 opt-outs/s of one workspace are ~625
index writes/s per shard); a page queries every shard and merges them by ``at_sk``
(``merge_shards``: each shard read only as far as the merge needs), and the cursor is the last
``at_sk`` returned, so every matching entry is paged exactly once.

The audit table gets the same treatment (``audit_shard`` = ``<ws>#00``..15 on each entry, GSI
``by_workspace`` sorted by the entry's ``sk``) for audit exports.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Iterator
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


ShardPage = tuple[list[dict[str, Any]], dict[str, Any] | None]
# The first Query of each shard reads this share of a page (and at least FIRST_READ_MIN items): the
# entries spread evenly over the shards, so most pages need no second Query.
FIRST_READ_SHARE = 1.5
FIRST_READ_MIN = 10


def merge_shards(
    shards: list[str],
    fetch_many: Callable[[list[tuple[str, dict[str, Any] | None, int]]], list[ShardPage]],
    sort_attr: str,
    until: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """The first ``limit`` items of the shards merged by ``sort_attr`` (each shard is in that order),
    reading each shard only as far as the merge needs: a first small Query of every shard, then more
    of a shard only when its read items ran out while it may still hold the next item. ``fetch_many``
    runs one Query per ``(shard, start key, limit)`` (in parallel) and answers each one's items and
    next start key. Items past ``until`` (compared on its length) end their shard. Returns the page
    and the cursor of the next one (the last item's sort key), or None when nothing follows."""
    buffered: dict[str, list[dict[str, Any]]] = {shard: [] for shard in shards}
    starts: dict[str, dict[str, Any] | None] = {shard: None for shard in shards}
    open_shards = set(shards)  # may hold unread items
    first = max(FIRST_READ_MIN, -(-int(limit * FIRST_READ_SHARE) // len(shards)))
    wanted: list[tuple[str, dict[str, Any] | None, int]] = [(shard, None, first) for shard in shards]
    taken: list[dict[str, Any]] = []
    while True:
        for (shard, _start, _n), (items, next_start) in zip(wanted, fetch_many(wanted), strict=True):
            for position, item in enumerate(items):
                if until is not None and str(item.get(sort_attr, ""))[: len(until)] > until:
                    items, next_start = items[:position], None
                    break
            buffered[shard].extend(reversed(items))  # popped from the end, oldest first
            starts[shard] = next_start
            if next_start is None:
                open_shards.discard(shard)
        while len(taken) < limit:
            # a shard that may hold more but has nothing read could hold the next item: read it first
            starved = [shard for shard in open_shards if not buffered[shard]]
            if starved:
                break
            heads = [shard for shard in shards if buffered[shard]]
            if not heads:
                return taken, None
            shard = min(heads, key=lambda s: buffered[s][-1][sort_attr])
            taken.append(buffered[shard].pop())
        if len(taken) >= limit:
            more = bool(open_shards) or any(buffered.values())
            return taken, (taken[-1][sort_attr] if more else None)
        need = limit - len(taken)
        wanted = [(shard, starts[shard], max(FIRST_READ_MIN, need)) for shard in sorted(starved)]


class SuppressionIndex:
    def __init__(self, config: Config) -> None:
        self.table = config.suppressions_table
        self.audit_table = config.audit_table
        self._ddb = client("dynamodb")

    def _query_shard(
        self,
        table: str,
        index: str,
        names: dict[str, str],
        values: dict[str, Any],
        key_condition: str,
        conditions: list[str],
        shard: str,
        start: dict[str, Any] | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One Query page of one shard: its items in sort-key order and where the next page starts."""
        kwargs: dict[str, Any] = {
            "TableName": table,
            "IndexName": index,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {**values, ":s": to_value(shard)},
            "Limit": limit,
        }
        if conditions:
            kwargs["FilterExpression"] = " AND ".join(conditions)
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = self._ddb.query(**kwargs)
        return [from_item(raw) or {} for raw in page.get("Items", [])], page.get("LastEvaluatedKey")

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
        names = {"#s": shard_attr}
        values: dict[str, Any] = {}
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
        shards = [f"{workspace_id}#{n:02d}" for n in range(SHARDS)]
        with ThreadPoolExecutor(max_workers=8) as pool:

            def fetch_many(wanted: list[tuple[str, dict[str, Any] | None, int]]) -> list[ShardPage]:
                return list(
                    pool.map(
                        lambda w: self._query_shard(table, index, names, values, key_condition, conditions, *w),
                        wanted,
                    )
                )

            return merge_shards(shards, fetch_many, sort_attr, until, limit)

    def iterate(
        self, workspace_id: str, *, after: str, until: str | None, filters: dict[str, str], audit: bool = False
    ) -> Iterator[list[dict[str, Any]]]:
        """Every matching item, page by page (exports)."""
        cursor: str | None = after
        while cursor is not None:
            items, cursor = self.page(workspace_id, after=cursor, until=until, limit=500, filters=filters, audit=audit)
            if items:
                yield items
