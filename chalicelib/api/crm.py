from urllib.parse import unquote, urlencode

from chalice import Blueprint

from chalicelib.api.http import handles_errors, json_response, services
from chalicelib.services.crm import receive_crm_webhook, receive_crm_workspace_webhook

bp = Blueprint(__name__)


def _raw_body() -> bytes:
    raw = bp.current_request.raw_body or b""
    return raw.encode() if isinstance(raw, str) else raw


@bp.route("/v1/webhooks/crm/{provider}", methods=["POST"])
@handles_errors
def handle_crm_webhook(provider):
    """Public: authenticated by the workspace's CRM webhook secret (X-Optout-Signature), not a key."""
    request = bp.current_request
    return json_response(receive_crm_webhook(services(), provider, dict(request.headers), _raw_body()))


@bp.route("/v1/webhooks/crm/{provider}/{workspace_id}", methods=["POST"])
@handles_errors
def handle_crm_workspace_webhook(provider, workspace_id):
    """Public: the CRM's own signature (HubSpot v3) with the workspace's CRM webhook secret. HubSpot
    signs the URL it was configured with: OPTOUT_PUBLIC_URL + this route's path (+ query), built
    from the route, not the incoming Host/stage, so proxies and stage prefixes cannot skew it."""
    request = bp.current_request
    # API Gateway decodes path parameters, the local server does not ('%' is never in a valid id).
    workspace_id = unquote(workspace_id)
    uri = f"{services().config.public_url.rstrip('/')}/v1/webhooks/crm/{provider}/{workspace_id}"
    query = request.query_params
    if query:
        uri += "?" + urlencode([(name, value) for name in query for value in query.getlist(name)])
    answer = receive_crm_workspace_webhook(
        services(), provider, workspace_id, dict(request.headers), _raw_body(), method=request.method, uri=uri
    )
    return json_response(answer)
