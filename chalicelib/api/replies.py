"""Replies to sequences (R9)."""

from chalice import Blueprint

from chalicelib.api.http import handles_errors, json_body, json_response, services, workspace_of
from chalicelib.services.replies import record_reply

bp = Blueprint(__name__)


@bp.route("/v1/replies", methods=["POST"])
@handles_errors
def handle_create_reply():
    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(record_reply(services(), workspace_id, json_body(request)))
