"""R15: auto-replies are not replies (RFC 3834 headers, X-Autoreply/X-Autorespond, Precedence,
out-of-office subjects in English, French, Spanish and German)."""

from __future__ import annotations

import pytest

from chalicelib.logic.auto_reply import is_auto_reply


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"auto-submitted": "auto-generated"},
        {"AUTO-SUBMITTED": 'auto-replied; owner-email="x@example.com"'},
        {"X-Autoreply": "yes"},
        {"X-Autorespond": "Out of office"},
        {"Precedence": "auto_reply"},
        {"Precedence": "bulk"},
        {"Precedence": "Junk"},
        {"Auto-Submitted": ["no", "auto-replied"]},
    ],
)
def test_r15_auto_reply_headers(headers):
    assert is_auto_reply(headers, "Re: our call")


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Re: quick question",
        "Automatic reply: Re: intro",
        "Auto-Reply: away",
        "OOO until Monday",
        "Absence du bureau",
        "Réponse automatique : Re: démo",
        "Fuera de la oficina",
        "Respuesta automática: Re: propuesta",
        "Abwesenheitsnotiz: Re: Angebot",
        "Automatische Antwort: Ihre Anfrage",
        "Nicht im Büro",
    ],
)
def test_r15_out_of_office_subjects(subject):
    assert is_auto_reply(None, subject)


@pytest.mark.parametrize(
    ("headers", "subject"),
    [
        ({"Auto-Submitted": "no"}, "Re: pricing"),
        ({"Precedence": "list"}, "Re: pricing"),
        ({}, "Re: the office move"),
        ({"X-Mailer": "Outlook"}, "Unsubscribe"),
        (None, None),
        ({"Auto-Submitted": 5}, ""),
    ],
)
def test_r15_real_replies_are_not_auto_replies(headers, subject):
    assert not is_auto_reply(headers, subject)
