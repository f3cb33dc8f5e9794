"""Sign and post an email provider's webhook body to a running local stack (`make post-webhook`).

    python -m infra.local.webhooks sendgrid events/sendgrid-events.json [--workspace default] [--url URL]

Each provider's request is signed as the provider signs it, with the development secrets the local
stack configures on workspace ``default`` at start (``DEV_WEBHOOK_SETTINGS``; never used elsewhere):

- SendGrid: ECDSA P-256 / SHA-256 over ``timestamp + body`` with the development key pair, in
  ``X-Twilio-Email-Event-Webhook-Signature`` (base64 DER) and ``-Timestamp`` (now);
- Mailgun: the body's ``signature`` block replaced by a fresh one (now, a random token, HMAC-SHA256);
- Postmark: ``Authorization: Basic`` with the development secret as the password.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

PROVIDERS = ("sendgrid", "mailgun", "postmark")
DEV_MAILGUN_SIGNING_KEY = "local-mailgun-signing-key"
DEV_POSTMARK_WEBHOOK_SECRET = "local-postmark-webhook-secret"


@lru_cache(maxsize=1)
def dev_sendgrid_private_key() -> EllipticCurvePrivateKey:
    """The local stack's SendGrid key pair, derived from a fixed label: the same on every start."""
    from cryptography.hazmat.primitives.asymmetric import ec

    secret = int.from_bytes(hashlib.sha256(b"optout local sendgrid event webhook").digest(), "big")
    return ec.derive_private_key(secret, ec.SECP256R1())


def public_key_b64(private_key: EllipticCurvePrivateKey) -> str:
    """The public key as SendGrid shows it: base64 of the DER SubjectPublicKeyInfo."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    der = private_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def dev_webhook_settings() -> dict[str, str]:
    return {
        "sendgrid_webhook_public_key": public_key_b64(dev_sendgrid_private_key()),
        "mailgun_signing_key": DEV_MAILGUN_SIGNING_KEY,
        "postmark_webhook_secret": DEV_POSTMARK_WEBHOOK_SECRET,
    }


def sendgrid_headers(private_key: EllipticCurvePrivateKey, body: bytes, timestamp: int) -> dict[str, str]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    signature = private_key.sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": str(timestamp),
    }


def mailgun_signature(signing_key: str, timestamp: int, token: str | None = None) -> dict[str, str]:
    token = token or secrets.token_hex(25)  # Mailgun's tokens are 50 characters
    digest = hmac.new(signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": str(timestamp), "token": token, "signature": digest}


def basic_auth(password: str, user: str = "postmark") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def signed_request(provider: str, document: Any, now: int | None = None) -> tuple[bytes, dict[str, str]]:
    """Body and headers of the provider's request for ``document``, signed with the development secrets."""
    now = int(time.time()) if now is None else now
    headers = {"Content-Type": "application/json"}
    if provider == "mailgun":
        document = {**document, "signature": mailgun_signature(DEV_MAILGUN_SIGNING_KEY, now)}
    body = json.dumps(document).encode()
    if provider == "sendgrid":
        headers.update(sendgrid_headers(dev_sendgrid_private_key(), body, now))
    elif provider == "postmark":
        headers.update(basic_auth(DEV_POSTMARK_WEBHOOK_SECRET))
    return body, headers


def configure_workspace(workspace_id: str) -> None:
    """Set the development secrets on a workspace of the running process (the local stack's start)."""
    from chalicelib.services.context import get_services
    from chalicelib.services.workspaces import patch_settings

    patch_settings(get_services(), workspace_id, dict(dev_webhook_settings()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("provider", choices=PROVIDERS)
    parser.add_argument("event", type=Path, help="JSON file: the provider's webhook body")
    parser.add_argument("--workspace", default="default")
    host = os.environ.get("OPTOUT_HOST") or "127.0.0.1"
    parser.add_argument("--url", default=f"http://{host}:{os.environ.get('OPTOUT_PORT') or '8000'}")
    args = parser.parse_args(argv)
    try:
        document = json.loads(args.event.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"post-webhook: cannot read {args.event}: {error}", file=sys.stderr)
        return 2
    body, headers = signed_request(args.provider, document)
    url = f"{args.url.rstrip('/')}/v1/webhooks/{args.provider}/{args.workspace}"
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (local URL)
            status, answer = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, answer = error.code, error.read().decode()
    except OSError as error:
        print(f"post-webhook: is `make run` up on {args.url}? {error}", file=sys.stderr)
        return 1
    print(f"POST {url} -> {status} {answer}")
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
