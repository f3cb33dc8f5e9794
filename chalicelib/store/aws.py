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


# Presigned S3 URLs with Signature Version 4 (X-Amz-Expires: the URL's own validity).
_S3_CONFIG = _BOTO_CONFIG.merge(BotoConfig(signature_version="s3v4"))


def client(service: str) -> Any:
    existing = _clients.get(service)
    if existing is None:
        config = _S3_CONFIG if service == "s3" else _BOTO_CONFIG
        existing = boto3.session.Session().client(service, config=config)
        _clients[service] = existing
    return existing


def reset_clients() -> None:
    """Drop cached clients (tests swap endpoints or mocks between runs)."""
    _clients.clear()
