"""The unsubscribe pages (R5): plain, accessible HTML that works without CSS or JavaScript.

No personal data is shown (the link may be forwarded), nothing submits itself, every control
has a label, and the bad-link page is one constant page whatever went wrong.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the page code needs only their shape
    from chalicelib.services.unsubscribe import LinkView, UnsubscribeOutcome

CHANNEL_LABELS = {
    "email": "Email",
    "sms": "Text messages (SMS)",
    "call": "Phone calls",
    "whatsapp": "WhatsApp messages",
    "facebook": "Facebook Messenger messages",
    "gbp": "Google Business Profile messages",
}

PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
}

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
    "fieldset{border:1px solid #888;margin:1rem 0;padding:.5rem 1rem}"
    "button{font-size:1rem;padding:.5rem 1.25rem}"
    ":focus{outline:3px solid #1a5fb4;outline-offset:2px}"
)


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def confirmation_form(view: LinkView) -> str:
    """GET: the choice. Submitting the form is the only thing that changes anything."""
    channel = CHANNEL_LABELS.get(view.channel, view.channel)
    parts = [
        "<h1>Unsubscribe</h1>",
        f"<p>Confirm below to stop receiving messages from us. This link came with: {escape(channel)}.</p>",
        '<form method="post">',
    ]
    if view.has_sequence:
        parts += [
            "<fieldset>",
            "<legend>What would you like to stop?</legend>",
            '<div><input type="radio" id="scope-sequence" name="scope" value="sequence">'
            ' <label for="scope-sequence">Only this series of messages</label></div>',
            '<div><input type="radio" id="scope-all" name="scope" value="all" checked>'
            ' <label for="scope-all">Everything from us</label></div>',
            "</fieldset>",
        ]
    else:
        parts.append('<input type="hidden" name="scope" value="all">')
    if view.keep_options:
        parts += [
            "<fieldset>",
            "<legend>Keep hearing from us on (optional)</legend>",
            f"<p>You will stop receiving {escape(channel.lower())} in any case. "
            "Tick any other way we may still contact you.</p>",
        ]
        for option in view.keep_options:
            label = CHANNEL_LABELS.get(option, option)
            parts.append(
                f'<div><input type="checkbox" id="keep-{escape(option)}" name="keep" value="{escape(option)}">'
                f' <label for="keep-{escape(option)}">{escape(label)}</label></div>'
            )
        parts.append("</fieldset>")
    parts += ['<p><button type="submit">Unsubscribe</button></p>', "</form>"]
    return _page("Unsubscribe", "\n".join(parts))


def confirmation_done(outcome: UnsubscribeOutcome) -> str:
    """POST: what was done, in plain words."""
    stopped = ", ".join(CHANNEL_LABELS.get(c, c) for c in outcome.channels)
    parts = [
        "<h1>You are unsubscribed</h1>",
        f'<p role="status">We will no longer contact you by: {escape(stopped)}.</p>',
    ]
    if outcome.kept:
        kept = ", ".join(CHANNEL_LABELS.get(c, c) for c in outcome.kept)
        parts.append(f"<p>As you asked, we may still contact you by: {escape(kept)}.</p>")
    if outcome.scope == "sequence":
        parts.append("<p>You have been removed from this series of messages.</p>")
    else:
        parts.append("<p>You have been removed from all of our message series.</p>")
    parts.append("<p>You can close this page.</p>")
    return _page("You are unsubscribed", "\n".join(parts))


INVALID_LINK_PAGE = _page(
    "Link not valid",
    "<h1>This link is not valid</h1>\n"
    "<p>The unsubscribe link may be incomplete or out of date. Please use the unsubscribe link in a "
    "recent message from us, or reply to that message and ask us to stop.</p>",
)

BAD_CHOICE_PAGE = _page(
    "Please try again",
    "<h1>Please try again</h1>\n<p>We could not read your choice. Please go back and submit the form again.</p>",
)

UNAVAILABLE_PAGE = _page(
    "Please try again",
    "<h1>Please try again in a moment</h1>\n"
    "<p>We could not record your request just now, and nothing was lost. Please submit it again shortly.</p>",
)
