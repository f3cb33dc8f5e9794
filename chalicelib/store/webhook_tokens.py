"""Webhook signature tokens already used (Mailgun's replay protection, R19).

Mailgun signs ``timestamp + token`` with a fresh random token per request; a request whose token was
seen before is a replay. Tokens are kept in the idempotency table (``id = whtok#<ws>#<sha256(token)>``,
no token in clear) until DynamoDB's TTL removes them, after the timestamp window would refuse the
request anyway.
"""

from __future__ import annotations

import hashlib
import time

from botocore.exceptions import ClientError

from chalicelib.config import Config
from chalicelib.errors import StoreUnavailable
from chalicelib.store.aws import client
from chalicelib.store.items import to_item


def token_id(workspace_id: str, provider: str, token: str) -> str:
    return f"whtok#{workspace_id}#{provider}#" + hashlib.sha256(token.encode()).hexdigest()


class WebhookTokenStore:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._ddb = client("dynamodb")

    def seen(self, workspace_id: str, provider: str, token: str) -> bool:
        try:
            found = self._ddb.get_item(
                TableName=self.config.idempotency_table,
                Key=to_item({"id": token_id(workspace_id, provider, token)}),
                ConsistentRead=True,
            )
        except ClientError as exc:
            raise StoreUnavailable("could not check the webhook token; retry") from exc
        return "Item" in found

    def remember(self, workspace_id: str, provider: str, token: str, ttl_seconds: int) -> None:
        """Record a token once its request was handled (a failed request may be retried with it)."""
        try:
            self._ddb.put_item(
                TableName=self.config.idempotency_table,
                Item=to_item(
                    {
                        "id": token_id(workspace_id, provider, token),
                        "expiration": int(time.time()) + ttl_seconds,
                        "kind": "webhook_token",
                    }
                ),
            )
        except ClientError as exc:
            raise StoreUnavailable("could not record the webhook token; retry") from exc
