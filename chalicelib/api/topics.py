"""Topics and topic subscriptions (R16)."""

from chalice import Blueprint, Response

from chalicelib.api.http import handles_errors, json_body, json_response, services, workspace_of
from chalicelib.services import topics
from chalicelib.services.subscriptions import request_subscription_change

bp = Blueprint(__name__)


@bp.route("/v1/topics", methods=["GET"])
@handles_errors
def handle_list_topics():
    workspace_id = workspace_of(bp.current_request)
    return json_response(topics.list_topics(services(), workspace_id))


@bp.route("/v1/topics/{topic_id}", methods=["PUT"])
@handles_errors
def handle_put_topic(topic_id):
    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(topics.put_topic(services(), workspace_id, topic_id, json_body(request)))


@bp.route("/v1/topics/{topic_id}", methods=["GET"])
@handles_errors
def handle_get_topic(topic_id):
    workspace_id = workspace_of(bp.current_request)
    return json_response(topics.get_topic(services(), workspace_id, topic_id))


@bp.route("/v1/topics/{topic_id}", methods=["DELETE"])
@handles_errors
def handle_delete_topic(topic_id):
    workspace_id = workspace_of(bp.current_request)
    topics.delete_topic(services(), workspace_id, topic_id)
    return Response(body="", status_code=204)


@bp.route("/v1/subscriptions", methods=["POST"])
@handles_errors
def handle_change_subscription():
    request = bp.current_request
    workspace_id = workspace_of(request)
    return json_response(request_subscription_change(services(), workspace_id, json_body(request)))
