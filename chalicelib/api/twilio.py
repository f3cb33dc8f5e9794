"""Twilio webhooks (R6, R7): form-encoded in, TwiML out; 403 for anything not signed by Twilio."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Blueprint, Response

from chalicelib.api.forms import form_pairs, header
from chalicelib.api.http import ApiCall, api_route
from chalicelib.api.lazy import sms

if TYPE_CHECKING:
    from chalicelib.services.sms import TwilioRequest

bp = Blueprint(__name__)

FORM_TYPES = ["application/x-www-form-urlencoded"]
TWIML_HEADERS: dict[str, str | list[str]] = {"Content-Type": "text/xml; charset=utf-8"}


def _twilio_request(call: ApiCall, workspace_id: str, leaf: str) -> TwilioRequest:
    """Twilio signs the URL it was configured with: OPTOUT_PUBLIC_URL + this route's path + the
    query string as received (issue 11.7: in its order, with repeated names, in the spellings it
    can have -- see candidate_urls). Built from the route, not the incoming Host/stage, so proxies
    and stage prefixes cannot skew it."""
    from chalicelib.logic.twilio_signature import candidate_urls

    request = call.request
    params = request.query_params
    query = [(name, value) for name in (params or {}) for value in (params.getlist(name) if params else [])]
    path = f"/v1/webhooks/twilio/{workspace_id}/{leaf}"
    urls = tuple(candidate_urls(call.services.config.public_url, path, query))
    return sms.TwilioRequest(workspace_id, urls, form_pairs(request), header(request, "X-Twilio-Signature") or None)


def _twiml(body: str) -> Response:
    return Response(body=body, status_code=200, headers=TWIML_HEADERS)


@api_route(bp, "/v1/webhooks/twilio/{workspace_id}/sms", "POST", auth="public", content_types=FORM_TYPES)
def handle_twilio_inbound_sms(call: ApiCall, workspace_id):
    return _twiml(sms.handle_inbound_sms(call.services, _twilio_request(call, workspace_id, "sms")))


@api_route(bp, "/v1/webhooks/twilio/{workspace_id}/status", "POST", auth="public", content_types=FORM_TYPES)
def handle_twilio_status_callback(call: ApiCall, workspace_id):
    return _twiml(sms.handle_status_callback(call.services, _twilio_request(call, workspace_id, "status")))
