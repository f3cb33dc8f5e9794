from chalice import Blueprint

from chalicelib.api.http import handles_errors, json_body, json_response, require_admin, services
from chalicelib.services.workspaces import create_workspace

bp = Blueprint(__name__)


@bp.route("/v1/admin/workspaces", methods=["POST"])
@handles_errors
def handle_create_workspace():
    request = bp.current_request
    require_admin(request)
    body = json_body(request)
    created = create_workspace(
        services(), body.get("workspace_id"), body.get("settings"), body.get("twilio_auth_token")
    )
    return json_response(created, 201)
