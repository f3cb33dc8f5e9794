"""R16 (issue 14 point 4): links per topic and the preference center, through the Chalice app.

A link minted with ``topic_id`` unsubscribes that topic only on one-click (every channel of the
topic the recipient is reached on, as ``unsubscribe_all_channels`` says; else the link's channel);
its page lists every topic x channel as labelled checkboxes showing the current state, plus
"unsubscribe from everything"; saving applies exactly what changed, a resubscribe being the
person's own re-opt-in (audited with source ``contact``). GET never changes anything.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from tests.integration.conftest import Api
from tests.integration.test_unsubscribe import FORM, ONE_CLICK, allowed, audit, page, parse_html, path_of

EMAIL = "tia@example.com"
PHONE = "+14155552671"


@pytest.fixture()
def topics(api: Api) -> Api:
    for topic_id, body in (
        ("newsletter", {"name": "Newsletter", "description": "Monthly news", "channels": ["email", "sms"]}),
        ("offers", {"name": "Offers", "channels": ["email"]}),
        ("alerts", {"name": "Product alerts", "channels": ["sms"]}),
    ):
        assert api.put(f"/v1/topics/{topic_id}", body)[0] == 200
    assert api.put("/v1/contacts/c1", {"email": EMAIL, "phone": PHONE})[0] == 200
    return api


def topic_link(api: Api, **body: Any) -> str:
    status, link = api.post("/v1/unsubscribe-links", {"contact_id": "c1", "topic_id": "newsletter", **body})
    assert status == 200, link
    return path_of(link)


def allowed_for(api: Api, topic_id: str, channel: str, **target: str) -> bool:
    body = {**(target or {"contact_id": "c1"}), "channel": channel, "topic_id": topic_id}
    status, answer = api.post("/v1/send-check", body)
    assert status == 200, answer
    return answer["allowed"]


def boxes(html: str) -> dict[str, bool]:
    """The preference center's checkboxes: form value -> ticked."""
    parsed = parse_html(html)
    found: dict[str, bool] = {}
    current: dict[str, str | None] = {}
    for tag, name, value in [*parsed.attributes, ("end", "", None)]:
        if name == "type" or tag == "end":
            if current.get("type") == "checkbox" and current.get("name") == "sub":
                found[current["value"] or ""] = "checked" in current
            current = {}
        current[name] = value
    return found


def save(api: Api, path: str, ticked: list[str], shown: list[str], everything: bool = False) -> str:
    fields = [("form", "preferences"), *[("shown", v) for v in shown], *[("sub", v) for v in ticked]]
    if everything:
        fields.append(("everything", "yes"))
    status, html, _ = page(api, "POST", path, urlencode(fields), FORM)
    assert status == 200, html
    return html


ALL_BOXES = ["email/newsletter", "sms/newsletter", "email/offers", "sms/alerts"]


def test_r16_minting_a_topic_link_validates_the_topic(topics):
    assert topics.post("/v1/unsubscribe-links", {"contact_id": "c1", "topic_id": "nope"})[1]["fields"] == {
        "topic_id": "no such topic"
    }
    status, body = topics.post("/v1/unsubscribe-links", {"contact_id": "c1", "topic_id": "alerts"})
    assert status == 422 and "channel" in body["fields"]  # an email link for an SMS-only topic
    assert topics.delete("/v1/topics/offers")[0] == 204
    assert topics.post("/v1/unsubscribe-links", {"contact_id": "c1", "topic_id": "offers"})[0] == 422
    assert topics.post("/v1/unsubscribe-links", {"contact_id": "c1", "topic_id": "a/b"})[0] == 422


def test_r16_one_click_on_a_topic_link_leaves_that_topic_only(topics):
    # Given a newsletter link of c1
    path = topic_link(topics)
    # When the mail client posts one-click
    status, html, headers = page(topics, "POST", path, ONE_CLICK, FORM)
    # Then 200, no redirect, and only the newsletter is left -- on each of its channels (R16, default)
    assert status == 200 and "Location" not in headers
    assert not allowed_for(topics, "newsletter", "email") and not allowed_for(topics, "newsletter", "sms")
    assert allowed_for(topics, "offers", "email") and allowed_for(topics, "alerts", "sms")
    # And no channel DND: plain sends still pass
    assert allowed(topics, "email") and allowed(topics, "sms")
    # And it is the person's own, permanent choice, audited with the topic
    entries = audit(topics)
    assert {(e["channel"], e["action"], e["source"], e["kind"], e["topic_id"]) for e in entries} == {
        ("email", "enabled", "contact", "permanent", "newsletter"),
        ("sms", "enabled", "contact", "permanent", "newsletter"),
    }
    # And a retry adds nothing
    assert page(topics, "POST", path, ONE_CLICK, FORM)[0] == 200
    assert audit(topics) == entries


def test_r16_without_unsubscribe_all_channels_one_click_leaves_the_topic_on_the_links_channel(topics):
    assert topics.patch("/v1/settings", {"unsubscribe_all_channels": False})[0] == 200
    assert page(topics, "POST", topic_link(topics), ONE_CLICK, FORM)[0] == 200
    assert not allowed_for(topics, "newsletter", "email")
    assert allowed_for(topics, "newsletter", "sms")


def test_r16_the_page_is_a_preference_center_showing_the_current_state_and_get_changes_nothing(topics):
    # Given c1 already unsubscribed from offers
    status, _ = topics.post(
        "/v1/subscriptions", {"contact_id": "c1", "topic_id": "offers", "action": "unsubscribe", "source": "user"}
    )
    assert status == 200
    path = topic_link(topics)
    # When the person opens the newsletter link (twice, as a scanner would)
    for _ in range(2):
        status, html, _ = page(topics, "GET", path)
        assert status == 200
    # Then every topic x channel is a checkbox with its own label, ticked where subscribed
    assert boxes(html) == {"email/newsletter": True, "sms/newsletter": True, "email/offers": False, "sms/alerts": True}
    parsed = parse_html(html)
    ids = [v for t, n, v in parsed.attributes if t == "input" and n == "id"]
    label_fors = [v for t, n, v in parsed.attributes if t == "label" and n == "for"]
    assert sorted(ids) == sorted(label_fors) and len(set(ids)) == len(ids) == 5  # 4 boxes + everything
    # a fieldset and legend per topic, the link's topic first, then by name
    assert parsed.tags.count("fieldset") == parsed.tags.count("legend") == 4
    assert html.index("<legend>Newsletter</legend>") < html.index("<legend>Offers</legend>")
    assert html.index("<legend>Offers</legend>") < html.index("<legend>Product alerts</legend>")
    assert "Unsubscribe from everything" in html and "<script" not in html
    assert EMAIL not in html and PHONE not in html
    # And nothing changed
    assert [e["topic_id"] for e in audit(topics)] == ["offers"]


def test_r16_saving_applies_exactly_what_changed(topics):
    path = topic_link(topics)
    # When the person unticks "Newsletter by SMS" and "Offers", and leaves the rest
    html = save(topics, path, ticked=["email/newsletter", "sms/alerts"], shown=ALL_BOXES)
    # Then exactly those two are unsubscribed, and the page reads the saved state back
    assert boxes(html) == {
        "email/newsletter": True,
        "sms/newsletter": False,
        "email/offers": False,
        "sms/alerts": True,
    }
    assert 'role="status"' in html
    assert allowed_for(topics, "newsletter", "email") and allowed_for(topics, "alerts", "sms")
    assert not allowed_for(topics, "newsletter", "sms") and not allowed_for(topics, "offers", "email")
    assert sorted((e["topic_id"], e["channel"]) for e in audit(topics)) == [("newsletter", "sms"), ("offers", "email")]
    # When they save the same choices again, nothing more is recorded
    save(topics, path, ticked=["email/newsletter", "sms/alerts"], shown=ALL_BOXES)
    assert len(audit(topics)) == 2
    # And a GET shows the same state
    assert boxes(page(topics, "GET", path)[1])["sms/newsletter"] is False


def test_r16_resubscribing_is_the_contacts_own_re_opt_in(topics):
    # Given c1 left the newsletter by one-click (permanent, their own)
    path = topic_link(topics)
    assert page(topics, "POST", path, ONE_CLICK, FORM)[0] == 200
    # When they tick it again in the preference center
    html = save(topics, path, ticked=ALL_BOXES, shown=ALL_BOXES)
    # Then they are subscribed again, the next check agrees, and the audit says they did it
    assert all(boxes(html).values())
    assert allowed_for(topics, "newsletter", "email") and allowed_for(topics, "newsletter", "sms")
    cleared = [e for e in audit(topics) if e["action"] == "disabled"]
    assert {(e["channel"], e["source"], e["topic_id"]) for e in cleared} == {
        ("email", "contact", "newsletter"),
        ("sms", "contact", "newsletter"),
    }


def test_r16_a_box_the_page_did_not_show_never_changes(topics):
    path = topic_link(topics)
    # Given a topic created after the page was loaded (not in "shown")
    assert topics.put("/v1/topics/events", {"name": "Events", "channels": ["email"]})[0] == 200
    save(topics, path, ticked=ALL_BOXES, shown=ALL_BOXES)
    # Then it stays subscribed, and a forged value outside the shown set changes nothing either
    assert allowed_for(topics, "events", "email")
    save(topics, path, ticked=[], shown=["email/nope", "pigeon/offers"])
    assert allowed_for(topics, "offers", "email") and audit(topics) == []


def test_r16_unsubscribe_from_everything(topics):
    path = topic_link(topics)
    html = save(topics, path, ticked=ALL_BOXES, shown=ALL_BOXES, everything=True)
    assert "will no longer contact you by" in html
    # Then every channel is DND (unsubscribe_all_channels), the person's own permanent unsubscribe
    assert not any(allowed(topics, channel) for channel in ("email", "sms", "call", "whatsapp"))
    entries = [e for e in audit(topics) if "topic_id" not in e]
    assert {(e["source"], e["reason"], e["kind"]) for e in entries} == {("contact", "unsubscribed", "permanent")}
    assert page(topics, "POST", path, "form=preferences&everything=maybe", FORM)[0] == 400


def test_r16_an_address_topic_link_works_at_address_level(topics):
    # Given a newsletter link minted for the raw address
    status, link = topics.post("/v1/unsubscribe-links", {"email": EMAIL, "topic_id": "newsletter"})
    assert status == 200
    # Then its preference center offers that address's channel only
    assert set(boxes(page(topics, "GET", path_of(link))[1])) == {"email/newsletter", "email/offers"}
    # And one-click leaves the newsletter by email for that address, reaching a contact created later
    assert page(topics, "POST", path_of(link), ONE_CLICK, FORM)[0] == 200
    assert topics.put("/v1/contacts/c9", {"email": EMAIL})[0] == 200
    assert not allowed_for(topics, "newsletter", "email", contact_id="c9")
    assert allowed_for(topics, "newsletter", "sms")  # c1's phone is not this address


def test_r16_a_topic_link_still_works_after_its_contact_is_deleted(topics):
    path = topic_link(topics)
    assert topics.delete("/v1/contacts/c1")[0] == 204
    assert page(topics, "GET", path)[0] == 200
    assert page(topics, "POST", path, ONE_CLICK, FORM)[0] == 200
    assert topics.put("/v1/contacts/c2", {"email": EMAIL})[0] == 200
    assert not allowed_for(topics, "newsletter", "email", contact_id="c2")
    assert allowed_for(topics, "offers", "email", contact_id="c2")


def test_r16_one_click_on_a_deleted_topics_link_is_still_honoured(topics):
    # Given a newsletter link, and the newsletter deleted since
    path = topic_link(topics)
    assert topics.delete("/v1/topics/newsletter")[0] == 204
    # When one-click arrives, the person's "stop" is not dropped: a plain unsubscribe (R5) records it
    assert page(topics, "POST", path, ONE_CLICK, FORM)[0] == 200
    assert not allowed(topics, "email")


def test_r16_the_preference_center_speaks_the_language_and_carries_the_brand(topics):
    assert topics.patch("/v1/settings", {"page": {"brand_name": "Acme", "accent_color": "#003366"}})[0] == 200
    status, html, headers = page(topics, "GET", topic_link(topics), headers={"Accept-Language": "es-ES,es;q=0.9"})
    assert status == 200 and '<html lang="es">' in html and headers["Content-Language"] == "es"
    assert "Sus suscripciones" in html and "Darme de baja de todo" in html and "Guardar mis preferencias" in html
    assert "Elija lo que Acme puede enviarle" in html and "#003366" in html
