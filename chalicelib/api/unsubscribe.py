"""Unsubscribe links (R5): mint (internal, JSON) and the public page / one-click endpoint (HTML)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api import unsubscribe_pages as pages
from chalicelib.api.forms import as_multidict, form_pairs
from chalicelib.api.http import ApiCall, api_route, services
from chalicelib.api.lazy import unsubscribe
from chalicelib.errors import InvalidInput, MalformedBody, NotFound, OptoutError
from chalicelib.observability import logger

bp = Blueprint(__name__)

FORM_TYPES = ["application/x-www-form-urlencoded", "multipart/form-data"]


def _language() -> str:
    """The person's language (Accept-Language, R16): en, fr or es."""
    headers = bp.current_request.headers
    return pages.language(headers.get("accept-language") if headers else None)


def _html(body: str, status: int = 200, extra: dict[str, str] | None = None) -> Response:
    return Response(body=body, status_code=status, headers={**pages.headers_for(_language()), **(extra or {})})


def handles_page_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """The HTML counterpart of http.handles_errors: every bad link gets the same 404 page, a bad
    form 400, and anything that may have left the opt-out unstored 503 (the mail client retries)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except NotFound:
            return _html(pages.invalid_link_page(_language()), 404)
        except (InvalidInput, MalformedBody):
            return _html(pages.bad_choice_page(_language()), 400)
        except OptoutError as error:
            if error.status < 500:
                return _html(pages.bad_choice_page(_language()), 400)
            logger.warning("unsubscribe not stored", extra={"error": error.code})
            return _html(pages.unavailable_page(_language()), 503, {"Retry-After": "5"})
        except Exception:
            logger.exception("unsubscribe failed")
            return _html(pages.unavailable_page(_language()), 503, {"Retry-After": "5"})

    return wrapper


@api_route(bp, "/v1/unsubscribe-links", "POST", body="json")
def handle_create_unsubscribe_link(call: ApiCall):
    return unsubscribe.mint_link(call.services, call.workspace_id, call.body)


@bp.route("/u/{token}", methods=["GET", "HEAD"])
@handles_page_errors
def handle_get_unsubscribe_page(token):
    return _html(pages.link_page(unsubscribe.describe_link(services(), token), _language()))


@bp.route("/u/{token}", methods=["POST"], content_types=FORM_TYPES)
@handles_page_errors
def handle_post_unsubscribe(token):
    try:
        form = as_multidict(form_pairs(bp.current_request))
    except MalformedBody:
        unsubscribe.describe_link(services(), token)  # a bad link answers the same 404 whatever the body
        raise
    return _html(pages.outcome_page(unsubscribe.apply_unsubscribe(services(), token, form), _language()))
