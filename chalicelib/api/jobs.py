"""Bulk unenrollment jobs (R11): POST /v1/unenrollments answers 202 at once; GET /v1/jobs/{id}."""

from chalice import Blueprint

from chalicelib.api.http import ApiCall, api_route
from chalicelib.api.lazy import jobs

bp = Blueprint(__name__)


@api_route(bp, "/v1/unenrollments", "POST", body="json", status=202)
def handle_create_unenrollment(call: ApiCall):
    return jobs.request_unenrollment(call.services, call.workspace_id, call.body)


@api_route(bp, "/v1/jobs/{job_id}", "GET")
def handle_get_job(call: ApiCall, job_id):
    return jobs.job_view(call.services, call.workspace_id, job_id)
