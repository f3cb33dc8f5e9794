"""Topics and topic subscriptions (R16)."""

from chalice import Blueprint

from chalicelib.api.http import ApiCall, api_route
from chalicelib.services import topics
from chalicelib.services.subscriptions import request_subscription_change

bp = Blueprint(__name__)


@api_route(bp, "/v1/topics", "GET")
def handle_list_topics(call: ApiCall):
    return topics.list_topics(call.services, call.workspace_id)


@api_route(bp, "/v1/topics/{topic_id}", "PUT", body="json")
def handle_put_topic(call: ApiCall, topic_id):
    return topics.put_topic(call.services, call.workspace_id, topic_id, call.body)


@api_route(bp, "/v1/topics/{topic_id}", "GET")
def handle_get_topic(call: ApiCall, topic_id):
    return topics.get_topic(call.services, call.workspace_id, topic_id)


@api_route(bp, "/v1/topics/{topic_id}", "DELETE", status=204)
def handle_delete_topic(call: ApiCall, topic_id):
    topics.delete_topic(call.services, call.workspace_id, topic_id)


@api_route(bp, "/v1/subscriptions", "POST", body="json")
def handle_change_subscription(call: ApiCall):
    return request_subscription_change(call.services, call.workspace_id, call.body)
