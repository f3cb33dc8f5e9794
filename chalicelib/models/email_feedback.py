"""Email feedback from any provider (R8, R19), as one provider-neutral record.

SES notifications and the SendGrid, Mailgun and Postmark webhooks are parsed (``chalicelib/
email_providers/``, ``chalicelib/services/ses.py``) into ``EmailFeedback`` records; one function,
``chalicelib.services.email_feedback.record_email_feedback``, turns them into DND changes. What each
signal means for DND is decided here, once, so every provider gets the same reasons, kinds and sources.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from chalicelib.models.domain import (
    REASON_HARD_BOUNCE,
    REASON_SOFT_BOUNCES,
    REASON_SPAM_COMPLAINT,
    REASON_SUPPRESSED_BOUNCE,
    REASON_UNSUBSCRIBED,
    Kind,
    Source,
)

# What the provider told us about one recipient:
Signal = Literal[
    "hard_bounce",  # permanent delivery failure
    "suppression_list_bounce",  # the provider refused to send: the address is on its bounce suppression list
    "soft_bounce",  # temporary failure: counted per address, N within the window -> DND
    "complaint",  # the person marked a message as spam
    "unsubscribe",  # the person unsubscribed through the provider's link or list-unsubscribe
    "provider_suppression",  # the sender's own team suppressed the address at the provider
    "reactivation",  # the sender's team reactivated the address at the provider
    "resubscribe",  # the person resubscribed to a provider's unsubscribe group (topics only)
]
Action = Literal["suppress", "count_soft_bounce", "clear", "resubscribe"]

REASON_PROVIDER_SUPPRESSION = "provider_suppression"
# What a provider's reactivation may clear: entries a bounce or a provider suppression set, never the
# person's own unsubscribe nor a complaint (those need their re-opt-in, SPEC R2).
REACTIVATION_CLEARS = frozenset({REASON_HARD_BOUNCE, REASON_SOFT_BOUNCES, REASON_PROVIDER_SUPPRESSION})


@dataclass(frozen=True)
class FeedbackRule:
    action: Action
    reason: str
    kind: Kind
    source: Source


RULES: dict[Signal, FeedbackRule] = {
    # Hard bounces are temporary (SPEC R2): a user may clear them once the address is fixed.
    "hard_bounce": FeedbackRule("suppress", REASON_HARD_BOUNCE, "temporary", "system"),
    "suppression_list_bounce": FeedbackRule("suppress", REASON_SUPPRESSED_BOUNCE, "permanent", "system"),
    "soft_bounce": FeedbackRule("count_soft_bounce", REASON_SOFT_BOUNCES, "temporary", "system"),
    "complaint": FeedbackRule("suppress", REASON_SPAM_COMPLAINT, "permanent", "system"),
    # The person's own opt-out: the same reason as our unsubscribe links, so the same rules apply.
    "unsubscribe": FeedbackRule("suppress", REASON_UNSUBSCRIBED, "permanent", "contact"),
    "provider_suppression": FeedbackRule("suppress", REASON_PROVIDER_SUPPRESSION, "temporary", "system"),
    "reactivation": FeedbackRule("clear", "provider_reactivation", "temporary", "user"),
    # Only where a topic maps the provider's group (R16): the person's own re-opt-in to that topic.
    "resubscribe": FeedbackRule("resubscribe", "topic_resubscribed", "temporary", "contact"),
}


@dataclass(frozen=True)
class EmailFeedback:
    """One signal about one recipient, from one provider event.

    ``provider``: ``ses`` or a name in ``chalicelib/email_providers/registry.py``. ``event_id`` is the
    provider's natural id of the event (SES messageId, SendGrid sg_event_id, Mailgun event id, Postmark
    bounce ID...): with the provider and the recipient it makes the exactly-once marker, and it is the
    soft-bounce counter's key. ``recipient`` is the address as the provider sent it (normalized when
    recorded). ``group_id``: the provider's unsubscribe group (SendGrid ASM group). ``action``,
    ``reason``, ``kind`` and ``source`` are the signal's ``RULES`` entry, filled in on creation.
    """

    provider: str
    event_id: str
    recipient: str
    signal: Signal
    group_id: int | None = None
    note: str | None = None
    action: Action = field(init=False, repr=False, compare=False)
    reason: str = field(init=False, repr=False, compare=False)
    kind: Kind = field(init=False, repr=False, compare=False)
    source: Source = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, value in asdict(self.rule).items():
            object.__setattr__(self, name, value)

    @property
    def rule(self) -> FeedbackRule:
        return RULES[self.signal]

    @property
    def delivery_key(self) -> str:
        """The event's id across providers. SES keeps its bare messageId (the key counters and markers
        already used before other providers existed, so in-flight redeliveries still match)."""
        return self.event_id if self.provider == "ses" else f"{self.provider}:{self.event_id}"
