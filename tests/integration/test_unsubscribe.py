"""R5: unsubscribe links and RFC 8058 one-click, through the Chalice app.

A link carries a signed token; GET only shows the page; POST applies it (permanent DND from
the contact, reason ``unsubscribed``) and removes the person from the sequences the choice
covers. Every bad link gets the same 404 page and changes nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode, urlparse

import pytest

from chalicelib.models.domain import CHANNELS
from tests.integration.conftest import Api, allowed, audit

EMAIL = "ann@example.com"
PHONE = "+14155552671"
ONE_CLICK = "List-Unsubscribe=One-Click"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture()
def contact(api: Api) -> Api:
    status, body = api.put("/v1/contacts/c1", {"email": EMAIL, "phone": PHONE})
    assert status == 200, body
    return api


def mint(api: Api, **body: Any) -> dict[str, Any]:
    status, link = api.post("/v1/unsubscribe-links", body or {"contact_id": "c1"})
    assert status == 200, link
    return link


def path_of(link: dict[str, Any]) -> str:
    return urlparse(link["url"]).path


def page(
    api: Api, method: str, path: str, body: str | bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str, dict[str, str]]:
    response = api.client.http.request(method, path, headers=headers or {}, body=body)
    return response.status_code, response.body.decode(), response.headers


@dataclasses.dataclass
class ParsedHtml:
    tags: list[str]
    attributes: list[tuple[str, str, str | None]]  # (tag, name, value as the browser reads it)
    text: str


def parse_html(html: str) -> ParsedHtml:
    from html.parser import HTMLParser

    parsed = ParsedHtml([], [], "")

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            parsed.tags.append(tag)
            parsed.attributes.extend((tag, name, value) for name, value in attrs)

        def handle_data(self, data):
            parsed.text += data

    Collector(convert_charrefs=True).feed(html)
    return parsed


def enroll(api: Api, sequence_id: str, contact_id: str = "c1") -> None:
    from chalicelib.services import enrollments
    from chalicelib.services.context import get_services

    enrolled = enrollments.enroll(get_services(), api.workspace_id, sequence_id, {"contact_id": contact_id})
    assert enrolled["status"] == "active"


def enrollment_status(api: Api, sequence_id: str, contact_id: str = "c1") -> str:
    from chalicelib.services.context import get_services

    return get_services().enrollments.get(api.workspace_id, sequence_id, contact_id).status


# --- minting -----------------------------------------------------------------------------------


def test_r5_minted_link_has_one_click_headers_and_an_opaque_token(contact):
    link = mint(contact, contact_id="c1", sequence_id="seq-1")
    assert link["url"].startswith("https://optout.test/u/")
    assert link["headers"] == {
        "List-Unsubscribe": f"<{link['url']}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert EMAIL not in link["url"] and "c1" not in link["url"].split("/u/")[1].split(".")[0]
    assert "expires_at" not in link  # R15: a link never expires


def test_r5_minting_validates_its_input(contact):
    assert contact.post("/v1/unsubscribe-links", {})[0] == 422
    assert contact.post("/v1/unsubscribe-links", {"contact_id": "c1", "channel": "pigeon"})[0] == 422
    assert contact.post("/v1/unsubscribe-links", {"email": "not an email"})[0] == 422
    assert contact.post("/v1/unsubscribe-links", {"email": EMAIL, "channel": "sms"})[0] == 422
    assert contact.post("/v1/unsubscribe-links", {"contact_id": "nobody"})[0] == 404
    assert contact.post("/v1/unsubscribe-links", {"contact_id": "c1"}, key=None)[0] == 401


# --- GET never changes anything -------------------------------------------------------------------


def test_r5_get_and_head_show_the_page_and_change_nothing(contact):
    # Given a link with a sequence
    link = mint(contact, contact_id="c1", sequence_id="seq-1")
    # When a mail scanner follows it (GET, HEAD) twice
    for method in ("GET", "HEAD", "GET"):
        status, html, headers = page(contact, method, path_of(link))
        assert status == 200
        assert headers["Content-Type"].startswith("text/html")
    # Then the page is accessible and offers both scopes and channels to keep
    status, html, headers = page(contact, "GET", path_of(link))
    assert '<html lang="en">' in html and "<script" not in html.lower()
    assert 'name="scope" value="sequence"' in html and 'name="scope" value="all"' in html
    assert '<label for="scope-sequence">' in html and '<label for="keep-sms">' in html
    assert 'name="keep" value="email"' not in html  # the link's own channel cannot be kept
    assert EMAIL not in html and PHONE not in html
    assert headers["Cache-Control"] == "no-store"
    # And nothing changed
    assert audit(contact) == []
    assert allowed(contact, "email")


def test_r5_page_without_sequence_or_keep_setting_offers_no_such_choices(contact):
    assert contact.patch("/v1/settings", {"unsubscribe_allow_keep_channels": False})[0] == 200
    status, html, _ = page(contact, "GET", path_of(mint(contact)))
    assert status == 200
    assert 'value="sequence"' not in html and 'name="keep"' not in html


# --- one-click (RFC 8058) -------------------------------------------------------------------------


def test_r5_one_click_urlencoded_applies_everything_at_once(contact):
    # Given a minted link
    link = mint(contact, contact_id="c1", channel="email")
    # When the mail client POSTs the one-click body
    status, html, headers = page(contact, "POST", path_of(link), ONE_CLICK, FORM)
    # Then it is applied with 200, no redirect
    assert status == 200 and "Location" not in headers
    # And the very next send-check is blocked on every channel (unsubscribe_all_channels default)
    assert not any(allowed(contact, channel) for channel in ("email", "sms", "call", "whatsapp"))
    status, view = contact.get("/v1/contacts/c1")
    assert view["dnd"]["status"] == "on" and view["do_not_contact"] is True
    # And the audit shows the contact's own, permanent unsubscribe
    entries = audit(contact)
    assert {e["channel"] for e in entries} == set(CHANNELS)
    assert {(e["action"], e["source"], e["reason"], e["kind"]) for e in entries} == {
        ("enabled", "contact", "unsubscribed", "permanent")
    }


def test_r5_one_click_multipart_is_accepted_and_repeats_add_nothing(contact):
    link = mint(contact, contact_id="c1")
    boundary = "----optout-boundary-7MA4YWxkTrZu0gW"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
        "One-Click\r\n"
        f"--{boundary}--\r\n"
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    assert page(contact, "POST", path_of(link), body, headers)[0] == 200
    first = audit(contact)
    assert len(first) == len(CHANNELS)
    # When the client retries the same POST
    assert page(contact, "POST", path_of(link), body, headers)[0] == 200
    # Then no second audit entry appears
    assert audit(contact) == first


def test_r5_without_unsubscribe_all_channels_only_the_links_channel_is_blocked(contact):
    assert contact.patch("/v1/settings", {"unsubscribe_all_channels": False})[0] == 200
    link = mint(contact, contact_id="c1", channel="sms")
    assert page(contact, "POST", path_of(link), ONE_CLICK, FORM)[0] == 200
    assert not allowed(contact, "sms")
    assert allowed(contact, "email")
    assert [(e["channel"], e["reason"]) for e in audit(contact)] == [("sms", "unsubscribed")]


# --- the page's form ------------------------------------------------------------------------------


def test_r5_form_post_keeps_the_channels_the_person_chose(contact):
    link = mint(contact, contact_id="c1", channel="email")
    body = urlencode([("scope", "all"), ("keep", "sms"), ("keep", "call")])
    status, html, headers = page(contact, "POST", path_of(link), body, FORM)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "You are unsubscribed" in html
    assert not allowed(contact, "email") and not allowed(contact, "whatsapp")
    assert allowed(contact, "sms") and allowed(contact, "call")


def test_r5_keeping_the_links_own_channel_is_ignored(contact):
    link = mint(contact, contact_id="c1", channel="email")
    assert page(contact, "POST", path_of(link), urlencode([("scope", "all"), ("keep", "email")]), FORM)[0] == 200
    assert not allowed(contact, "email")


def test_r5_a_form_post_with_an_unknown_choice_changes_nothing(contact):
    link = mint(contact, contact_id="c1")
    assert page(contact, "POST", path_of(link), "scope=everything-please", FORM)[0] == 400
    assert page(contact, "POST", path_of(link), "scope=all&keep=pigeon", FORM)[0] == 400
    assert audit(contact) == []


def test_r5_scope_sequence_removes_that_sequence_and_scope_all_every_sequence(contact):
    # Given c1 enrolled in two sequences and a link minted for seq-a
    enroll(contact, "seq-a")
    enroll(contact, "seq-b")
    link = mint(contact, contact_id="c1", sequence_id="seq-a")
    # When the person chooses "this sequence only"
    assert page(contact, "POST", path_of(link), "scope=sequence", FORM)[0] == 200
    # Then they are out of seq-a (queued sends stop: the send-check blocks on enrollment) and marked DND
    assert enrollment_status(contact, "seq-a") == "unenrolled"
    status, body = contact.post("/v1/send-check", {"contact_id": "c1", "channel": "email", "sequence_id": "seq-a"})
    assert status == 200 and not body["allowed"]
    assert {b["type"] for b in body["blocked_by"]} >= {"dnd", "enrollment"}
    # And the other sequence keeps them: the do-not-contact hook does not widen the choice
    assert enrollment_status(contact, "seq-b") == "active"
    # When a later link chooses everything
    assert page(contact, "POST", path_of(mint(contact, contact_id="c1")), ONE_CLICK, FORM)[0] == 200
    # Then no sequence keeps them
    assert enrollment_status(contact, "seq-b") == "unenrolled"


# --- raw-address links ----------------------------------------------------------------------------


def test_r5_an_email_link_suppresses_the_address_for_every_contact_and_later_ones(contact):
    # Given a link minted for a raw address (no contact id known to the sender)
    link = mint(contact, email=" ANN@example.com ")
    assert "ann" not in link["url"].lower().split("/u/")[1]
    # When one-click is used
    assert page(contact, "POST", path_of(link), ONE_CLICK, FORM)[0] == 200
    # Then the address is blocked for the existing contact, raw sends, and a contact created later
    assert not allowed(contact, "email")
    assert not allowed(contact, "email", email=EMAIL)
    assert contact.put("/v1/contacts/c2", {"email": EMAIL})[0] == 200
    assert not allowed(contact, "email", contact_id="c2")
    assert allowed(contact, "sms")  # an address link covers that address's channel
    assert [(e["reason"], e["source"]) for e in audit(contact, email=EMAIL)] == [("unsubscribed", "contact")]


# --- bad links ------------------------------------------------------------------------------------


def test_r5_every_bad_link_gets_the_same_404_page_and_changes_nothing(contact):
    good = path_of(mint(contact, contact_id="c1"))
    kid, payload, signature = good.split("/u/")[1].split(".")
    # a token of a foreign deployment (another signing secret under the same kid)
    from chalicelib.logic import tokens
    from chalicelib.services.context import get_services

    keys = get_services().config.token_keys
    claims = tokens.verify(good.split("/u/")[1], keys)
    foreign = tokens.sign(claims, ["k1:some-other-deployments-secret"])
    # a token under a key id this deployment does not know
    unknown_kid = tokens.sign(claims, ["retired-k0:a-key-this-deployment-never-had"])
    # a genuine token naming a workspace that does not exist, or a contact that never did
    ghost = tokens.sign(dataclasses.replace(claims, workspace_id="ws-does-not-exist"), keys)
    nobody = tokens.sign(dataclasses.replace(claims, contact_id="never-existed", email_digest=None), keys)
    bad_tokens = [
        "nonsense",
        f"{kid}.{payload}.{signature[:-2]}AA",  # tampered signature
        f"{kid}.{payload[:-3]}abc.{signature}",  # tampered payload
        foreign,
        unknown_kid,
        ghost,
        nobody,
    ]
    pages = set()
    for token in bad_tokens:
        for method, body in (("GET", None), ("POST", ONE_CLICK), ("POST", "scope=all")):
            status, html, _ = page(contact, method, f"/u/{token}", body, FORM if body else None)
            assert status == 404, (token, method)
            pages.add(html)
    assert len(pages) == 1
    assert "not valid" in next(iter(pages))
    assert audit(contact) == []
    assert allowed(contact, "email")


def test_r5_a_link_cannot_reach_into_another_workspace(contact, other_api):
    # Given the same contact id and address in another workspace
    assert other_api.put("/v1/contacts/c1", {"email": EMAIL})[0] == 200
    # When this workspace's link is used
    assert page(contact, "POST", path_of(mint(contact)), ONE_CLICK, FORM)[0] == 200
    # Then the other workspace's contact is untouched
    assert allowed(other_api, "email")
    assert audit(other_api) == []


def test_r5_failure_to_store_answers_503_so_the_client_retries(contact, monkeypatch):
    from chalicelib.errors import StoreUnavailable
    from chalicelib.services import unsubscribe

    def broken(*args, **kwargs):
        raise StoreUnavailable("down")

    monkeypatch.setattr(unsubscribe, "apply_dnd_change", broken)
    status, html, headers = page(contact, "POST", path_of(mint(contact)), ONE_CLICK, FORM)
    assert status == 503 and headers.get("Retry-After")
    assert audit(contact) == []


# --- old links (R15) --------------------------------------------------------------------------------


def signed(claims: Any) -> str:
    from chalicelib.logic import tokens
    from chalicelib.services.context import get_services

    return tokens.sign(claims, get_services().config.token_keys)


def claims_of(link: dict[str, Any]) -> Any:
    from chalicelib.logic import tokens
    from chalicelib.services.context import get_services

    return tokens.verify(path_of(link).split("/u/")[1], get_services().config.token_keys)


def test_r15_an_authentic_link_is_honoured_however_old(contact):
    # Given a link minted in 1970 by an older release, its "exp" claim long past (valid signature, known kid)
    old = dataclasses.replace(claims_of(mint(contact)), issued_at=1, expires_at=2, email_digest=None, phone_digest=None)
    path = f"/u/{signed(old)}"
    # When the person opens it, then uses one-click
    status, html, _ = page(contact, "GET", path)
    assert status == 200 and "<h1>Unsubscribe</h1>" in html
    assert page(contact, "POST", path, ONE_CLICK, FORM)[0] == 200
    # Then the opt-out is recorded like any other: never refused for age
    assert not allowed(contact, "email") and not allowed(contact, "sms")
    assert {(e["source"], e["reason"], e["kind"]) for e in audit(contact)} == {("contact", "unsubscribed", "permanent")}


# --- links outlive their contact (R3, R5; issue 11 point 4) ------------------------------------------


def test_r3_r5_a_link_still_works_after_its_contact_is_deleted(contact):
    # Given a link minted for c1 (email + phone), and c1 then deleted (erasure)
    link = mint(contact, contact_id="c1", sequence_id="seq-1")
    assert EMAIL not in link["url"] and PHONE not in link["url"]
    assert contact.delete("/v1/contacts/c1")[0] == 204
    # When the person opens the link, then their mail client posts one-click
    status, html, _ = page(contact, "GET", path_of(link))
    assert status == 200 and "<h1>Unsubscribe</h1>" in html
    assert EMAIL not in html and PHONE not in html
    status, _, headers = page(contact, "POST", path_of(link), ONE_CLICK, FORM)
    # Then it is applied (200, no redirect)
    assert status == 200 and "Location" not in headers
    # And the addresses stay suppressed: raw-address checks are blocked on their channels
    assert not allowed(contact, "email", email=EMAIL)
    assert not allowed(contact, "sms", phone=PHONE)
    # And a contact created later with either address is blocked
    assert contact.put("/v1/contacts/c2", {"email": EMAIL})[0] == 200
    assert contact.put("/v1/contacts/c3", {"phone": PHONE})[0] == 200
    assert not allowed(contact, "email", contact_id="c2")
    assert not allowed(contact, "sms", contact_id="c3") and not allowed(contact, "call", contact_id="c3")
    # And the audit holds the contact's own, permanent unsubscribe, found by address
    assert {(e["action"], e["source"], e["reason"], e["kind"]) for e in audit(contact, email=EMAIL)} == {
        ("enabled", "contact", "unsubscribed", "permanent")
    }
    # And a retried one-click adds nothing
    before = audit(contact, email=EMAIL) + audit(contact, phone=PHONE)
    assert page(contact, "POST", path_of(link), ONE_CLICK, FORM)[0] == 200
    assert audit(contact, email=EMAIL) + audit(contact, phone=PHONE) == before


def test_r3_r5_the_page_form_works_after_erasure_and_keeps_what_was_chosen(contact):
    # Given c1's link, c1 deleted
    link = mint(contact, contact_id="c1")
    assert contact.delete("/v1/contacts/c1")[0] == 204
    # When the person submits the page keeping calls
    status, html, _ = page(contact, "POST", path_of(link), urlencode([("scope", "all"), ("keep", "call")]), FORM)
    assert status == 200 and "You are unsubscribed" in html
    # Then email and SMS are suppressed at address level, calls are not
    assert contact.put("/v1/contacts/c2", {"email": EMAIL, "phone": PHONE})[0] == 200
    assert not allowed(contact, "email", contact_id="c2") and not allowed(contact, "sms", contact_id="c2")
    assert allowed(contact, "call", contact_id="c2")


def test_r15_a_link_minted_before_hashes_were_carried_still_records_the_opt_out_after_erasure(contact):
    # Given an old-format link of c1 (no address hashes) and c1 deleted
    old = dataclasses.replace(claims_of(mint(contact)), email_digest=None, phone_digest=None, expires_at=2)
    assert contact.delete("/v1/contacts/c1")[0] == 204
    # When it is used
    assert page(contact, "GET", f"/u/{signed(old)}")[0] == 200
    assert page(contact, "POST", f"/u/{signed(old)}", ONE_CLICK, FORM)[0] == 200
    # Then the opt-out is stored on c1's tombstone: c1 recreated under its id is blocked
    assert contact.put("/v1/contacts/c1", {"email": "new-address@example.com"})[0] == 200
    assert not allowed(contact, "facebook") and not allowed(contact, "gbp")


# --- the workspace's brand and the person's language (R16; issue 14 point 5) -------------------------

BRAND = {
    "brand_name": "Acme & Co",
    "logo_url": "https://cdn.acme.example/logo.png?v=1&size=2",
    "accent_color": "#1A5",
    "privacy_url": "https://acme.example/privacy",
    "support_email": "Help@Acme.example",
}


@pytest.mark.parametrize(
    ("page_setting", "field"),
    [
        ({"logo_url": "http://cdn.acme.example/logo.png"}, "page.logo_url"),  # https only
        ({"logo_url": "javascript:alert(1)"}, "page.logo_url"),
        ({"logo_url": "https://user:pw@cdn.acme.example/logo.png"}, "page.logo_url"),
        ({"logo_url": "https://cdn.acme.example/a b.png"}, "page.logo_url"),
        ({"logo_url": "logo.png"}, "page.logo_url"),
        ({"privacy_url": "ftp://acme.example/privacy"}, "page.privacy_url"),
        ({"accent_color": "red"}, "page.accent_color"),
        ({"accent_color": "#12345"}, "page.accent_color"),
        ({"accent_color": "#1a5;}body{display:none"}, "page.accent_color"),
        ({"support_email": "not an address"}, "page.support_email"),
        ({"brand_name": ""}, "page.brand_name"),
        ({"brand_name": "x" * 101}, "page.brand_name"),
        ({"favicon": "https://acme.example/f.ico"}, "page.favicon"),
    ],
)
def test_r16_page_setting_is_validated_naming_the_field(api, page_setting, field):
    status, body = api.patch("/v1/settings", {"page": page_setting})
    assert status == 422, body
    assert field in body["fields"], body
    assert api.get("/v1/settings")[1]["page"] is None


def test_r16_page_setting_is_saved_normalized_and_shown(api):
    status, body = api.patch("/v1/settings", {"page": BRAND})
    assert status == 200, body
    expected = {**BRAND, "accent_color": "#11aa55", "support_email": "help@acme.example"}
    assert body["page"] == expected
    assert api.get("/v1/settings")[1]["page"] == expected


def test_r16_the_page_carries_the_brand_and_fetches_nothing(contact, monkeypatch):
    # Given a branded workspace
    assert contact.patch("/v1/settings", {"page": BRAND})[0] == 200
    link = mint(contact, contact_id="c1", sequence_id="seq-1")
    # And a server that may not open any network connection (the logo is the browser's to load)
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("the server tried to reach the network")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    # When the person opens the link
    status, html, headers = page(contact, "GET", path_of(link))
    # Then the page names the sender, shows the logo as an <img> with alt text, the accent colour,
    # the privacy link and the support address -- every value escaped
    assert status == 200
    assert 'src="https://cdn.acme.example/logo.png?v=1&amp;size=2"' in html
    assert 'alt="Acme &amp; Co"' in html and 'referrerpolicy="no-referrer"' in html
    assert "messages from Acme &amp; Co." in html and "Everything from Acme &amp; Co" in html
    assert "#11aa55" in html
    assert '<a href="https://acme.example/privacy" rel="noopener noreferrer">Privacy policy</a>' in html
    assert '<a href="mailto:help@acme.example">help@acme.example</a>' in html
    assert "img-src https:" in headers["Content-Security-Policy"]
    # And the confirmation after submitting carries it too
    status, html, _ = page(contact, "POST", path_of(link), "scope=all", FORM)
    assert status == 200 and "Acme &amp; Co will no longer contact you by" in html and "cdn.acme.example" in html


def test_r16_without_a_brand_the_page_stays_neutral(contact):
    status, html, _ = page(contact, "GET", path_of(mint(contact)))
    assert status == 200
    assert "messages from this sender." in html and "<img" not in html and "<footer>" not in html
    assert "from us" not in html


def test_r16_hostile_brand_values_are_escaped(contact):
    hostile = {
        "brand_name": '<script>alert(1)</script>"><img src=x onerror=alert(2)>',
        "logo_url": 'https://cdn.acme.example/x.png?"><script>alert(3)</script>',
        "privacy_url": "https://acme.example/p?'onmouseover='alert(4)",
    }
    assert contact.patch("/v1/settings", {"page": hostile})[0] == 200
    status, html, _ = page(contact, "GET", path_of(mint(contact)))
    assert status == 200
    # Then the browser sees no element or attribute that the values brought in: they stay text
    parsed = parse_html(html)
    assert "script" not in parsed.tags and parsed.tags.count("img") == 1
    assert not [name for _, name, _ in parsed.attributes if name.startswith("on")]
    assert ("img", "src", hostile["logo_url"]) in parsed.attributes
    assert ("img", "alt", hostile["brand_name"]) in parsed.attributes
    assert ("a", "href", hostile["privacy_url"]) in parsed.attributes
    assert hostile["brand_name"] in parsed.text


@pytest.mark.parametrize(
    ("accept_language", "lang", "heading", "button"),
    [
        (None, "en", "Unsubscribe", "Unsubscribe"),
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr", "Se désabonner", "Se désabonner"),
        ("de-DE, es;q=0.7, en;q=0.3", "es", "Darse de baja", "Darse de baja"),
        ("en;q=0.2, fr;q=0.6", "fr", "Se désabonner", "Se désabonner"),
        ("it", "en", "Unsubscribe", "Unsubscribe"),
    ],
)
def test_r16_the_page_speaks_the_persons_language(contact, accept_language, lang, heading, button):
    assert contact.patch("/v1/settings", {"page": {"brand_name": "Acme"}})[0] == 200
    link = mint(contact, contact_id="c1", sequence_id="seq-1")
    headers = {"Accept-Language": accept_language} if accept_language else {}
    status, html, response_headers = page(contact, "GET", path_of(link), headers=headers)
    assert status == 200
    assert f'<html lang="{lang}">' in html
    assert f"<h1>{heading}</h1>" in html and f'<button type="submit">{button}</button>' in html
    assert response_headers["Content-Language"] == lang and response_headers["Vary"] == "Accept-Language"
    # And the confirmation speaks it too
    status, html, _ = page(contact, "POST", path_of(link), "scope=sequence", {**FORM, **headers})
    assert status == 200 and f'<html lang="{lang}">' in html


def test_r16_french_and_spanish_confirmations_name_the_sender(contact):
    link = mint(contact, contact_id="c1")
    fr = page(contact, "POST", path_of(link), "scope=all", {**FORM, "Accept-Language": "fr"})[1]
    assert "Cet expéditeur ne vous contactera plus par : E-mail" in fr
    assert contact.patch("/v1/settings", {"page": {"brand_name": "Acme"}})[0] == 200
    es = page(contact, "POST", path_of(link), "scope=all", {**FORM, "Accept-Language": "es"})[1]
    assert "Acme ya no le contactará por: Correo electrónico" in es


def test_r16_the_404_page_knows_no_workspace_and_speaks_the_language(contact):
    # Given a branded workspace and a broken link of it
    assert contact.patch("/v1/settings", {"page": BRAND})[0] == 200
    broken = path_of(mint(contact))[:-4] + "AAAA"
    # When it is opened in French and in English
    for accept_language, lang, words in (("fr", "fr", "Lien non valide"), ("en", "en", "Link not valid")):
        status, html, headers = page(contact, "GET", broken, headers={"Accept-Language": accept_language})
        # Then it is the neutral 404 page in that language: no brand, no logo
        assert status == 404 and f'<html lang="{lang}">' in html and words in html
        assert "Acme" not in html and "<img" not in html and "acme.example" not in html
        assert headers["Content-Language"] == lang
