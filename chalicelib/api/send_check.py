from chalice import Blueprint

from chalicelib.api.http import ApiCall, api_route
from chalicelib.services.send_check import check_batch, check_one

bp = Blueprint(__name__)


@api_route(bp, "/v1/send-check", "POST", body="json")
def handle_send_check(call: ApiCall):
    return check_one(call.services, call.workspace_id, call.body)


@api_route(bp, "/v1/send-check/batch", "POST", body="json")
def handle_send_check_batch(call: ApiCall):
    return check_batch(call.services, call.workspace_id, call.body)
