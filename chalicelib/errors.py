"""Domain errors. Mapped to HTTP responses in one place (chalicelib/api/http.py)."""

from __future__ import annotations

from typing import Any


class OptoutError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        fields: dict[str, str] | None = None,
        code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code:
            self.code = code
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "fields": self.fields, **self.extra}


class InvalidInput(OptoutError):
    status = 422
    code = "validation_error"


class MalformedBody(OptoutError):
    status = 400
    code = "invalid_json"


class Unauthorized(OptoutError):
    status = 401
    code = "unauthorized"


class Forbidden(OptoutError):
    status = 403
    code = "forbidden"


class NotFound(OptoutError):
    status = 404
    code = "not_found"


class Conflict(OptoutError):
    status = 409
    code = "conflict"


class DndClearRefused(Conflict):
    """A clear the rules of R2 do not allow (code permanent_dnd or spam_complaint)."""


class StoreUnavailable(OptoutError):
    """The store could not durably record the change; the caller must retry (never a 2xx)."""

    status = 503
    code = "store_unavailable"


class ConcurrentUpdate(StoreUnavailable):
    code = "concurrent_update"


class InvalidAddress(ValueError):
    """An email, phone or domain that cannot be normalized."""
