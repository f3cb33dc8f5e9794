"""Flags a person acts on (R15): GET /v1/flags, POST /v1/flags/{flag_id}."""

from chalice import Blueprint

from chalicelib.api.http import handles_errors, json_body, json_response, query_params, services, workspace_of

# Services are imported in the views: a cold start should not pay for rarely used paths.
bp = Blueprint(__name__)


@bp.route("/v1/flags", methods=["GET"])
@handles_errors
def handle_list_flags():
    from chalicelib.services.flags import list_flags

    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(list_flags(services(), workspace_id, query_params(request)))


@bp.route("/v1/flags/{flag_id}", methods=["POST"])
@handles_errors
def handle_resolve_flag(flag_id):
    from chalicelib.services.flags import resolve_flag

    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(resolve_flag(services(), workspace_id, flag_id, json_body(request)))
