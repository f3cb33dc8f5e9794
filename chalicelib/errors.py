"""Domain errors. Mapped to HTTP responses in one place (chalicelib/api/http.py).

Each error names its HTTP status and error code where it is declared:
``class NotFound(OptoutError, status=404, code="not_found")``; a subclass keeps what it does not name.
"""

from __future__ import annotations

from typing import Any


class OptoutError(Exception):
    status = 400
    code = "bad_request"

    def __init_subclass__(cls, *, status: int | None = None, code: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code

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


class InvalidInput(OptoutError, status=422, code="validation_error"):
    """A well-formed request with a value that is not acceptable; ``fields`` name each one."""


class MalformedBody(OptoutError, status=400, code="invalid_json"):
    """A body that cannot be read at all (not JSON, not the expected shape)."""


class Unauthorized(OptoutError, status=401, code="unauthorized"):
    """No credentials, or credentials nobody issued."""


class Forbidden(OptoutError, status=403, code="forbidden"):
    """Credentials that do not reach this: another kind of key, a bad webhook signature."""


class NotFound(OptoutError, status=404, code="not_found"):
    """Nothing of that id in the caller's workspace."""


class Conflict(OptoutError, status=409, code="conflict"):
    """The request contradicts the stored state."""


class DndClearRefused(Conflict):
    """A clear the rules of R2 do not allow (code permanent_dnd or spam_complaint)."""


class StoreUnavailable(OptoutError, status=503, code="store_unavailable"):
    """The store could not durably record the change; the caller must retry (never a 2xx)."""


class ConcurrentUpdate(StoreUnavailable, code="concurrent_update"):
    """Another writer won the race; the caller retries."""


class InvalidAddress(ValueError):
    """An email, phone or domain that cannot be normalized."""
