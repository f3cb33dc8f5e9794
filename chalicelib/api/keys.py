"""API keys of the calling workspace (R18): create, list, revoke."""

from chalice import Blueprint, Response

from chalicelib.api.http import handles_errors, json_body, json_response, services, workspace_of
from chalicelib.services import workspaces

bp = Blueprint(__name__)


@bp.route("/v1/keys", methods=["POST"])
@handles_errors
def handle_create_key():
    request = bp.current_request
    workspace_id = workspace_of(request)
    json_body(request, required=False)  # no fields yet; a body, if sent, must still be JSON
    return json_response(workspaces.create_api_key(services(), workspace_id), 201)


@bp.route("/v1/keys", methods=["GET"])
@handles_errors
def handle_list_keys():
    workspace_id = workspace_of(bp.current_request)
    return json_response(workspaces.list_api_keys(services(), workspace_id))


@bp.route("/v1/keys/{key_id}", methods=["DELETE"])
@handles_errors
def handle_revoke_key(key_id):
    workspace_id = workspace_of(bp.current_request)
    workspaces.revoke_api_key(services(), workspace_id, key_id)
    return Response(body="", status_code=204)
