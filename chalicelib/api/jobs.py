"""Bulk unenrollment jobs (R11): POST /v1/unenrollments answers 202 at once; GET /v1/jobs/{id}."""

from chalice import Blueprint

from chalicelib.api.http import handles_errors, json_body, json_response, services, workspace_of
from chalicelib.services import jobs

bp = Blueprint(__name__)


@bp.route("/v1/unenrollments", methods=["POST"])
@handles_errors
def handle_create_unenrollment():
    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(jobs.request_unenrollment(services(), workspace_id, json_body(request)), 202)


@bp.route("/v1/jobs/{job_id}", methods=["GET"])
@handles_errors
def handle_get_job(job_id):
    workspace_id = workspace_of(bp.current_request)
    return json_response(jobs.job_view(services(), workspace_id, job_id))
