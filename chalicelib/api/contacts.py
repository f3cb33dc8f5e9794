from chalice import Blueprint

from chalicelib.api.http import ApiCall, api_route
from chalicelib.services.contacts import delete_contact, get_contact, put_contact

bp = Blueprint(__name__)


@api_route(bp, "/v1/contacts/{contact_id}", "PUT", body="json")
def handle_put_contact(call: ApiCall, contact_id):
    return put_contact(call.services, call.workspace_id, contact_id, call.body)


@api_route(bp, "/v1/contacts/{contact_id}", "GET")
def handle_get_contact(call: ApiCall, contact_id):
    return get_contact(call.services, call.workspace_id, contact_id)


@api_route(bp, "/v1/contacts/{contact_id}", "DELETE", status=204)
def handle_delete_contact(call: ApiCall, contact_id):
    delete_contact(call.services, call.workspace_id, contact_id)
