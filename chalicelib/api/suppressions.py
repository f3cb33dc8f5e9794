"""Adoption and audit (R18): import suppressions, list them, export them (jobs)."""

from chalice import Blueprint

from chalicelib.api.http import handles_errors, json_body, json_response, query_params, services, workspace_of

bp = Blueprint(__name__)


@bp.route("/v1/suppressions/import", methods=["POST"], content_types=["text/csv", "application/x-ndjson", "text/plain"])
@handles_errors
def handle_import_suppressions():
    from chalicelib.services import suppressions

    request = bp.current_request
    workspace_id = workspace_of(request)
    content_type = next((v for k, v in request.headers.items() if k.lower() == "content-type"), "")
    raw = request.raw_body or b""
    body = raw.encode() if isinstance(raw, str) else raw
    answer = suppressions.request_import(services(), workspace_id, content_type, body)
    return json_response(answer, 202)


@bp.route("/v1/suppressions", methods=["GET"])
@handles_errors
def handle_list_suppressions():
    from chalicelib.services import suppressions

    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(suppressions.list_suppressions(services(), workspace_id, query_params(request)))


@bp.route("/v1/exports", methods=["POST"])
@handles_errors
def handle_create_export():
    from chalicelib.services import suppressions

    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(suppressions.request_export(services(), workspace_id, json_body(request)), 202)
