"""HTTP plumbing shared by every blueprint: the one route decorator (auth, body, JSON answer),
body parsing, and the one place where domain errors become responses."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.errors import MalformedBody, OptoutError, StoreUnavailable
from chalicelib.logic.bounded_json import MAX_JSON_DEPTH, JsonTooDeep, loads_bounded
from chalicelib.observability import logger
from chalicelib.services.context import Services, get_services
from chalicelib.services.workspaces import authenticate_admin, authenticate_workspace

JSON_HEADERS = {"Content-Type": "application/json"}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, separators=(",", ":")), status_code=status, headers={**JSON_HEADERS, **(headers or {})}
    )


def error_response(error: OptoutError) -> Response:
    return json_response(error.body(), error.status)


def handles_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Map domain errors to their 4xx/503 JSON body; anything unexpected is a 503 so a
    sender retries (never a 2xx for an unstored change)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except OptoutError as error:
            if error.status >= 500:
                logger.warning("request failed", extra={"error": error.code})
            return error_response(error)
        except RecursionError:
            # Only hostile input nests deep enough for this (every parser here bounds depth first):
            # the same request can never succeed, so never "retry".
            logger.warning("request refused: nested too deep")
            return error_response(_too_deep())
        except Exception:
            logger.exception("unhandled error")
            return error_response(StoreUnavailable("temporarily unavailable; retry"))

    return wrapper


def json_body(request: Request, *, required: bool = True) -> dict[str, Any]:
    raw = request.raw_body or b""
    if not raw.strip():
        if required:
            raise MalformedBody("a JSON object body is required", fields={"body": "required"})
        return {}
    try:
        body = loads_bounded(raw, parse_constant=_reject_constant)
    except JsonTooDeep:
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError):
        raise MalformedBody("body is not valid JSON", fields={"body": "invalid JSON"}) from None
    if not isinstance(body, dict):
        raise MalformedBody("body must be a JSON object", fields={"body": "must be an object"})
    return body


def _too_deep() -> MalformedBody:
    return MalformedBody(
        "body nests objects/arrays too deeply", fields={"body": f"nested deeper than {MAX_JSON_DEPTH} levels"}
    )


def _reject_constant(name: str) -> Any:
    """NaN/Infinity are not JSON (RFC 8259) and nothing downstream can store them."""
    raise ValueError(f"{name} is not valid JSON")


def services() -> Services:
    return get_services()


def workspace_of(request: Request) -> str:
    return authenticate_workspace(get_services(), dict(request.headers))


def require_admin(request: Request) -> None:
    authenticate_admin(get_services(), dict(request.headers))


def query_params(request: Request) -> dict[str, str]:
    return dict(request.query_params or {})


Auth = Literal["workspace", "admin", "public"]
BodyRule = Literal["json", "optional_json", "none"]


@dataclass(frozen=True)
class ApiCall:
    """What a view is given: the request and -- already checked and parsed -- the calling
    workspace (from its key; "" on admin and public routes) and the JSON body."""

    request: Request
    workspace_id: str
    body: dict[str, Any]

    @property
    def services(self) -> Services:
        # On use, not up front: a route that needs no store (GET /openapi.json) builds none.
        return get_services()

    @property
    def query(self) -> dict[str, str]:
        return query_params(self.request)

    @property
    def raw_body(self) -> bytes:
        raw = self.request.raw_body or b""
        return raw.encode("utf-8") if isinstance(raw, str) else raw

    def header(self, name: str) -> str:
        wanted = name.lower()
        return next((v for k, v in (self.request.headers or {}).items() if k.lower() == wanted), "")


def api_route(
    bp: Blueprint,
    path: str,
    method: str,
    *,
    status: int = 200,
    auth: Auth = "workspace",
    body: BodyRule = "none",
    content_types: list[str] | None = None,
    name: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``view(call, **path_params)`` as ``method path`` on ``bp``. In order: the key is
    checked (``auth``), the JSON body parsed (``body``: required, optional or not read), the view
    called; what it returns is answered as JSON with ``status`` (204: no body; a chalice Response
    as is), and a domain error as its 4xx/503 (``handles_errors``)."""
    route_options: dict[str, Any] = {"methods": [method]}
    if content_types is not None:
        route_options["content_types"] = content_types
    if name is not None:  # the view's name when one function serves several routes
        route_options["name"] = name

    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def endpoint(**path_params: str) -> Response:
            request = bp.current_request
            workspace_id = ""
            if auth == "workspace":
                workspace_id = workspace_of(request)
            elif auth == "admin":
                require_admin(request)
            parsed = json_body(request, required=body == "json") if body != "none" else {}
            answer = view(ApiCall(request, workspace_id, parsed), **path_params)
            if isinstance(answer, Response):
                return answer
            if status == 204:
                return Response(body="", status_code=204)
            return json_response(answer, status)

        return bp.route(path, **route_options)(handles_errors(endpoint))

    return register
