"""Replies to sequences (R9)."""

from chalice import Blueprint

from chalicelib.api.http import handles_errors, json_body, json_response, services, workspace_of

# Services are imported in the views: a cold start (every route and handler shares one app import)
# should not pay for rarely used paths (issue 6, cold_import_ratio).
bp = Blueprint(__name__)


@bp.route("/v1/replies", methods=["POST"])
@handles_errors
def handle_create_reply():
    from chalicelib.services.replies import record_reply

    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(record_reply(services(), workspace_id, json_body(request)))
