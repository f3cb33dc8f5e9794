"""Form bodies (application/x-www-form-urlencoded and multipart/form-data), stdlib only.

Used by the public routes: unsubscribe posts (RFC 8058 allows either encoding) and Twilio
webhooks (urlencoded). Values keep their order; repeated names keep every value.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from chalice.app import Request

from chalicelib.errors import MalformedBody

MAX_FORM_BYTES = 64 * 1024


def header(request: Request, name: str) -> str:
    wanted = name.lower()
    return next((v for k, v in (request.headers or {}).items() if k.lower() == wanted), "")


def form_pairs(request: Request) -> list[tuple[str, str]]:
    """Every (name, value) of the body in order; MalformedBody for other or broken encodings."""
    body = request.raw_body or b""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > MAX_FORM_BYTES:
        raise MalformedBody("form body too large", fields={"body": "too large"})
    content_type = header(request, "content-type")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        return _multipart_pairs(content_type, raw)
    if media_type in ("application/x-www-form-urlencoded", ""):
        try:
            text = raw.decode("utf-8")
            return parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise MalformedBody("body is not a valid form", fields={"body": "invalid form encoding"}) from None
    raise MalformedBody("unsupported content type", fields={"Content-Type": "expected a form encoding"})


def as_multidict(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


def _multipart_pairs(content_type: str, raw: bytes) -> list[tuple[str, str]]:
    if "boundary=" not in content_type.lower():
        raise MalformedBody("multipart body without a boundary", fields={"Content-Type": "boundary missing"})
    # Imported here: the email package's header machinery is a cold-start cost only multipart posts need.
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", errors="replace") + b"\r\nMIME-Version: 1.0\r\n\r\n" + raw
    )
    if not message.is_multipart():
        raise MalformedBody("body is not a valid multipart form", fields={"body": "invalid multipart"})
    pairs: list[tuple[str, str]] = []
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        if not name or part.get_filename():
            continue  # files are never part of an unsubscribe or webhook form
        payload = part.get_payload(decode=True) or b""
        if not isinstance(payload, bytes):
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            pairs.append((str(name), payload.decode(charset)))
        except (LookupError, UnicodeDecodeError):
            raise MalformedBody("body is not a valid multipart form", fields={"body": "invalid encoding"}) from None
    return pairs
