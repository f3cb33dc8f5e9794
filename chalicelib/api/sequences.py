"""Sequences, audiences and enrollments (R11)."""

from chalice import Blueprint

from chalicelib.api.http import handles_errors, json_body, json_response, query_params, services, workspace_of
from chalicelib.services import enrollments

bp = Blueprint(__name__)


@bp.route("/v1/sequences/{sequence_id}", methods=["PUT"])
@handles_errors
def handle_put_sequence(sequence_id):
    request = bp.current_request
    workspace_id = workspace_of(request)
    body = json_body(request, required=False)
    return json_response(enrollments.put_sequence(services(), workspace_id, sequence_id, body))


@bp.route("/v1/sequences/{sequence_id}", methods=["GET"])
@handles_errors
def handle_get_sequence(sequence_id):
    workspace_id = workspace_of(bp.current_request)
    return json_response(enrollments.get_sequence(services(), workspace_id, sequence_id))


@bp.route("/v1/audiences/{audience_id}", methods=["PUT"])
@handles_errors
def handle_put_audience(audience_id):
    request = bp.current_request
    workspace_id = workspace_of(request)
    body = json_body(request, required=False)
    return json_response(enrollments.put_audience(services(), workspace_id, audience_id, body))


@bp.route("/v1/sequences/{sequence_id}/enrollments", methods=["POST"])
@handles_errors
def handle_create_enrollment(sequence_id):
    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(enrollments.enroll(services(), workspace_id, sequence_id, json_body(request)), 201)


@bp.route("/v1/sequences/{sequence_id}/enrollments", methods=["GET"])
@handles_errors
def handle_list_enrollments(sequence_id):
    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(enrollments.list_enrollments(services(), workspace_id, sequence_id, query_params(request)))


@bp.route("/v1/sequences/{sequence_id}/enrollments/{contact_id}", methods=["DELETE"])
@handles_errors
def handle_delete_enrollment(sequence_id, contact_id):
    workspace_id = workspace_of(bp.current_request)
    return json_response(enrollments.unenroll(services(), workspace_id, sequence_id, contact_id))
