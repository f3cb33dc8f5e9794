from urllib.parse import unquote, urlencode

from chalice import Blueprint

from chalicelib.api.http import ApiCall, api_route
from chalicelib.api.lazy import crm

bp = Blueprint(__name__)


@api_route(bp, "/v1/webhooks/crm/{provider}", "POST", auth="public")
def handle_crm_webhook(call: ApiCall, provider):
    """Public: authenticated by the workspace's CRM webhook secret (X-Optout-Signature), not a key."""
    return crm.receive_crm_webhook(call.services, provider, dict(call.request.headers), call.raw_body)


@api_route(bp, "/v1/webhooks/crm/{provider}/{workspace_id}", "POST", auth="public")
def handle_crm_workspace_webhook(call: ApiCall, provider, workspace_id):
    """Public: the CRM's own signature (HubSpot v3) with the workspace's CRM webhook secret. HubSpot
    signs the URL it was configured with: OPTOUT_PUBLIC_URL + this route's path (+ query), built
    from the route, not the incoming Host/stage, so proxies and stage prefixes cannot skew it."""
    request = call.request
    # API Gateway decodes path parameters, the local server does not ('%' is never in a valid id).
    workspace_id = unquote(workspace_id)
    uri = f"{call.services.config.public_url.rstrip('/')}/v1/webhooks/crm/{provider}/{workspace_id}"
    query = request.query_params
    if query:
        uri += "?" + urlencode([(name, value) for name in query for value in query.getlist(name)])
    headers = dict(request.headers)
    return crm.receive_crm_workspace_webhook(
        call.services, provider, workspace_id, headers, call.raw_body, method=request.method, uri=uri
    )
