"""Amazon SES bounce and complaint notifications as SNS delivers them (R8).

Two shapes carry the same objects: identity feedback notifications (``notificationType``) and
configuration-set event publishing (``eventType``, with ``mail.tags`` as a dict of lists).
Powertools' ``SesModel`` describes inbound mail, not these, hence our own models. SES reserves
the right to add fields, so unknown ones are ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.logic.bounded_json import loads_bounded

SUPPRESSION_LIST_SUBTYPES = frozenset({"Suppressed", "OnAccountSuppressionList"})


class _SesObject(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class SesHeader(_SesObject):
    name: str
    value: str = ""


class SesMail(_SesObject):
    message_id: str = Field(alias="messageId", min_length=1, max_length=512)
    timestamp: str | None = None
    source: str | None = None
    source_arn: str | None = Field(default=None, alias="sourceArn")
    destination: list[str] = Field(default_factory=list)
    headers_truncated: bool | None = Field(default=None, alias="headersTruncated")
    headers: list[SesHeader] = Field(default_factory=list)
    tags: dict[str, list[str]] = Field(default_factory=dict)

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((h.value for h in self.headers if h.name.lower() == wanted), None)

    def tag(self, name: str) -> str | None:
        values = self.tags.get(name) or []
        return values[0] if values else None


class SesBouncedRecipient(_SesObject):
    email_address: str = Field(alias="emailAddress")
    action: str | None = None
    status: str | None = None
    diagnostic_code: str | None = Field(default=None, alias="diagnosticCode")


class SesBounce(_SesObject):
    bounce_type: str = Field(alias="bounceType")  # Undetermined | Permanent | Transient
    bounce_sub_type: str | None = Field(default=None, alias="bounceSubType")
    bounced_recipients: list[SesBouncedRecipient] = Field(alias="bouncedRecipients", min_length=1)
    timestamp: str | None = None
    feedback_id: str | None = Field(default=None, alias="feedbackId")

    @property
    def is_suppression_list(self) -> bool:
        return self.bounce_type == "Permanent" and self.bounce_sub_type in SUPPRESSION_LIST_SUBTYPES


class SesComplainedRecipient(_SesObject):
    email_address: str = Field(alias="emailAddress")


class SesComplaint(_SesObject):
    complained_recipients: list[SesComplainedRecipient] = Field(alias="complainedRecipients", min_length=1)
    complaint_feedback_type: str | None = Field(default=None, alias="complaintFeedbackType")
    complaint_sub_type: str | None = Field(default=None, alias="complaintSubType")
    timestamp: str | None = None
    feedback_id: str | None = Field(default=None, alias="feedbackId")

    @property
    def is_not_spam(self) -> bool:
        return (self.complaint_feedback_type or "").lower() == "not-spam"


class SesNotification(_SesObject):
    """One SES notification, whichever shape it arrived in."""

    type: str  # Bounce | Complaint | Delivery | Send | ...
    shape: Literal["notification", "event"]
    mail: SesMail
    bounce: SesBounce | None = None
    complaint: SesComplaint | None = None

    @model_validator(mode="before")
    @classmethod
    def _unify_shapes(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("an SES notification is a JSON object")
        if isinstance(data.get("eventType"), str):
            return {**data, "type": data["eventType"], "shape": "event"}
        if isinstance(data.get("notificationType"), str):
            return {**data, "type": data["notificationType"], "shape": "notification"}
        raise ValueError("neither notificationType nor eventType")

    @model_validator(mode="after")
    def _has_its_object(self) -> SesNotification:
        if self.type == "Bounce" and self.bounce is None:
            raise ValueError("a Bounce notification needs a bounce object")
        if self.type == "Complaint" and self.complaint is None:
            raise ValueError("a Complaint notification needs a complaint object")
        return self


def parse_ses_notification(message: str | bytes | dict[str, Any]) -> SesNotification:
    """The SNS ``Message`` (a JSON string) as a SesNotification; ValueError/ValidationError if not one."""
    # Bounded: an SNS message nested 100,000 deep is a malformed notification (dropped), not a retry.
    data = loads_bounded(message) if isinstance(message, str | bytes) else message
    return SesNotification.model_validate(data)
