from chalice import Blueprint

from chalicelib.api.http import handles_errors, json_body, json_response, services, workspace_of
from chalicelib.services.workspaces import patch_settings, settings_view

bp = Blueprint(__name__)


@bp.route("/v1/settings", methods=["GET"])
@handles_errors
def handle_get_settings():
    workspace_id = workspace_of(bp.current_request)
    return json_response(settings_view(services().workspaces.get_settings(workspace_id)))


@bp.route("/v1/settings", methods=["PATCH"])
@handles_errors
def handle_patch_settings():
    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(patch_settings(services(), workspace_id, json_body(request)))
