"""The CRM client port (R13): set a contact's email opt-out field in the CRM.

Implementations speak the CRM's real REST shape over the standard library's http.client (no SDKs:
the write-back worker makes one small PATCH per contact). Every failure raises, so the SQS message
is retried and, after the queue's maxReceiveCount, lands in the dead-letter queue.

The request carries the workspace's CRM token, so where it goes is vetted twice by one validator
(chalicelib.logic.destinations): the URL when it is saved, and here, right before the call, every
address the host resolves to. The connection is made to an address that passed (not to a second
resolution of the name, which could answer differently), with the original host name as TLS SNI,
certificate name and Host header. Redirects are not followed; connect and read have timeouts.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.logic.destinations import Destination, DestinationRefused, check_address, check_url

if TYPE_CHECKING:
    from chalicelib.crm.webhooks import CrmOptOutChange, SignedDelivery
    from chalicelib.models.domain import CrmSettings

TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 64 * 1024

# host, port -> the addresses to try, in order (getaddrinfo in production; a port for tests).
Resolver = Callable[[str, int], list[str]]


class CrmError(Exception):
    """A write-back that did not happen; the message must be retried."""


class CrmNotConfigured(CrmError):
    """The workspace's CRM mapping lacks what the client needs (token, instance URL)."""


class CrmDestinationRefused(CrmError):
    """The CRM URL, or an address its host resolves to, is not a public destination."""


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


class RestCrmClient(CrmClient):
    """A CRM reached by a JSON PATCH with a bearer token at ``base_url`` (vetted at every call)."""

    default_field: str

    def __init__(
        self,
        base_url: str | None,
        access_token: str | None,
        field: str | None = None,
        *,
        allow_loopback: bool = False,
        resolver: Resolver | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.base_url = base_url
        self.access_token = access_token
        self.field = field or self.default_field
        self.allow_loopback = allow_loopback
        self.resolver = resolver
        self.tls = tls

    def patch(self, path: str, body: dict[str, Any]) -> int:
        destination = check_base_url(self.base_url, allow_loopback=self.allow_loopback)
        return patch_json(
            destination,
            path,
            self.access_token,
            body,
            allow_loopback=self.allow_loopback,
            resolver=self.resolver,
            tls=self.tls,
        )


@dataclass(frozen=True)
class CrmProvider:
    """Everything the app knows about one CRM (R13); one entry each in ``chalicelib/crm/registry.py``.

    - ``client``: the write-back adapter for a workspace's mapping (``allow_loopback``: local stage only);
    - ``records`` / ``change``: the opt-out changes of a webhook body (its parsed JSON), one record at a
      time (``field``: the mapping's opt-out field; ``fallback``: an event id when the record has none);
    - ``signed``: the provider's own signature scheme on ``POST /v1/webhooks/crm/{provider}/{workspace_id}``
      (``POST /v1/webhooks/crm/{provider}`` is X-Optout-Signature for every provider);
    - ``default_field``: the opt-out field when the mapping names none;
    - ``clear_supported``: False when the CRM cannot take a clear (a re-subscribe) from an integration;
    - ``default_base_url``: where write-backs go when the mapping has no ``instance_url``.
    """

    name: str
    client: Callable[[CrmSettings, bool], CrmClient]
    records: Callable[[Any], list[Any]]
    change: Callable[[Any, str, str], CrmOptOutChange]
    signed: Callable[[str, SignedDelivery], bool]
    default_field: str
    clear_supported: bool = True
    default_base_url: str | None = None


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_base_url(url: str | None, *, allow_loopback: bool = False) -> Destination:
    if not url:
        raise CrmNotConfigured("the CRM mapping has no instance_url")
    try:
        return check_url(url, allow_loopback=allow_loopback)
    except DestinationRefused as refused:
        raise CrmDestinationRefused(f"instance_url refused: {refused}") from None


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to one vetted address; the Host header still names the host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to one vetted address; SNI, certificate check and Host header use the host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


def vetted_addresses(destination: Destination, *, allow_loopback: bool, resolver: Resolver) -> list[str]:
    """Every address the host resolves to, each checked; one refused address refuses the host (a
    name with a private address among its answers is not a CRM's)."""
    try:
        answers = resolver(destination.host, destination.port)
    except (OSError, UnicodeError):
        raise CrmRequestFailed("the CRM host could not be resolved") from None
    if not answers:
        raise CrmRequestFailed("the CRM host could not be resolved")
    for answer in answers:
        try:
            check_address(ipaddress.ip_address(answer.split("%", 1)[0]), allow_loopback=allow_loopback)
        except (DestinationRefused, ValueError) as refused:
            raise CrmDestinationRefused(f"the CRM host resolves to a refused address: {refused}") from None
        if "%" in answer:
            raise CrmDestinationRefused("the CRM host resolves to a scoped address")
    return answers


def patch_json(
    destination: Destination,
    path: str,
    token: str | None,
    body: dict[str, Any],
    *,
    allow_loopback: bool = False,
    resolver: Resolver | None = None,
    tls: ssl.SSLContext | None = None,
) -> int:
    """PATCH a JSON body with a bearer token; the HTTP status, or CrmRequestFailed/CrmRecordMissing."""
    if not token:
        raise CrmNotConfigured("the CRM mapping has no access_token")
    if destination.loopback and not allow_loopback:
        raise CrmDestinationRefused("loopback destinations are not allowed here")
    addresses = vetted_addresses(destination, allow_loopback=allow_loopback, resolver=resolver or system_resolver)
    payload = json.dumps(body, separators=(",", ":")).encode()
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    last_error: Exception | None = None
    for address in addresses:
        connection: http.client.HTTPConnection
        if destination.scheme == "https":
            context = tls or ssl.create_default_context()
            connection = _PinnedHTTPSConnection(destination.host, destination.port, address, TIMEOUT_SECONDS, context)
        else:
            connection = _PinnedHTTPConnection(destination.host, destination.port, address, TIMEOUT_SECONDS)
        try:
            try:
                connection.connect()
            except OSError as error:  # this address is unreachable: try the next one
                last_error = error
                continue
            peer = connection.sock.getpeername()[0] if connection.sock else None
            if peer is None or ipaddress.ip_address(peer) != ipaddress.ip_address(address.split("%", 1)[0]):
                raise CrmDestinationRefused("connected to an address that was not vetted")
            connection.request("PATCH", destination.path + path, body=payload, headers=headers)
            response = connection.getresponse()
            response.read(MAX_RESPONSE_BYTES)
            status = int(response.status)
        except (http.client.HTTPException, OSError) as error:
            raise CrmRequestFailed(f"the CRM could not be reached: {type(error).__name__}") from None
        finally:
            connection.close()
        if 200 <= status < 300:
            return status
        if status == 404:
            raise CrmRecordMissing("the CRM has no such record")
        if 300 <= status < 400:
            raise CrmRequestFailed(f"the CRM answered a redirect ({status}); redirects are not followed", status)
        raise CrmRequestFailed(f"the CRM answered {status}", status)
    raise CrmRequestFailed(f"the CRM could not be reached: {type(last_error).__name__}")
