"""API keys of the calling workspace (R18): create, list, revoke."""

from chalice import Blueprint

from chalicelib.api.http import ApiCall, api_route
from chalicelib.services import workspaces

bp = Blueprint(__name__)


# No fields yet; a body, if sent, must still be JSON.
@api_route(bp, "/v1/keys", "POST", body="optional_json", status=201)
def handle_create_key(call: ApiCall):
    return workspaces.create_api_key(call.services, call.workspace_id)


@api_route(bp, "/v1/keys", "GET")
def handle_list_keys(call: ApiCall):
    return workspaces.list_api_keys(call.services, call.workspace_id)


@api_route(bp, "/v1/keys/{key_id}", "DELETE", status=204)
def handle_revoke_key(call: ApiCall, key_id):
    workspaces.revoke_api_key(call.services, call.workspace_id, key_id)
