"""Exclusion rules (R10): /v1/exclusions."""

from chalice import Blueprint

from chalicelib.api.http import ApiCall, api_route
from chalicelib.api.lazy import exclusions

bp = Blueprint(__name__)


@api_route(bp, "/v1/exclusions", "POST", body="json", status=201)
def handle_create_exclusion(call: ApiCall):
    return exclusions.create_rule(call.services, call.workspace_id, call.body)


@api_route(bp, "/v1/exclusions", "GET")
def handle_list_exclusions(call: ApiCall):
    return exclusions.list_rules(call.services, call.workspace_id)


@api_route(bp, "/v1/exclusions/preview", "POST", body="json")
def handle_preview_exclusion(call: ApiCall):
    return exclusions.preview_rule(call.services, call.workspace_id, call.body)


@api_route(bp, "/v1/exclusions/import", "POST", status=201, content_types=["text/csv", "text/plain"])
def handle_import_exclusions(call: ApiCall):
    return exclusions.import_csv(call.services, call.workspace_id, call.query, call.request.raw_body)


@api_route(bp, "/v1/exclusions/{exclusion_id}", "GET")
def handle_get_exclusion(call: ApiCall, exclusion_id):
    return exclusions.get_rule(call.services, call.workspace_id, exclusion_id)


@api_route(bp, "/v1/exclusions/{exclusion_id}", "PATCH", body="json")
def handle_patch_exclusion(call: ApiCall, exclusion_id):
    return exclusions.patch_rule(call.services, call.workspace_id, exclusion_id, call.body)


@api_route(bp, "/v1/exclusions/{exclusion_id}", "DELETE", status=204)
def handle_delete_exclusion(call: ApiCall, exclusion_id):
    exclusions.delete_rule(call.services, call.workspace_id, exclusion_id)
