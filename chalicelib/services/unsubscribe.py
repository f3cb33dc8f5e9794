"""Unsubscribe links and one-click unsubscribe (R5).

Minting: a signed token naming the workspace, the recipient (contact id, or the keyed hash of
an email address -- never the address itself), the channel and the optional sequence; a contact's
link also carries the keyed hashes of the contact's email and phone.
Reading a link (GET) only verifies and describes it; applying it (POST) records a permanent
DND from the person themselves and removes them from the sequences their choice covers.

A link outlives its contact (R3, R5): once the contact is erased, the opt-out lands on the
contact's tombstone and on the address items named by the hashes the link carries, so the
addresses stay suppressed and a contact created later with one of them is blocked. A link minted
before the hashes were carried still records the opt-out on the tombstone.
A link never expires (R15): an authentic token is honoured however old. Every bad link --
malformed, tampered, signed by an unknown key, naming a workspace that does not exist or a
contact that never did -- is the same InvalidLink, so the page reveals nothing about which check
failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib.errors import InvalidInput, NotFound
from chalicelib.logic import tokens
from chalicelib.logic.preferences import PREFERENCES_FORM, pair_value, parse_pairs, preference_changes
from chalicelib.models.domain import (
    CHANNEL_ADDRESS,
    CHANNELS,
    REASON_UNSUBSCRIBED,
    AddressKind,
    PageSettings,
    SubscriptionStatus,
)
from chalicelib.models.requests import UnsubscribeLinkBody, parse
from chalicelib.observability import SERVICE
from chalicelib.services.context import Services
from chalicelib.services.dnd import DndChange, apply_dnd_change
from chalicelib.services.recipients import Target, parse_target
from chalicelib.store import keys

logger = Logger(service=SERVICE, child=True)  # a child of the service logger: correlation ids

ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"


class InvalidLink(NotFound):
    """Any unusable unsubscribe link; deliberately says nothing more."""

    code = "invalid_link"


@dataclass(frozen=True)
class LinkView:
    """What the confirmation page may show and offer (no personal data)."""

    channel: str
    has_sequence: bool
    keep_options: tuple[str, ...]  # channels the person may choose to keep
    brand: PageSettings | None = None  # the workspace's `page` setting (R16)


@dataclass
class UnsubscribeOutcome:
    scope: str  # sequence | all
    channels: tuple[str, ...]
    kept: tuple[str, ...]
    changed: bool
    unenrolled: int = 0
    contact_ids: list[str] = field(default_factory=list)
    brand: PageSettings | None = None


@dataclass(frozen=True)
class PreferenceTopic:
    topic_id: str
    name: str
    description: str | None
    boxes: tuple[tuple[str, str, bool], ...]  # (channel, form value, subscribed)


@dataclass(frozen=True)
class PreferenceView:
    """The preference center of a topic link (R16): every live topic x channel the link's
    recipient can be reached on, ticked where subscribed -- and, after a POST, what was done."""

    topics: tuple[PreferenceTopic, ...]
    brand: PageSettings | None = None
    saved: bool = False  # a POST of the form
    changed: bool = False
    left_topic: str | None = None  # one-click: the name of the topic left
    stopped_channels: tuple[str, ...] = ()  # "unsubscribe from everything": the channels now DND


# --- minting ------------------------------------------------------------------------------


def mint_link(services: Services, workspace_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST /v1/unsubscribe-links: the URL plus the RFC 8058 headers for the message."""
    link = parse(UnsubscribeLinkBody, body)
    channel, sequence_id, topic_id = link.channel, link.sequence_id, link.topic_id
    config = services.config_cache.get(workspace_id)
    if topic_id is not None:
        topic = config.topics.get(topic_id)
        if topic is None or topic.deleted:
            raise InvalidInput("unknown topic", fields={"topic_id": "no such topic"})
        if channel not in topic.channels:
            raise InvalidInput(
                f"topic {topic_id} does not use channel {channel}",
                fields={"channel": "one of the topic's channels: " + ", ".join(topic.channels)},
            )
    target = parse_target(link.model_dump(include={"contact_id", "email"}), config.settings.default_phone_region)
    now = int(services.clock().timestamp())
    claims_args: dict[str, Any] = {
        "workspace_id": workspace_id,
        "channel": channel,
        "issued_at": now,
        "sequence_id": sequence_id,
        "topic_id": topic_id,
    }
    if target.contact_id:
        contact = services.contacts.get(workspace_id, target.contact_id)
        if contact is None:
            raise NotFound("contact not found", fields={"contact_id": "no such contact"})
        claims_args["contact_id"] = target.contact_id
        # So the link still suppresses the addresses once the contact is erased (R3).
        secret = services.config.address_key
        if contact.email:
            claims_args["email_digest"] = keys.address_hash(secret, "email", contact.email)
        if contact.phone:
            claims_args["phone_digest"] = keys.address_hash(secret, "phone", contact.phone)
    else:
        if channel != "email":
            raise InvalidInput(
                "a link for an email address covers the email channel",
                fields={"channel": "must be email when the link is minted for an email"},
            )
        claims_args["address_kind"] = "email"
        claims_args["address_digest"] = keys.address_hash(services.config.address_key, "email", target.email or "")
    token = tokens.sign(tokens.UnsubscribeClaims(**claims_args), services.config.token_keys)
    url = f"{services.config.public_url.rstrip('/')}/u/{token}"
    return {
        "url": url,
        "headers": {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    }


# --- reading and applying -------------------------------------------------------------------


@dataclass(frozen=True)
class _Link:
    claims: tokens.UnsubscribeClaims
    contact_erased: bool = False


def _link(services: Services, token: str) -> _Link:
    try:
        claims = tokens.verify(token, services.config.token_keys)
    except tokens.InvalidToken:
        raise InvalidLink("this link is not valid") from None
    if not services.workspaces.exists(claims.workspace_id):
        raise InvalidLink("this link is not valid")
    if claims.contact_id is None:
        return _Link(claims)
    # An erased contact keeps a tombstone: its link still works (R3, R5); no item at all = unknown.
    contact = services.contacts.get_raw(claims.workspace_id, claims.contact_id)
    if contact is None:
        raise InvalidLink("this link is not valid")
    return _Link(claims, contact_erased=contact.deleted)


def _erased_address_pks(link: _Link) -> dict[AddressKind, str] | None:
    """The address keys an erased contact's link stands for (None while the contact is live)."""
    if not link.contact_erased:
        return None
    claims = link.claims
    digests: dict[AddressKind, str | None] = {"email": claims.email_digest, "phone": claims.phone_digest}
    return {kind: keys.address_pk(claims.workspace_id, kind, digest) for kind, digest in digests.items() if digest}


def _keep_options(services: Services, claims: tokens.UnsubscribeClaims) -> tuple[str, ...]:
    if claims.contact_id is None:
        return ()  # an address-only link covers that address's channel only
    settings = services.config_cache.get(claims.workspace_id).settings
    if not (settings.unsubscribe_all_channels and settings.unsubscribe_allow_keep_channels):
        return ()
    return tuple(c for c in CHANNELS if c != claims.channel)


def describe_link(services: Services, token: str) -> LinkView | PreferenceView:
    """GET /u/{token}: verify and describe (a topic link: its preference center); never changes anything."""
    link = _link(services, token)
    claims = link.claims
    brand = services.config_cache.get(claims.workspace_id).settings.page
    topic_target = _topic_target(link)
    if topic_target is not None:
        return _preference_view(services, link, topic_target)
    return LinkView(claims.channel, claims.sequence_id is not None, _keep_options(services, claims), brand)


def is_one_click(form: dict[str, list[str]]) -> bool:
    return any(v.strip() == ONE_CLICK_VALUE for v in form.get(ONE_CLICK_FIELD, []))


def apply_unsubscribe(
    services: Services, token: str, form: dict[str, list[str]]
) -> UnsubscribeOutcome | PreferenceView:
    """POST /u/{token}: a one-click post (scope all; a topic link: that topic), the preference
    center's form, or the page's form (scope + kept channels)."""
    link = _link(services, token)
    topic_target = _topic_target(link)
    if topic_target is not None:
        if is_one_click(form):
            return _topic_one_click(services, link, topic_target)
        if (form.get("form") or [""])[0] == PREFERENCES_FORM:
            return _save_preferences(services, link, topic_target, form)
    return _unsubscribe_channels(services, link, form)


def _unsubscribe_channels(services: Services, link: _Link, form: dict[str, list[str]]) -> UnsubscribeOutcome:
    """R5: a permanent DND from the person on the channels their choice covers."""
    claims = link.claims
    keep_options = _keep_options(services, claims)
    kept: tuple[str, ...] = ()
    if is_one_click(form):
        scope = "all"
    else:
        scope = (form.get("scope") or ["all"])[0]
        if scope not in ("sequence", "all"):
            raise InvalidInput("unknown choice", fields={"scope": "sequence or all"})
        if scope == "sequence" and claims.sequence_id is None:
            scope = "all"
        requested = tuple(dict.fromkeys(form.get("keep", [])))
        unknown = [c for c in requested if c not in CHANNELS]
        if unknown:
            raise InvalidInput("unknown channel", fields={"keep": "unknown channel"})
        kept = tuple(c for c in requested if c in keep_options)
    settings = services.config_cache.get(claims.workspace_id).settings
    if claims.contact_id is None:
        channels: tuple[str, ...] = (claims.channel,)
    elif settings.unsubscribe_all_channels:
        channels = tuple(c for c in CHANNELS if c not in kept)
    else:
        channels = (claims.channel,)
    target = _target(claims)
    result = apply_dnd_change(
        services,
        DndChange(
            claims.workspace_id,
            target,
            "outbound",
            channels,
            "enable",
            "contact",
            REASON_UNSUBSCRIBED,
            kind="permanent",
            actor="unsubscribe_link",
            note="one-click" if is_one_click(form) else f"scope={scope}",
            sequence_scope=claims.sequence_id if scope == "sequence" else None,
            erased_address_pks=_erased_address_pks(link),
        ),
    )
    contact_ids = _contact_ids(services, claims, target)
    outcome = UnsubscribeOutcome(scope, channels, kept, result.changed, contact_ids=contact_ids, brand=settings.page)
    if contact_ids:
        # Another capability owns enrollments; imported here so this path stays light.
        from chalicelib.services.enrollments import unenroll_contacts

        outcome.unenrolled = unenroll_contacts(
            services,
            claims.workspace_id,
            contact_ids,
            claims.sequence_id if scope == "sequence" else None,
            REASON_UNSUBSCRIBED,
        )
    logger.info(
        "unsubscribe applied",
        extra={
            "workspace_id": claims.workspace_id,
            "scope": scope,
            "channels": list(channels),
            "changed": result.changed,
        },
    )
    return outcome


def _target(claims: tokens.UnsubscribeClaims) -> Target:
    if claims.contact_id:
        return Target(contact_id=claims.contact_id)
    kind = claims.address_kind or "email"
    digest = claims.address_digest or ""
    return Target(address_key=keys.address_pk(claims.workspace_id, kind, digest), address_kind=kind)  # type: ignore[arg-type]


def _contact_ids(services: Services, claims: tokens.UnsubscribeClaims, target: Target) -> list[str]:
    if claims.contact_id:
        return [claims.contact_id]
    kind = CHANNEL_ADDRESS.get(claims.channel, "email")
    return services.contacts.contact_ids_with_address(target.address_key or "", kind)


# --- topic links: one-click on a topic and the preference center (R16) -----------------------


def _topic_target(link: _Link) -> Target | None:
    """Whose topics a topic link changes: the contact; once it is erased, the link channel's
    address as the link carries it (address level, so it reaches later contacts); the email
    address of an address link. None: not a topic link, or nothing to hold topics (an erased
    contact's link without that address) -- the link then works as a plain unsubscribe link."""
    claims = link.claims
    if claims.topic_id is None:
        return None
    if claims.contact_id and not link.contact_erased:
        return Target(contact_id=claims.contact_id)
    if claims.contact_id:
        kind = CHANNEL_ADDRESS.get(claims.channel)
        digest = {"email": claims.email_digest, "phone": claims.phone_digest}.get(kind or "")
        if kind is None or digest is None:
            return None
        return Target(address_key=keys.address_pk(claims.workspace_id, kind, digest), address_kind=kind)
    return _target(claims)


def _preference_view(services: Services, link: _Link, target: Target, **done: Any) -> PreferenceView:
    from chalicelib.services.subscriptions import current_topics

    ws = link.claims.workspace_id
    config = services.config_cache.get(ws)
    view = done.pop("topics_view", None) or current_topics(services, ws, target)
    live = [t for t in config.topics.values() if not t.deleted and view.get(t.topic_id)]
    # The link's own topic first (what the person came for), then the others by name.
    live.sort(key=lambda t: (t.topic_id != link.claims.topic_id, t.name.casefold(), t.topic_id))
    topics = tuple(
        PreferenceTopic(
            topic.topic_id,
            topic.name,
            topic.description,
            tuple(
                (channel, pair_value(topic.topic_id, channel), view[topic.topic_id][channel] == "subscribed")
                for channel in topic.channels
                if channel in view[topic.topic_id]
            ),
        )
        for topic in live
    )
    return PreferenceView(topics, config.settings.page, **done)


def _topic_channels(services: Services, link: _Link, target: Target) -> list[str]:
    """The channels one-click leaves the link's topic on: every channel of the topic the
    recipient is reached on (``unsubscribe_all_channels``, the default, as for R5), else the
    link's own channel."""
    from chalicelib.services.subscriptions import target_channels

    claims = link.claims
    topic = services.config_cache.get(claims.workspace_id).topics.get(claims.topic_id or "")
    if topic is None or topic.deleted:
        return []
    settings = services.config_cache.get(claims.workspace_id).settings
    wanted = topic.channels if settings.unsubscribe_all_channels else [claims.channel]
    reachable = target_channels(target)
    return [c for c in wanted if c in topic.channels and (reachable is None or c in reachable)]


def _topic_one_click(services: Services, link: _Link, target: Target) -> UnsubscribeOutcome | PreferenceView:
    """RFC 8058 one-click on a topic link: that topic only, the person's own (permanent) choice.
    A topic deleted since the link was minted can hold no unsubscribe: the person's "stop" is
    then recorded as a plain unsubscribe (R5) rather than dropped."""
    from chalicelib.services.subscriptions import apply_topic_changes

    claims = link.claims
    channels = _topic_channels(services, link, target)
    if not channels:
        return _unsubscribe_channels(services, link, {ONE_CLICK_FIELD: [ONE_CLICK_VALUE]})
    topic_id = claims.topic_id or ""
    result = apply_topic_changes(
        services,
        claims.workspace_id,
        target,
        {topic_id: dict.fromkeys(channels, "unsubscribed")},
        source="contact",
        actor="unsubscribe_link",
        note="one-click",
    )
    logger.info(
        "topic unsubscribe applied",
        extra={"workspace_id": claims.workspace_id, "channels": channels, "changed": result.changed},
    )
    topic = services.config_cache.get(claims.workspace_id).topics[topic_id]
    return _preference_view(
        services, link, target, topics_view=result.topics, saved=True, changed=result.changed, left_topic=topic.name
    )


def _save_preferences(services: Services, link: _Link, target: Target, form: dict[str, list[str]]) -> PreferenceView:
    """The preference center's form: exactly the boxes the person changed (a resubscribe is their
    own re-opt-in, source ``contact``); "unsubscribe from everything" adds the R5 unsubscribe."""
    from chalicelib.services.subscriptions import apply_topic_changes, current_topics

    claims = link.claims
    everything = (form.get("everything") or [""])[0]
    if everything not in ("", "yes"):
        raise InvalidInput("unknown choice", fields={"everything": "yes or absent"})
    current = current_topics(services, claims.workspace_id, target)
    changes = preference_changes(current, parse_pairs(form.get("shown", [])), parse_pairs(form.get("sub", [])))
    view: dict[str, dict[str, SubscriptionStatus]] = current
    changed = False
    if changes:
        result = apply_topic_changes(
            services,
            claims.workspace_id,
            target,
            changes,
            source="contact",
            actor="preference_center",
            note="preference center",
        )
        view, changed = result.topics, result.changed
    stopped: tuple[str, ...] = ()
    if everything:
        outcome = _unsubscribe_channels(services, link, {"scope": ["all"]})
        stopped, changed = outcome.channels, changed or outcome.changed
    logger.info(
        "preferences saved",
        extra={"workspace_id": claims.workspace_id, "topics_changed": len(changes), "everything": bool(everything)},
    )
    return _preference_view(
        services, link, target, topics_view=view, saved=True, changed=changed, stopped_channels=stopped
    )
