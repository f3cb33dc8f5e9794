"""The unsubscribe pages (R5, R16): plain, accessible HTML that works without CSS or JavaScript.

No personal data is shown (the link may be forwarded), nothing submits itself, every control
has a label, and the bad-link page is one constant page per language whatever went wrong: it
knows no workspace, so it carries no brand. The other pages carry the workspace's ``page``
setting (name, logo, accent colour, privacy link, support address) and speak the language the
person's browser asks for (``Accept-Language``; texts in ``page_text``). Everything inserted is
escaped; the logo is an ``<img>`` the browser loads (https only; no referrer is sent).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote

from chalicelib.api.page_text import DEFAULT_LANGUAGE, LANGUAGES
from chalicelib.logic.language import negotiate
from chalicelib.logic.preferences import PREFERENCES_FORM

if TYPE_CHECKING:  # the page code needs only their shape
    from chalicelib.models.domain import PageSettings
    from chalicelib.services.unsubscribe import LinkView, PreferenceView, UnsubscribeOutcome

SUPPORTED_LANGUAGES = tuple(LANGUAGES)

PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; img-src https:; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Vary": "Accept-Language",
}

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
    "header{display:flex;align-items:center;gap:.75rem;padding-bottom:.5rem;border-bottom:4px solid #555}"
    "header img{max-height:3rem;max-width:12rem}"
    "fieldset{border:1px solid #888;margin:1rem 0;padding:.5rem 1rem}"
    "button{font-size:1rem;padding:.5rem 1.25rem}"
    "footer{margin-top:2rem;font-size:.9rem}"
    ":focus{outline:3px solid #1a5fb4;outline-offset:2px}"
)


def language(accept_language: str | None) -> str:
    """The page language for a request's Accept-Language header."""
    return negotiate(accept_language, SUPPORTED_LANGUAGES, DEFAULT_LANGUAGE)


def headers_for(lang: str) -> dict[str, str]:
    return {**PAGE_HEADERS, "Content-Language": lang}


def _contrast_text(accent: str) -> str:
    """Black or white, whichever reads better on the accent colour (WCAG relative luminance)."""

    def channel(hex2: str) -> float:
        value = int(hex2, 16) / 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(accent[i : i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#000" if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else "#fff"


class Words:
    """The page's texts in one language, with the sender named by the brand (or neutrally)."""

    def __init__(self, lang: str, brand: PageSettings | None = None) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        self.texts = LANGUAGES[self.lang]
        self.brand = brand
        name = brand.brand_name if brand else None
        generic = self.texts["this_sender"]
        self.sender = name or generic
        self.sender_start = name or generic[:1].upper() + generic[1:]

    def __call__(self, key: str, **values: str) -> str:
        """Plain text (the caller escapes it)."""
        return self.texts[key].format(sender=self.sender, Sender=self.sender_start, **values)

    def channel(self, channel: str) -> str:
        return self.texts.get(f"channel.{channel}", channel)


def _page(words: Words, title: str, body: str) -> str:
    brand = words.brand
    style = _STYLE
    header = ""
    footer: list[str] = []
    if brand is not None:
        if brand.accent_color:
            accent = brand.accent_color
            style += (
                f"header{{border-bottom-color:{accent}}}"
                f"button{{background:{accent};color:{_contrast_text(accent)};border:2px solid {accent}}}"
            )
        if brand.logo_url:
            alt = words("logo_alt_brand", brand=brand.brand_name) if brand.brand_name else words("logo_alt")
            header = (
                f'<header><img src="{escape(brand.logo_url)}" alt="{escape(alt)}" referrerpolicy="no-referrer">'
                "</header>\n"
            )
        elif brand.brand_name:
            header = f"<header><p><strong>{escape(brand.brand_name)}</strong></p></header>\n"
        if brand.privacy_url:
            footer.append(
                f'<a href="{escape(brand.privacy_url)}" rel="noopener noreferrer">{escape(words("footer.privacy"))}</a>'
            )
        if brand.support_email:
            mailto = "mailto:" + quote(brand.support_email, safe="@.+-_")
            link = f'<a href="{escape(mailto)}">{escape(brand.support_email)}</a>'
            before, _, after = words("footer.support", email="\x00").partition("\x00")
            footer.append(f"{escape(before)}{link}{escape(after)}")
    footer_html = ("<footer>\n<p>" + "</p>\n<p>".join(footer) + "</p>\n</footer>\n") if footer else ""
    return (
        "<!doctype html>\n"
        f'<html lang="{escape(words.lang)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        f"<title>{escape(title)}</title>\n<style>{style}</style>\n</head>\n"
        f"<body>\n{header}<main>\n{body}\n</main>\n{footer_html}</body>\n</html>\n"
    )


def confirmation_form(view: LinkView, lang: str) -> str:
    """GET: the choice. Submitting the form is the only thing that changes anything."""
    say = Words(lang, view.brand)
    channel = say.channel(view.channel)
    parts = [
        f"<h1>{escape(say('unsubscribe.title'))}</h1>",
        f"<p>{escape(say('unsubscribe.intro'))} {escape(say('unsubscribe.came_with', channel=channel))}</p>",
        '<form method="post">',
    ]
    if view.has_sequence:
        parts += [
            "<fieldset>",
            f"<legend>{escape(say('unsubscribe.scope_legend'))}</legend>",
            '<div><input type="radio" id="scope-sequence" name="scope" value="sequence">'
            f' <label for="scope-sequence">{escape(say("unsubscribe.scope_sequence"))}</label></div>',
            '<div><input type="radio" id="scope-all" name="scope" value="all" checked>'
            f' <label for="scope-all">{escape(say("unsubscribe.scope_all"))}</label></div>',
            "</fieldset>",
        ]
    else:
        parts.append('<input type="hidden" name="scope" value="all">')
    if view.keep_options:
        parts += [
            "<fieldset>",
            f"<legend>{escape(say('unsubscribe.keep_legend'))}</legend>",
            f"<p>{escape(say('unsubscribe.keep_hint', channel=channel))}</p>",
        ]
        for option in view.keep_options:
            parts.append(
                f'<div><input type="checkbox" id="keep-{escape(option)}" name="keep" value="{escape(option)}">'
                f' <label for="keep-{escape(option)}">{escape(say.channel(option))}</label></div>'
            )
        parts.append("</fieldset>")
    parts += [f'<p><button type="submit">{escape(say("unsubscribe.button"))}</button></p>', "</form>"]
    return _page(say, say("unsubscribe.title"), "\n".join(parts))


def confirmation_done(outcome: UnsubscribeOutcome, lang: str) -> str:
    """POST: what was done, in plain words."""
    say = Words(lang, outcome.brand)
    stopped = ", ".join(say.channel(c) for c in outcome.channels)
    parts = [
        f"<h1>{escape(say('done.title'))}</h1>",
        f'<p role="status">{escape(say("done.stopped", channels=stopped))}</p>',
    ]
    if outcome.kept:
        kept = ", ".join(say.channel(c) for c in outcome.kept)
        parts.append(f"<p>{escape(say('done.kept', channels=kept))}</p>")
    parts.append(f"<p>{escape(say('done.sequence' if outcome.scope == 'sequence' else 'done.all'))}</p>")
    parts.append(f"<p>{escape(say('done.close'))}</p>")
    return _page(say, say("done.title"), "\n".join(parts))


def link_page(view: LinkView | PreferenceView, lang: str) -> str:
    """GET: a topic link's preference center, else the unsubscribe confirmation form."""
    from chalicelib.services.unsubscribe import PreferenceView

    return preference_center(view, lang) if isinstance(view, PreferenceView) else confirmation_form(view, lang)


def outcome_page(outcome: UnsubscribeOutcome | PreferenceView, lang: str) -> str:
    """POST: the preference center as saved, else what the unsubscribe did."""
    from chalicelib.services.unsubscribe import PreferenceView

    if isinstance(outcome, PreferenceView):
        return preference_center(outcome, lang)
    return confirmation_done(outcome, lang)


def preference_center(view: PreferenceView, lang: str) -> str:
    """Every topic x channel as a labelled checkbox showing the current state (a fieldset and
    legend per topic), "unsubscribe from everything", one submit button. No script: the form
    posts the ticked boxes plus the list of boxes shown, so only what the person saw can change."""
    say = Words(lang, view.brand)
    title = say("prefs.saved_title") if view.saved and not view.left_topic else say("prefs.title")
    parts = [f"<h1>{escape(title)}</h1>"]
    if view.saved:
        said = []
        if view.left_topic:
            said.append(say("prefs.left_topic", topic=view.left_topic))
        elif view.changed:
            said.append(say("prefs.saved"))
        else:
            said.append(say("prefs.unchanged"))
        if view.stopped_channels:
            said.append(say("done.stopped", channels=", ".join(say.channel(c) for c in view.stopped_channels)))
        parts.append(f'<p role="status">{escape(" ".join(said))}</p>')
    parts.append(f"<p>{escape(say('prefs.intro'))}</p>")
    parts += ['<form method="post">', f'<input type="hidden" name="form" value="{PREFERENCES_FORM}">']
    if not view.topics:
        parts.append(f"<p>{escape(say('prefs.no_topics'))}</p>")
    for index, topic in enumerate(view.topics):
        described = f' aria-describedby="topic-{index}-description"' if topic.description else ""
        parts += ["<fieldset>", f"<legend>{escape(topic.name)}</legend>"]
        if topic.description:
            parts.append(f'<p id="topic-{index}-description">{escape(topic.description)}</p>')
        for channel, value, subscribed in topic.boxes:
            box_id = f"topic-{index}-{channel}"
            parts.append(
                f'<div><input type="hidden" name="shown" value="{escape(value)}">'
                f'<input type="checkbox" id="{box_id}" name="sub" value="{escape(value)}"'
                f"{' checked' if subscribed else ''}{described}>"
                f' <label for="{box_id}">{escape(say.channel(channel))}</label></div>'
            )
        parts.append("</fieldset>")
    parts += [
        "<fieldset>",
        f"<legend>{escape(say('prefs.everything_legend'))}</legend>",
        '<div><input type="checkbox" id="everything" name="everything" value="yes"'
        ' aria-describedby="everything-hint">'
        f' <label for="everything">{escape(say("prefs.everything"))}</label></div>',
        f'<p id="everything-hint">{escape(say("prefs.everything_hint"))}</p>',
        "</fieldset>",
        f'<p><button type="submit">{escape(say("prefs.save"))}</button></p>',
        "</form>",
    ]
    return _page(say, title, "\n".join(parts))


def _neutral(lang: str, name: str) -> str:
    say = Words(lang)
    return _page(
        say, say(f"{name}.title"), f"<h1>{escape(say(f'{name}.title'))}</h1>\n<p>{escape(say(f'{name}.body'))}</p>"
    )


def invalid_link_page(lang: str) -> str:
    """Every bad link, whatever failed: no workspace is known, so no brand."""
    return _neutral(lang, "invalid")


def bad_choice_page(lang: str) -> str:
    return _neutral(lang, "retry")


def unavailable_page(lang: str) -> str:
    return _neutral(lang, "unavailable")
