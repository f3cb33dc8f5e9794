"""GET /openapi.json: the OpenAPI document of every route (API.md), public, no auth."""

from __future__ import annotations

import functools

from chalice import Blueprint, Response

from chalicelib.api.http import ApiCall, api_route

bp = Blueprint(__name__)


@functools.cache
def _document() -> str:
    # Built on first request, not at import: keeps the Lambda cold start free of it.
    from chalicelib.openapi import document_json

    return document_json()


@api_route(bp, "/openapi.json", "GET", auth="public")
def handle_get_openapi(call: ApiCall):
    return Response(body=_document(), status_code=200, headers={"Content-Type": "application/json"})
