"""boto3 clients, created lazily once per process.

boto3 honours ``AWS_ENDPOINT_URL``, so the local stack and production use this
same code against moto or AWS.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config as BotoConfig

_BOTO_CONFIG = BotoConfig(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=2,
    read_timeout=5,
    max_pool_connections=50,
)
_clients: dict[str, Any] = {}


def client(service: str) -> Any:
    existing = _clients.get(service)
    if existing is None:
        existing = boto3.session.Session().client(service, config=_BOTO_CONFIG)
        _clients[service] = existing
    return existing


def reset_clients() -> None:
    """Drop cached clients (tests swap endpoints or mocks between runs)."""
    _clients.clear()
