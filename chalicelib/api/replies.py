"""Replies to sequences (R9)."""

from chalice import Blueprint

from chalicelib.api.http import ApiCall, api_route
from chalicelib.api.lazy import replies

bp = Blueprint(__name__)


@api_route(bp, "/v1/replies", "POST", body="json")
def handle_create_reply(call: ApiCall):
    return replies.record_reply(call.services, call.workspace_id, call.body)
