"""Exclusion rules (R10): /v1/exclusions."""

from chalice import Blueprint, Response

from chalicelib.api.http import handles_errors, json_body, json_response, query_params, services, workspace_of

# Services are imported in the views: a cold start (every route and handler shares one app import)
# should not pay for rarely used paths (issue 6, cold_import_ratio).
bp = Blueprint(__name__)


@bp.route("/v1/exclusions", methods=["POST"])
@handles_errors
def handle_create_exclusion():
    from chalicelib.services import exclusions

    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(exclusions.create_rule(services(), workspace_id, json_body(request)), 201)


@bp.route("/v1/exclusions", methods=["GET"])
@handles_errors
def handle_list_exclusions():
    from chalicelib.services import exclusions

    workspace_id = workspace_of(bp.current_request)
    return json_response(exclusions.list_rules(services(), workspace_id))


@bp.route("/v1/exclusions/preview", methods=["POST"])
@handles_errors
def handle_preview_exclusion():
    from chalicelib.services import exclusions

    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(exclusions.preview_rule(services(), workspace_id, json_body(request)))


@bp.route("/v1/exclusions/import", methods=["POST"], content_types=["text/csv", "text/plain"])
@handles_errors
def handle_import_exclusions():
    from chalicelib.services import exclusions

    request = bp.current_request
    workspace_id = workspace_of(request)
    answer = exclusions.import_csv(services(), workspace_id, query_params(request), request.raw_body)
    return json_response(answer, 201)


@bp.route("/v1/exclusions/{exclusion_id}", methods=["GET"])
@handles_errors
def handle_get_exclusion(exclusion_id):
    from chalicelib.services import exclusions

    workspace_id = workspace_of(bp.current_request)
    return json_response(exclusions.get_rule(services(), workspace_id, exclusion_id))


@bp.route("/v1/exclusions/{exclusion_id}", methods=["PATCH"])
@handles_errors
def handle_patch_exclusion(exclusion_id):
    from chalicelib.services import exclusions

    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(exclusions.patch_rule(services(), workspace_id, exclusion_id, json_body(request)))


@bp.route("/v1/exclusions/{exclusion_id}", methods=["DELETE"])
@handles_errors
def handle_delete_exclusion(exclusion_id):
    from chalicelib.services import exclusions

    workspace_id = workspace_of(bp.current_request)
    exclusions.delete_rule(services(), workspace_id, exclusion_id)
    return Response(body="", status_code=204)
