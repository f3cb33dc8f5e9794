from chalice import Blueprint

from chalicelib.api.http import handles_errors, json_response, services
from chalicelib.services.crm import receive_crm_webhook

bp = Blueprint(__name__)


@bp.route("/v1/webhooks/crm/{provider}", methods=["POST"])
@handles_errors
def handle_crm_webhook(provider):
    """Public: authenticated by the workspace's CRM webhook secret (X-Optout-Signature), not a key."""
    request = bp.current_request
    raw = request.raw_body or b""
    raw = raw.encode() if isinstance(raw, str) else raw
    return json_response(receive_crm_webhook(services(), provider, dict(request.headers), raw))
