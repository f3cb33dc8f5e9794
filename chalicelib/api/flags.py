"""Flags a person acts on (R15): GET /v1/flags, POST /v1/flags/{flag_id}."""

from chalice import Blueprint

from chalicelib.api.http import ApiCall, api_route
from chalicelib.api.lazy import flags

bp = Blueprint(__name__)


@api_route(bp, "/v1/flags", "GET")
def handle_list_flags(call: ApiCall):
    return flags.list_flags(call.services, call.workspace_id, call.query)


@api_route(bp, "/v1/flags/{flag_id}", "POST", body="json")
def handle_resolve_flag(call: ApiCall, flag_id):
    return flags.resolve_flag(call.services, call.workspace_id, flag_id, call.body)
