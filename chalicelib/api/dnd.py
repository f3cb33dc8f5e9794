from chalice import Blueprint

from chalicelib.api.http import ApiCall, api_route
from chalicelib.services.dnd import audit_entries, audit_search_body, request_dnd_change

bp = Blueprint(__name__)


@api_route(bp, "/v1/dnd", "POST", body="json")
def handle_change_dnd(call: ApiCall):
    return request_dnd_change(call.services, call.workspace_id, call.body)


@api_route(bp, "/v1/audit", "GET")
def handle_get_audit(call: ApiCall):
    return audit_entries(call.services, call.workspace_id, call.query)


@api_route(bp, "/v1/audit/search", "POST", body="json")
def handle_search_audit(call: ApiCall):
    """The GET /v1/audit answer with the address in the body, so it stays out of URLs and access logs."""
    return audit_entries(call.services, call.workspace_id, audit_search_body(call.body))
