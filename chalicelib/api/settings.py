from chalice import Blueprint

from chalicelib.api.http import ApiCall, api_route
from chalicelib.services.workspaces import patch_settings, settings_view

bp = Blueprint(__name__)


@api_route(bp, "/v1/settings", "GET")
def handle_get_settings(call: ApiCall):
    return settings_view(call.services.workspaces.get_settings(call.workspace_id))


@api_route(bp, "/v1/settings", "PATCH", body="json")
def handle_patch_settings(call: ApiCall):
    return patch_settings(call.services, call.workspace_id, call.body)
