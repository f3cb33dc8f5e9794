"""Issue 11.2: the CRM write-back connects only to a vetted address, keeps the host name for TLS
(SNI, certificate) and the Host header, follows no redirect and times out. Real sockets and TLS on
127.0.0.1; DNS is the client's resolver port (a name -> address table here)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chalicelib.crm.base import CrmDestinationRefused, CrmRequestFailed
from chalicelib.crm.hubspot import HubSpotClient
from chalicelib.crm.salesforce import SalesforceClient

HOST = "crm.example.com"


def self_signed(tmp: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class TlsCrm:
    """An HTTPS server on 127.0.0.1 presenting a certificate for ``HOST``; records requests and SNI."""

    def __init__(self, tmp: Path, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.cert, key = self_signed(tmp, HOST)
        self.requests: list[dict[str, Any]] = []
        self.sni: list[str | None] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_PATCH(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append({"path": self.path, "host": self.headers.get("Host"), "body": json.loads(raw)})
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        context.sni_callback = lambda sock, name, ctx: fake.sni.append(name)  # type: ignore[assignment]
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def tls_crm(tmp_path: Path) -> Iterator[TlsCrm]:
    server = TlsCrm(tmp_path)
    yield server
    server.close()


def test_issue11_connects_to_the_vetted_address_with_the_host_name_for_tls_and_host(tls_crm):
    # Given a name that resolves (once) to the address the fake listens on
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    client = HubSpotClient(
        "tok",
        f"https://{HOST}:{tls_crm.port}",
        allow_loopback=True,  # the fake is on 127.0.0.1; the name is public-looking
        resolver=resolver,
        tls=tls_crm.client_context(),
    )
    # When the client writes an opt-out
    assert client.set_email_opt_out("501", True)
    # Then one resolution, TLS with SNI = the host name (certificate checked against it), Host header kept
    assert lookups == [HOST]
    assert tls_crm.sni == [HOST]
    assert tls_crm.requests == [
        {
            "path": "/crm/v3/objects/contacts/501",
            "host": f"{HOST}:{tls_crm.port}",
            "body": {"properties": {"hs_email_optout": "true"}},
        }
    ]


def salesforce_via(server: TlsCrm, host: str = HOST) -> SalesforceClient:
    """A Salesforce client for ``https://<host>:<port>`` whose name resolves to the fake on 127.0.0.1."""
    return SalesforceClient(
        f"https://{host}:{server.port}",
        "tok",
        allow_loopback=True,
        resolver=lambda host, port: ["127.0.0.1"],
        tls=server.client_context(),
    )


def test_issue11_a_certificate_for_another_name_is_refused(tls_crm):
    client = salesforce_via(tls_crm, "other.example.com")
    with pytest.raises(CrmRequestFailed):
        client.set_email_opt_out("003A1", True)
    assert tls_crm.requests == []


def test_issue11_redirects_are_not_followed(tmp_path):
    # Given a CRM answering 307 towards the metadata endpoint
    server = TlsCrm(tmp_path, status=307, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    try:
        client = salesforce_via(server)
        # Then the write-back fails (retried later), and only the one request was made
        with pytest.raises(CrmRequestFailed, match="redirect"):
            client.set_email_opt_out("003A1", True)
        assert len(server.requests) == 1
    finally:
        server.close()


def test_issue11_a_silent_crm_times_out(monkeypatch):
    import socket

    monkeypatch.setattr("chalicelib.crm.base.TIMEOUT_SECONDS", 0.2)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    try:
        client = SalesforceClient(f"http://127.0.0.1:{listener.getsockname()[1]}", "tok", allow_loopback=True)
        with pytest.raises(CrmRequestFailed, match="timeout|Timeout"):
            client.set_email_opt_out("003A1", True)
    finally:
        listener.close()


@pytest.mark.parametrize(
    "answers",
    [["169.254.169.254"], ["93.184.216.34", "10.0.0.7"], ["fd00:ec2::254"], ["::ffff:127.0.0.1"], ["127.0.0.1"]],
)
def test_issue11_every_resolved_address_is_vetted_before_connecting(answers, monkeypatch):
    monkeypatch.setattr("socket.create_connection", lambda *a, **k: pytest.fail("connected"))
    client = HubSpotClient("tok", f"https://{HOST}", resolver=lambda host, port: answers)
    with pytest.raises(CrmDestinationRefused):
        client.set_email_opt_out("501", True)


def test_issue11_the_default_hubspot_url_is_vetted_like_any_other(monkeypatch):
    monkeypatch.setattr("socket.create_connection", lambda *a, **k: pytest.fail("connected"))
    client = HubSpotClient("tok", resolver=lambda host, port: [str(ipaddress.ip_address("169.254.169.254"))])
    with pytest.raises(CrmDestinationRefused):
        client.set_email_opt_out("501", True)
