"""R8: SES notifications in both shapes (classic notificationType / event publishing eventType),
parsed from the real-shaped samples in events/ (built from the AWS SES documentation examples)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from chalicelib.models.ses import parse_ses_notification
from chalicelib.services.ses import outcomes

EVENTS = Path(__file__).resolve().parents[2] / "events"


def sns_message(name: str) -> str:
    """The SNS Message (a JSON string) inside a Lambda SNS event file."""
    event = json.loads((EVENTS / name).read_text())
    [record] = event["Records"]
    assert record["EventSource"] == "aws:sns"
    return record["Sns"]["Message"]


def test_r8_classic_permanent_bounce_covers_every_recipient():
    notification = parse_ses_notification(sns_message("ses-bounce-permanent.json"))
    assert (notification.type, notification.shape) == ("Bounce", "notification")
    assert notification.mail.tags == {}  # classic notifications carry no tags
    assert notification.mail.header("x-optout-workspace") is None
    decided = [(o.recipient, o.action, o.reason, o.kind) for o in outcomes(notification)]
    assert decided == [
        ("jane@example.com", "suppress", "hard_bounce", "temporary"),
        ("richard@example.com", "suppress", "hard_bounce", "temporary"),
    ]


def test_r8_suppression_list_bounce_is_permanent():
    notification = parse_ses_notification(sns_message("ses-bounce-suppressed.json"))
    assert notification.bounce is not None and notification.bounce.bounce_sub_type == "OnAccountSuppressionList"
    assert [(o.reason, o.kind) for o in outcomes(notification)] == [("suppression_list_bounce", "permanent")]


def test_r8_suppressed_subtype_is_permanent_too():
    data = json.loads(sns_message("ses-bounce-suppressed.json"))
    data["bounce"]["bounceSubType"] = "Suppressed"
    assert [(o.reason, o.kind) for o in outcomes(parse_ses_notification(data))] == [
        ("suppression_list_bounce", "permanent")
    ]


def test_r8_transient_bounce_is_counted_not_suppressed():
    notification = parse_ses_notification(sns_message("ses-bounce-transient.json"))
    assert [(o.action, o.reason) for o in outcomes(notification)] == [("count_soft_bounce", "soft_bounce_limit")]


def test_r8_classic_complaint_is_a_permanent_spam_complaint():
    notification = parse_ses_notification(sns_message("ses-complaint-classic.json"))
    assert (notification.type, notification.shape) == ("Complaint", "notification")
    assert [(o.recipient, o.reason, o.kind) for o in outcomes(notification)] == [
        ("richard@example.com", "spam_complaint", "permanent")
    ]


def test_r8_not_spam_feedback_is_not_a_complaint():
    data = json.loads(sns_message("ses-complaint-classic.json"))
    data["complaint"]["complaintFeedbackType"] = "not-spam"
    assert outcomes(parse_ses_notification(data)) == []


def test_r8_event_publishing_bounce_carries_tags_as_lists():
    notification = parse_ses_notification(sns_message("ses-event-bounce.json"))
    assert (notification.type, notification.shape) == ("Bounce", "event")
    assert notification.mail.tag("workspace") == "default"
    assert notification.mail.tags["ses:configuration-set"] == ["ConfigSet"]
    assert [(o.recipient, o.reason) for o in outcomes(notification)] == [("recipient@example.com", "hard_bounce")]


def test_r8_event_publishing_complaint():
    notification = parse_ses_notification(sns_message("ses-event-complaint.json"))
    assert (notification.type, notification.shape) == ("Complaint", "event")
    assert [o.reason for o in outcomes(notification)] == ["spam_complaint"]


def test_r8_other_event_types_and_undetermined_bounces_change_nothing():
    data = json.loads(sns_message("ses-event-bounce.json"))
    delivery = {"eventType": "Delivery", "mail": data["mail"], "delivery": {"recipients": ["recipient@example.com"]}}
    assert outcomes(parse_ses_notification(delivery)) == []
    data["bounce"]["bounceType"] = "Undetermined"
    assert outcomes(parse_ses_notification(data)) == []


def test_r8_unknown_fields_are_ignored():
    data = json.loads(sns_message("ses-event-bounce.json"))
    data["somethingNew"] = {"x": 1}
    data["bounce"]["newField"] = True
    assert parse_ses_notification(data).bounce is not None


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        "[]",
        "{}",
        '{"notificationType": "Bounce", "mail": {"messageId": "m"}}',  # bounce object missing
        '{"notificationType": "Bounce", "bounce": {"bounceType": "Permanent", "bouncedRecipients": []},'
        ' "mail": {"messageId": "m"}}',
        '{"eventType": "Complaint", "complaint": {"complainedRecipients": [{}]}, "mail": {"messageId": "m"}}',
        '{"notificationType": "Bounce", "bounce": {"bounceType": "Permanent",'
        ' "bouncedRecipients": [{"emailAddress": "a@b.co"}]}, "mail": {}}',  # no messageId
    ],
)
def test_r8_malformed_messages_are_rejected(message):
    with pytest.raises((ValidationError, ValueError)):
        parse_ses_notification(message)
