"""R5: the unsubscribe page in a real browser (Debian's chromium driven by Playwright) against the
running local stack: load, choose "this sequence only", submit, see the confirmation -- with a
mouse and with the keyboard alone -- plus basic accessibility: the lang attribute, a label for
every control, and a page that still reads without CSS.

Run with `make browser-test` (kept out of `make test`); screenshots go to build/test-artifacts/.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO_ROOT, LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = os.environ.get("OPTOUT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "build" / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: make browser-test installs it (apt-get, as root)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 800, "height": 700}, java_script_enabled=True)
    page = context.new_page()
    yield page
    context.close()


def api(stack: LocalStack, method: str, path: str, body: Any = None, expected: int = 200) -> Any:
    response = stack.request(method, path, body, key=stack.api_key)
    assert response.status == expected, (method, path, response.status, response.body)
    return response.json() if response.body else None


def contact_in_two_sequences(stack: LocalStack) -> tuple[str, str, str, str]:
    """A contact of workspace default enrolled in two sequences, and a link minted for the first."""
    suffix = uuid.uuid4().hex[:8]
    contact_id, first, second = f"br-{suffix}", f"seq-a-{suffix}", f"seq-b-{suffix}"
    api(stack, "PUT", f"/v1/contacts/{contact_id}", {"email": f"browser-{suffix}@example.com"})
    for sequence_id in (first, second):
        api(stack, "POST", f"/v1/sequences/{sequence_id}/enrollments", {"contact_id": contact_id}, expected=201)
    link = api(stack, "POST", "/v1/unsubscribe-links", {"contact_id": contact_id, "sequence_id": first})
    return contact_id, first, second, link["url"]


def enrollment_status(stack: LocalStack, sequence_id: str, contact_id: str) -> str | None:
    page = api(stack, "GET", f"/v1/sequences/{sequence_id}/enrollments")
    return next((e["status"] for e in page["enrollments"] if e["contact_id"] == contact_id), None)


def assert_unsubscribed_from_first_only(stack: LocalStack, contact_id: str, first: str, second: str) -> None:
    assert enrollment_status(stack, first, contact_id) == "unenrolled"
    assert enrollment_status(stack, second, contact_id) == "active"
    contact = api(stack, "GET", f"/v1/contacts/{contact_id}")
    assert contact["dnd"]["outbound"]["email"]["reason"] == "unsubscribed"


def test_r5_choose_this_sequence_only_and_see_the_confirmation(local_stack: LocalStack, page: Any):
    # Given a contact in two sequences and the link from a message of the first
    contact_id, first, second, url = contact_in_two_sequences(local_stack)
    # When the person opens the link
    response = page.goto(url)
    assert response.status == 200
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Unsubscribe").is_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "unsubscribe-form.png"), full_page=True)
    # Then opening it changed nothing (mail scanners follow links)
    assert enrollment_status(local_stack, first, contact_id) == "active"
    # When they choose "this sequence only" by its label and submit
    page.get_by_label("Only this series of messages").check()
    assert page.locator("#scope-sequence").is_checked()
    page.get_by_role("button", name="Unsubscribe").click()
    # Then they see the confirmation, and only that sequence lost them
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="You are unsubscribed").is_visible()
    assert page.get_by_role("status").is_visible()
    assert "removed from this series" in page.locator("main").inner_text()
    page.screenshot(path=str(ARTIFACTS / "unsubscribe.png"), full_page=True)
    assert_unsubscribed_from_first_only(local_stack, contact_id, first, second)


def test_r5_every_control_has_a_label_and_the_page_reads_without_css(local_stack: LocalStack, page: Any):
    _, _, _, url = contact_in_two_sequences(local_stack)
    page.goto(url)
    # Every visible control is labelled (label[for] or aria-label), every group has a legend
    unlabeled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(el => el.type !== 'hidden')
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
        .map(el => el.outerHTML)""")
    assert unlabeled == []
    assert page.locator("input:not([type=hidden])").count() >= 2
    assert page.evaluate("() => [...document.querySelectorAll('fieldset')].every(f => f.querySelector('legend'))")
    assert page.locator("button[type=submit]").count() == 1
    # Without any CSS the heading, the choices and the button are still there and visible, in order
    page.evaluate("""() => {
        document.querySelectorAll('style, link[rel=stylesheet]').forEach(el => el.remove());
        document.querySelectorAll('[style]').forEach(el => el.removeAttribute('style'));
    }""")
    assert page.evaluate("() => document.styleSheets.length") == 0
    text = page.locator("body").inner_text()
    order = [text.index(s) for s in ("Unsubscribe", "Only this series of messages", "Everything from this sender")]
    assert order == sorted(order)
    for locator in (
        page.get_by_role("heading", name="Unsubscribe"),
        page.get_by_label("Only this series of messages"),
        page.get_by_role("button", name="Unsubscribe"),
    ):
        assert locator.is_visible()
        box = locator.bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0
    page.screenshot(path=str(ARTIFACTS / "unsubscribe-no-css.png"), full_page=True)


def test_r5_the_form_works_with_the_keyboard_alone(local_stack: LocalStack, page: Any):
    # Given the page, and a person who uses only the keyboard
    contact_id, first, second, url = contact_in_two_sequences(local_stack)
    page.goto(url)
    # When they tab to the scope choice, pick "this sequence only" with the arrow keys
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement && document.activeElement.name") == "scope":
            break
    else:
        pytest.fail("the scope radio buttons are not reachable with Tab")
    focused = page.evaluate("() => document.activeElement.value")
    page.keyboard.press("ArrowUp" if focused == "all" else "Space")
    assert page.locator("#scope-sequence").is_checked()
    # And submit with Enter on the focused button
    page.locator("button[type=submit]").focus()
    assert page.evaluate("() => document.activeElement.type") == "submit"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # Then the confirmation shows and only that sequence lost them
    assert page.get_by_role("heading", name="You are unsubscribed").is_visible()
    assert_unsubscribed_from_first_only(local_stack, contact_id, first, second)


# --- R16: the preference center of a topic link ---------------------------------------------------


def preference_link(stack: LocalStack) -> tuple[str, str, str]:
    """Two topics of workspace default (per-run ids), a contact, and its newsletter link."""
    suffix = uuid.uuid4().hex[:8]
    news, offers, contact_id = f"news-{suffix}", f"offers-{suffix}", f"pc-{suffix}"
    api(stack, "PUT", f"/v1/topics/{news}", {"name": f"Newsletter {suffix}", "channels": ["email", "sms"]})
    api(stack, "PUT", f"/v1/topics/{offers}", {"name": f"Offers {suffix}", "channels": ["email"]})
    api(stack, "PUT", f"/v1/contacts/{contact_id}", {"email": f"pc-{suffix}@example.com", "phone": "+14155552671"})
    link = api(stack, "POST", "/v1/unsubscribe-links", {"contact_id": contact_id, "topic_id": news})
    return contact_id, news, link["url"]


def topic_allowed(stack: LocalStack, contact_id: str, topic_id: str, channel: str) -> bool:
    body = {"contact_id": contact_id, "channel": channel, "topic_id": topic_id}
    return api(stack, "POST", "/v1/send-check", body)["allowed"]


def test_r16_preference_center_labels_tab_order_and_saved_state(local_stack: LocalStack, page: Any):
    # Given a contact's newsletter link (the workspace may hold topics of other tests too)
    contact_id, news, url = preference_link(local_stack)
    # When the person opens it
    assert page.goto(url).status == 200
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Your subscriptions").is_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "preference-center.png"), full_page=True)
    # Then every checkbox has its own label, every group a legend, and the newsletter group comes first
    unlabeled = page.evaluate("""() => [...document.querySelectorAll('input[type=checkbox]')]
        .filter(el => !(el.labels && el.labels.length === 1)).map(el => el.outerHTML)""")
    assert unlabeled == []
    assert page.evaluate("() => [...document.querySelectorAll('fieldset')].every(f => f.querySelector('legend'))")
    newsletter = page.get_by_role("group", name=f"Newsletter {news.split('-')[1]}")
    assert newsletter.get_by_label("Email").is_checked() and newsletter.get_by_label("Text messages (SMS)").is_checked()
    assert page.locator("fieldset legend").first.inner_text().startswith("Newsletter")
    # And Tab visits every checkbox in page order, then "unsubscribe from everything", then Save
    expected = page.evaluate("""() => [...document.querySelectorAll('input[type=checkbox], button')]
        .map(el => el.id || el.type)""")
    visited = []
    for _ in range(len(expected)):
        page.keyboard.press("Tab")
        visited.append(page.evaluate("() => document.activeElement.id || document.activeElement.type"))
    assert visited == expected
    assert visited[-2:] == ["everything", "submit"]
    # When, with the keyboard alone, they untick "Newsletter by SMS" and save
    newsletter.get_by_label("Text messages (SMS)").focus()
    page.keyboard.press("Space")
    assert not newsletter.get_by_label("Text messages (SMS)").is_checked()
    page.locator("button[type=submit]").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # Then the saved page reads the new state back and says so
    assert page.get_by_role("status").is_visible()
    saved = page.get_by_role("group", name=f"Newsletter {news.split('-')[1]}")
    assert saved.get_by_label("Email").is_checked() and not saved.get_by_label("Text messages (SMS)").is_checked()
    page.screenshot(path=str(ARTIFACTS / "preference-center-saved.png"), full_page=True)
    # And opening the link again shows the same, and the send-check agrees
    page.goto(url)
    again = page.get_by_role("group", name=f"Newsletter {news.split('-')[1]}")
    assert not again.get_by_label("Text messages (SMS)").is_checked() and again.get_by_label("Email").is_checked()
    assert not topic_allowed(local_stack, contact_id, news, "sms")
    assert topic_allowed(local_stack, contact_id, news, "email")
    # When they tick it again (their own re-opt-in) and save with a click
    page.get_by_role("group", name=f"Newsletter {news.split('-')[1]}").get_by_label("Text messages (SMS)").check()
    page.get_by_role("button", name="Save my choices").click()
    page.wait_for_load_state()
    # Then they are subscribed again, and the audit says the contact did it
    assert topic_allowed(local_stack, contact_id, news, "sms")
    entries = api(local_stack, "GET", f"/v1/audit?contact_id={contact_id}")["entries"]
    assert [(e["action"], e["source"], e["topic_id"]) for e in entries if e["channel"] == "sms"] == [
        ("enabled", "contact", news),
        ("disabled", "contact", news),
    ]


def test_r16_branded_preference_center_in_french(local_stack: LocalStack, page: Any):
    # Given a branded workspace (its own, so the default workspace's pages stay neutral for the other tests)
    suffix = uuid.uuid4().hex[:8]
    admin = local_stack.request(
        "POST", "/v1/admin/workspaces", {"workspace_id": f"brand-{suffix}"}, key=local_stack.admin_key
    )
    assert admin.status == 201, admin.body
    key = admin.json()["api_key"]

    def call(method: str, path: str, body: Any = None) -> Any:
        response = local_stack.request(method, path, body, key=key)
        assert response.status == 200, (path, response.status, response.body)
        return response.json()

    brand = {
        "brand_name": "Acme",
        "accent_color": "#7a1f5c",
        "privacy_url": "https://acme.example/privacy",
        "support_email": "help@acme.example",
    }
    call("PATCH", "/v1/settings", {"page": brand})
    call("PUT", "/v1/topics/news", {"name": "Lettre d'information", "channels": ["email"]})
    call("PUT", "/v1/contacts/c1", {"email": "fr@example.com"})
    url = call("POST", "/v1/unsubscribe-links", {"contact_id": "c1", "topic_id": "news"})["url"]
    context = page.context.browser.new_context(locale="fr-FR", extra_http_headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    french = context.new_page()
    try:
        assert french.goto(url).status == 200
        # Then the page speaks French and carries the brand
        assert french.locator("html").get_attribute("lang") == "fr"
        assert french.get_by_role("heading", name="Vos abonnements").is_visible()
        assert (
            french.get_by_role("link", name="Politique de confidentialité").get_attribute("href")
            == brand["privacy_url"]
        )
        assert "Acme" in french.locator("main").inner_text()
        assert french.get_by_label("Me désabonner de tout").is_visible()
        french.screenshot(path=str(ARTIFACTS / "preference-center-fr.png"), full_page=True)
    finally:
        context.close()
