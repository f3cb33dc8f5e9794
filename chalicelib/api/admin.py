from chalice import Blueprint

from chalicelib.api.http import handles_errors, json_body, json_response, require_admin, services
from chalicelib.services.workspaces import admin_patch_workspace, create_workspace

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


@bp.route("/v1/admin/workspaces/{workspace_id}", methods=["PATCH"])
@handles_errors
def handle_patch_workspace(workspace_id):
    """Operator-only settings: the SES sending identities (which workspace a bounce lands in), the
    Twilio auth token, and any other setting of the workspace."""
    request = bp.current_request
    require_admin(request)
    return json_response(admin_patch_workspace(services(), workspace_id, json_body(request)))
