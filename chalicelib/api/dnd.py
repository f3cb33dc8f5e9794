from chalice import Blueprint

from chalicelib.api.http import handles_errors, json_body, json_response, query_params, services, workspace_of
from chalicelib.services.dnd import audit_entries, audit_search_body, request_dnd_change

bp = Blueprint(__name__)


@bp.route("/v1/dnd", methods=["POST"])
@handles_errors
def handle_change_dnd():
    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(request_dnd_change(services(), workspace_id, json_body(request)))


@bp.route("/v1/audit", methods=["GET"])
@handles_errors
def handle_get_audit():
    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(audit_entries(services(), workspace_id, query_params(request)))


@bp.route("/v1/audit/search", methods=["POST"])
@handles_errors
def handle_search_audit():
    """The GET /v1/audit answer with the address in the body, so it stays out of URLs and access logs."""
    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(audit_entries(services(), workspace_id, audit_search_body(json_body(request))))
