"""Bulk unenrollment jobs (R11): POST /v1/unenrollments answers 202 at once; GET /v1/jobs/{id}."""

from chalice import Blueprint

from chalicelib.api.http import handles_errors, json_body, json_response, services, workspace_of

# Services are imported in the views: a cold start (every route and handler shares one app import)
# should not pay for rarely used paths (issue 6, cold_import_ratio).
bp = Blueprint(__name__)


@bp.route("/v1/unenrollments", methods=["POST"])
@handles_errors
def handle_create_unenrollment():
    from chalicelib.services import jobs

    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(jobs.request_unenrollment(services(), workspace_id, json_body(request)), 202)


@bp.route("/v1/jobs/{job_id}", methods=["GET"])
@handles_errors
def handle_get_job(job_id):
    from chalicelib.services import jobs

    workspace_id = workspace_of(bp.current_request)
    return json_response(jobs.job_view(services(), workspace_id, job_id))
