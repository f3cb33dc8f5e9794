"""Soft-bounce counters (R8, R19): transient bounces per address within a sliding window, whichever
provider reported them (SES, SendGrid, Mailgun, Postmark count toward one limit).

One item per address in the DND table, ``<address pk>#soft`` (so it starts with the workspace
id and holds no readable address), with a map of recent bounces ``{<delivery key>: <epoch>}`` (a
digest of the provider's event id).
The count and the exactly-once marker are the same map, written by one conditional put on the
item's version: a redelivered bounce finds its key already there and is not counted twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from botocore.exceptions import ClientError

from chalicelib.config import Config
from chalicelib.errors import ConcurrentUpdate, StoreUnavailable
from chalicelib.store.aws import client
from chalicelib.store.items import from_item, to_item, to_value

SOFT_BOUNCE_SUFFIX = "#soft"
MAX_TRACKED = 200  # far above any sane limit; bounds the item size
MAX_ATTEMPTS = 6


def soft_bounce_pk(address_pk: str) -> str:
    return address_pk + SOFT_BOUNCE_SUFFIX


def message_key(delivery_key: str) -> str:
    return hashlib.sha256(delivery_key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SoftBounceCount:
    count: int  # bounces inside the window, this one included
    duplicate: bool  # this message was already counted


class BounceStore:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._ddb = client("dynamodb")

    def record_soft_bounce(
        self, workspace_id: str, address_pk: str, delivery_key: str, now: int, window_seconds: int
    ) -> SoftBounceCount:
        pk = soft_bounce_pk(address_pk)
        key = message_key(delivery_key)
        for _attempt in range(MAX_ATTEMPTS):
            try:
                found = self._ddb.get_item(
                    TableName=self.config.dnd_table, Key=to_item({"pk": pk}), ConsistentRead=True
                )
            except ClientError as exc:
                raise StoreUnavailable("could not read the bounce counter; retry") from exc
            item = from_item(found.get("Item")) or {}
            version = int(item.get("version", 0))
            recent = {k: int(v) for k, v in (item.get("bounces") or {}).items() if int(v) > now - window_seconds}
            if key in (item.get("bounces") or {}):
                return SoftBounceCount(len(recent), duplicate=True)
            recent[key] = now
            if len(recent) > MAX_TRACKED:
                recent = dict(sorted(recent.items(), key=lambda kv: kv[1])[-MAX_TRACKED:])
            condition = "version = :v" if version else "attribute_not_exists(pk)"
            values = {":v": to_value(version)} if version else None
            try:
                self._ddb.put_item(
                    TableName=self.config.dnd_table,
                    Item=to_item({"pk": pk, "ws": workspace_id, "bounces": recent, "version": version + 1}),
                    ConditionExpression=condition,
                    **({"ExpressionAttributeValues": values} if values else {}),
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    continue  # another bounce for this address landed first: re-read and re-count
                raise StoreUnavailable("could not store the bounce counter; retry") from exc
            return SoftBounceCount(len(recent), duplicate=False)
        raise ConcurrentUpdate("the bounce counter kept changing; retry")
