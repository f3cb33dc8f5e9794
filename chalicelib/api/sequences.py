"""Sequences, audiences and enrollments (R11)."""

from chalice import Blueprint

from chalicelib.api.http import ApiCall, api_route
from chalicelib.services import enrollments

bp = Blueprint(__name__)


@api_route(bp, "/v1/sequences/{sequence_id}", "PUT", body="optional_json")
def handle_put_sequence(call: ApiCall, sequence_id):
    return enrollments.put_sequence(call.services, call.workspace_id, sequence_id, call.body)


@api_route(bp, "/v1/sequences/{sequence_id}", "GET")
def handle_get_sequence(call: ApiCall, sequence_id):
    return enrollments.get_sequence(call.services, call.workspace_id, sequence_id)


@api_route(bp, "/v1/audiences/{audience_id}", "PUT", body="optional_json")
def handle_put_audience(call: ApiCall, audience_id):
    return enrollments.put_audience(call.services, call.workspace_id, audience_id, call.body)


@api_route(bp, "/v1/sequences/{sequence_id}/enrollments", "POST", body="json", status=201)
def handle_create_enrollment(call: ApiCall, sequence_id):
    return enrollments.enroll(call.services, call.workspace_id, sequence_id, call.body)


@api_route(bp, "/v1/sequences/{sequence_id}/enrollments", "GET")
def handle_list_enrollments(call: ApiCall, sequence_id):
    return enrollments.list_enrollments(call.services, call.workspace_id, sequence_id, call.query)


@api_route(bp, "/v1/sequences/{sequence_id}/enrollments/{contact_id}", "DELETE")
def handle_delete_enrollment(call: ApiCall, sequence_id, contact_id):
    return enrollments.unenroll(call.services, call.workspace_id, sequence_id, contact_id)
