"""The CRM client port (R13): set a contact's email opt-out field in the CRM.

Implementations speak the CRM's real REST shape over the standard library's urllib (no SDKs: the
write-back worker makes one small PATCH per contact). Every failure raises, so the SQS message is
retried and, after the queue's maxReceiveCount, lands in the dead-letter queue.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from typing import Any
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 10.0
# Plain http only towards this machine (local fakes, the local stack); anything else needs TLS
# because the request carries the workspace's CRM access token.
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class CrmError(Exception):
    """A write-back that did not happen; the message must be retried."""


class CrmNotConfigured(CrmError):
    """The workspace's CRM mapping lacks what the client needs (token, instance URL)."""


class CrmRequestFailed(CrmError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CrmRecordMissing(CrmError):
    """The CRM answered 404: the record is gone; retrying cannot help."""


class CrmClient(ABC):
    provider: str

    @abstractmethod
    def set_email_opt_out(self, record_ref: str, opted_out: bool) -> bool:
        """Write the opt-out field of one CRM contact; True when a request was made."""


def check_base_url(url: str | None) -> str:
    if not url:
        raise CrmNotConfigured("the CRM mapping has no instance_url")
    parts = urlsplit(url)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS)
    if secure and parts.hostname:
        return url.rstrip("/")
    raise CrmNotConfigured("instance_url must be an https URL")


def patch_json(url: str, token: str | None, body: dict[str, Any]) -> int:
    """PATCH a JSON body with a bearer token; the HTTP status, or CrmRequestFailed/CrmRecordMissing."""
    if not token:
        raise CrmNotConfigured("the CRM mapping has no access_token")
    request = urllib.request.Request(  # noqa: S310 - scheme checked by check_base_url
        url,
        data=json.dumps(body, separators=(",", ":")).encode(),
        method="PATCH",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        if error.code == 404:
            raise CrmRecordMissing("the CRM has no such record") from None
        raise CrmRequestFailed(f"the CRM answered {error.code}", error.code) from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise CrmRequestFailed(f"the CRM could not be reached: {type(error).__name__}") from None
