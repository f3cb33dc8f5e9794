from chalice import Blueprint

from chalicelib.api.http import handles_errors, json_body, json_response, services, workspace_of
from chalicelib.services.send_check import check_batch, check_one

bp = Blueprint(__name__)


@bp.route("/v1/send-check", methods=["POST"])
@handles_errors
def handle_send_check():
    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(check_one(services(), workspace_id, json_body(request)))


@bp.route("/v1/send-check/batch", methods=["POST"])
@handles_errors
def handle_send_check_batch():
    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(check_batch(services(), workspace_id, json_body(request)))
