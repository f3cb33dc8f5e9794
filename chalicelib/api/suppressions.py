"""Adoption and audit (R18): import suppressions, list them, export them (jobs)."""

from chalice import Blueprint

from chalicelib.api.http import ApiCall, api_route
from chalicelib.api.lazy import suppressions

bp = Blueprint(__name__)

IMPORT_TYPES = ["text/csv", "application/x-ndjson", "text/plain"]


@api_route(bp, "/v1/suppressions/import", "POST", status=202, content_types=IMPORT_TYPES)
def handle_import_suppressions(call: ApiCall):
    content_type = call.header("content-type")
    return suppressions.request_import(call.services, call.workspace_id, content_type, call.raw_body)


@api_route(bp, "/v1/suppressions", "GET")
def handle_list_suppressions(call: ApiCall):
    return suppressions.list_suppressions(call.services, call.workspace_id, call.query)


@api_route(bp, "/v1/exports", "POST", body="json", status=202)
def handle_create_export(call: ApiCall):
    return suppressions.request_export(call.services, call.workspace_id, call.body)
