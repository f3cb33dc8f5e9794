from chalice import Blueprint

from chalicelib.api.http import ApiCall, api_route
from chalicelib.services.workspaces import admin_patch_workspace, create_workspace

bp = Blueprint(__name__)


@api_route(bp, "/v1/admin/workspaces", "POST", auth="admin", body="json", status=201)
def handle_create_workspace(call: ApiCall):
    return create_workspace(call.services, call.body)


@api_route(bp, "/v1/admin/workspaces/{workspace_id}", "PATCH", auth="admin", body="json")
def handle_patch_workspace(call: ApiCall, workspace_id):
    """Operator-only settings: the SES sending identities (which workspace a bounce lands in), the
    Twilio auth token, and any other setting of the workspace."""
    return admin_patch_workspace(call.services, workspace_id, call.body)
