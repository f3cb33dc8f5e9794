"""Outbound destinations (issue 11): which URLs a workspace may make us call with its credentials.

One validator, used when a URL is saved (``check_url``: the URL as written) and again when it is
used (``check_address``: every address its host resolves to, right before connecting). Pure: no
DNS, no sockets -- the caller resolves and connects to an address this module accepted.

Refused: anything but ``https`` (plain ``http`` only to loopback, and loopback only where
``allow_loopback``: the local stage, never in Lambda, where 127.0.0.1:9001 is the Runtime API);
userinfo, query, fragment; addresses that are not globally routable -- loopback, link-local
(169.254.0.0/16 with the instance metadata endpoint 169.254.169.254, fe80::/10, fd00:ec2::254),
private (RFC 1918), CGNAT (100.64.0.0/10), unique-local (fc00::/7), unspecified, multicast,
reserved, benchmark, documentation -- also when embedded in an IPv6 address (IPv4-mapped,
IPv4-compatible, NAT64, 6to4, Teredo); IPv4 spelled other than dotted decimal (``2130706433``,
``0177.0.0.1``, ``0x7f.1``); single-label names and names of local/internal namespaces
(``localhost``, ``*.localhost``, ``*.local``, ``*.internal``, ...).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
# Names that mean "this machine" (allowed like 127.0.0.1 where loopback is).
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
# Names and namespaces that resolve inside a network, never to a CRM on the internet.
INTERNAL_NAMES = frozenset({"broadcasthost", "instance-data", "metadata", "wpad"})
INTERNAL_SUFFIXES = (
    ".localhost",
    ".local",
    ".localdomain",
    ".internal",
    ".intranet",
    ".lan",
    ".home.arpa",
    ".arpa",
)
# Not globally routable, listed explicitly (ipaddress.is_global misses multicast and, before
# Python 3.13, looks through no IPv4-mapped address).
BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network", unspecified
        "10.0.0.0/8",  # RFC 1918
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, instance metadata 169.254.169.254
        "172.16.0.0/12",  # RFC 1918
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # RFC 1918
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
        "::/128",  # unspecified
        "::1/128",  # loopback
        "100::/64",  # discard
        "2001:db8::/32",  # documentation
        "fc00::/7",  # unique-local, incl. fd00:ec2::254 (EC2 metadata over IPv6)
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
# IPv6 prefixes that carry an IPv4 address in their last 32 bits.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


class DestinationRefused(ValueError):
    """The URL or address may not be called; the message says why (safe to show: no secret)."""


@dataclass(frozen=True)
class Destination:
    """A vetted base URL: scheme, host (IDNA, lower case; an IPv6 literal without brackets), port."""

    scheme: str
    host: str
    port: int
    path: str  # base path without a trailing slash ("" for the origin)
    loopback: bool  # the host is a loopback literal or name (allowed only where loopback is)

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return f"{self.scheme}://{host}" + ("" if self.port == default else f":{self.port}")

    def url(self, path: str) -> str:
        return self.origin + self.path + path


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in _NAT64) or (
        address in _IPV4_COMPATIBLE and int(address) > 1  # not :: or ::1
    ):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def check_address(address: IPAddress, *, allow_loopback: bool) -> None:
    """Refuse an address that is not globally routable (loopback only where allowed)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            raise DestinationRefused("IPv6 zone ids are not allowed")
        inner = embedded_ipv4(address)
        if inner is not None:
            if address.ipv4_mapped is not None or (address in _IPV4_COMPATIBLE):
                raise DestinationRefused("IPv4-mapped or -compatible IPv6 addresses are not allowed")
            check_address(inner, allow_loopback=False)
    if address.is_loopback:
        if allow_loopback:
            return
        raise DestinationRefused("loopback addresses are not allowed")
    blocked = any(address in network for network in BLOCKED_NETWORKS)
    if blocked or address.is_multicast or address.is_unspecified or address.is_reserved or not address.is_global:
        raise DestinationRefused(f"{address} is not a public address")


def _ipv4_spelling(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host string denotes in any inet_aton spelling, else None."""
    if not all(_NUMERIC_LABEL.match(label) for label in host.split(".")):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        raise DestinationRefused("not a valid IPv4 address") from None


def check_url(url: object, *, allow_loopback: bool) -> Destination:
    """Vet a base URL as written (no DNS). Raises DestinationRefused."""
    if not isinstance(url, str) or not url:
        raise DestinationRefused("must be an https URL")
    if len(url) > MAX_URL_LENGTH or any(ord(c) <= 0x20 or ord(c) == 0x7F or c == "\\" for c in url):
        raise DestinationRefused("must be an https URL without spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise DestinationRefused("must be an https URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.netloc:
        raise DestinationRefused("must be an https URL")
    if "@" in parts.netloc:
        raise DestinationRefused("user names and passwords in the URL are not allowed")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise DestinationRefused("a query or fragment is not allowed")
    if port == 0:
        raise DestinationRefused("port 0 is not allowed")
    raw_host = (parts.hostname or "").rstrip(".")
    if not raw_host:
        raise DestinationRefused("must name a host")
    loopback = False
    if parts.netloc.startswith("["):  # IPv6 literal
        if "%" in raw_host:
            raise DestinationRefused("IPv6 zone ids are not allowed")
        try:
            address: IPAddress | None = ipaddress.IPv6Address(raw_host)
        except ValueError:
            raise DestinationRefused("not a valid IPv6 address") from None
        host = str(address)
    else:
        address = _ipv4_spelling(raw_host)
        if address is not None:
            if str(address) != raw_host:
                raise DestinationRefused("write an IPv4 address in dotted-decimal form")
            host = raw_host
        else:
            try:
                host = raw_host.encode("idna").decode("ascii").lower()
            except UnicodeError:
                raise DestinationRefused("not a valid host name") from None
            labels = host.split(".")
            if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
                raise DestinationRefused("not a valid host name")
            if host in LOOPBACK_NAMES or host.endswith(".localhost"):
                loopback = True
            elif host in INTERNAL_NAMES or host.endswith(INTERNAL_SUFFIXES):
                raise DestinationRefused("names of local or internal networks are not allowed")
            elif len(labels) < 2:
                raise DestinationRefused("must be a fully qualified public host name")
            elif labels[-1].isdigit():
                raise DestinationRefused("not a valid host name")
    if address is not None:
        check_address(address, allow_loopback=allow_loopback)
        loopback = address.is_loopback
    elif loopback and not allow_loopback:
        raise DestinationRefused("loopback names are not allowed")
    if scheme == "http" and not loopback:
        raise DestinationRefused("must be an https URL")
    return Destination(scheme, host, port or (443 if scheme == "https" else 80), parts.path.rstrip("/"), loopback)
