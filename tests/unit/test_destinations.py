"""Issue 11.2: the one destination validator (chalicelib.logic.destinations), as used when a CRM
instance_url is saved (check_url) and on every address its host resolves to (check_address)."""

from __future__ import annotations

import ipaddress

import pytest

from chalicelib.logic.destinations import DestinationRefused, check_address, check_url

REFUSED_EVERYWHERE = [
    "ftp://crm.example.com",
    "javascript:alert(1)",
    "not a url",
    "crm.example.com",
    "//crm.example.com",
    "https://",
    "https://user:pass@crm.example.com",
    "https://token@crm.example.com",
    "http://crm.example.com",  # plain http off loopback
    "https://crm.example.com/?next=1",
    "https://crm.example.com/#x",
    "https://crm.example.com:0",
    "https://crm.example.com:99999",
    "https://crm.exa mple.com",
    "https://crm.example.com\\@evil.example",
    "https://169.254.169.254",  # instance metadata
    "https://169.254.10.1",
    "https://[fd00:ec2::254]",  # EC2 metadata over IPv6
    "https://[fe80::1]",
    "https://[fc00::1]",
    "https://10.0.0.1",
    "https://172.16.5.4",
    "https://192.168.1.1",
    "https://100.64.0.1",  # CGNAT
    "https://0.0.0.0",
    "https://[::]",
    "https://224.0.0.1",
    "https://[ff02::1]",
    "https://240.0.0.1",
    "https://255.255.255.255",
    "https://[::ffff:169.254.169.254]",  # IPv4-mapped
    "https://[::ffff:a9fe:a9fe]",
    "https://[::ffff:10.0.0.1]",
    "https://[::ffff:93.184.216.34]",  # mapped, even public: write the IPv4 address
    "https://[::169.254.169.254]",  # IPv4-compatible
    "https://[64:ff9b::a9fe:a9fe]",  # NAT64 of the metadata address
    "https://[2002:a9fe:a9fe::1]",  # 6to4 of it
    "https://2852039166",  # 169.254.169.254 in decimal
    "https://0xa9fea9fe",  # in hex
    "https://0251.0376.0251.0376",  # in octal
    "https://0xa9.0xfe.0xa9.0xfe",
    "https://169.254.43518",
    "https://93.184.216.034",  # leading zero: octal to inet_aton
    "https://1.2.3",
    "https://metadata",
    "https://instance-data",
    "https://metadata.google.internal",
    "https://instance-data.ec2.internal",
    "https://printer.local",
    "https://crm.corp.internal",
    "https://router.lan",
    "https://box.home.arpa",
    "https://254.169.254.169.in-addr.arpa",
    "https://intranet",  # single label: resolved through search domains
    "https://crm.example.123",
    "https://[::1%25eth0]",
]

LOOPBACK = [
    "http://127.0.0.1:9001",  # the Lambda Runtime API
    "http://127.0.0.1:8000",
    "https://127.0.0.1",
    "http://127.1.2.3",
    "http://[::1]:9001",
    "http://localhost:9001",
    "https://localhost",
    "http://crm.localhost",
    "http://LOCALHOST.:80",
    "http://2130706433",  # decimal 127.0.0.1: refused as a spelling
]


@pytest.mark.parametrize("url", REFUSED_EVERYWHERE)
def test_issue11_refused_urls_are_refused_on_every_stage(url):
    for allow_loopback in (False, True):
        with pytest.raises(DestinationRefused):
            check_url(url, allow_loopback=allow_loopback)


@pytest.mark.parametrize("url", LOOPBACK)
def test_issue11_loopback_is_refused_off_the_local_stage(url):
    with pytest.raises(DestinationRefused):
        check_url(url, allow_loopback=False)


def test_issue11_loopback_is_allowed_on_the_local_stage_plain_http_too():
    for url in ("http://127.0.0.1:8123", "http://[::1]:8123", "http://localhost:8123", "https://127.0.0.1"):
        assert check_url(url, allow_loopback=True).loopback
    with pytest.raises(DestinationRefused):
        check_url("http://2130706433", allow_loopback=True)  # the spelling, not the address, is refused


@pytest.mark.parametrize(
    "url,origin,path",
    [
        ("https://acme.my.salesforce.com", "https://acme.my.salesforce.com", ""),
        ("https://ACME.my.Salesforce.com:443/", "https://acme.my.salesforce.com", ""),
        ("https://api.hubapi.com", "https://api.hubapi.com", ""),
        ("https://proxy.example.com:8443/hubspot/", "https://proxy.example.com:8443", "/hubspot"),
        ("https://93.184.216.34", "https://93.184.216.34", ""),
        ("https://[2606:4700::1111]", "https://[2606:4700::1111]", ""),
        ("https://bücher.example", "https://xn--bcher-kva.example", ""),
        ("https://crm.example.com.", "https://crm.example.com", ""),
    ],
)
def test_issue11_public_https_urls_are_accepted(url, origin, path):
    destination = check_url(url, allow_loopback=False)
    assert (destination.origin, destination.path, destination.loopback) == (origin, path, False)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "169.254.169.254",
        "fd00:ec2::254",
        "10.1.2.3",
        "100.100.100.200",
        "192.168.0.1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "0.0.0.0",
        "224.0.0.251",
    ],
)
def test_issue11_resolved_private_addresses_are_refused(address):
    with pytest.raises(DestinationRefused):
        check_address(ipaddress.ip_address(address), allow_loopback=False)


def test_issue11_resolved_addresses_loopback_only_where_allowed():
    check_address(ipaddress.ip_address("93.184.216.34"), allow_loopback=False)
    check_address(ipaddress.ip_address("2606:4700::1111"), allow_loopback=False)
    check_address(ipaddress.ip_address("127.0.0.1"), allow_loopback=True)
    with pytest.raises(DestinationRefused):
        check_address(ipaddress.ip_address("::ffff:127.0.0.1"), allow_loopback=True)  # mapped: never
    with pytest.raises(DestinationRefused):
        check_address(ipaddress.ip_address("169.254.169.254"), allow_loopback=True)  # local stage too
