from chalice import Blueprint, Response

from chalicelib.api.http import handles_errors, json_body, json_response, services, workspace_of
from chalicelib.services.contacts import delete_contact, get_contact, put_contact

bp = Blueprint(__name__)


@bp.route("/v1/contacts/{contact_id}", methods=["PUT"])
@handles_errors
def handle_put_contact(contact_id):
    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(put_contact(services(), workspace_id, contact_id, json_body(request)))


@bp.route("/v1/contacts/{contact_id}", methods=["GET"])
@handles_errors
def handle_get_contact(contact_id):
    workspace_id = workspace_of(bp.current_request)
    return json_response(get_contact(services(), workspace_id, contact_id))


@bp.route("/v1/contacts/{contact_id}", methods=["DELETE"])
@handles_errors
def handle_delete_contact(contact_id):
    workspace_id = workspace_of(bp.current_request)
    delete_contact(services(), workspace_id, contact_id)
    return Response(body="", status_code=204)
