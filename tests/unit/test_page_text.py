"""R16: the page texts, one dict per language, each complete and with the same placeholders."""

from __future__ import annotations

import string

import pytest

from chalicelib.api.page_text import DEFAULT_LANGUAGE, LANGUAGES
from chalicelib.models.domain import CHANNELS


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_r16_at_least_english_french_and_spanish():
    assert {"en", "fr", "es"} <= set(LANGUAGES) and DEFAULT_LANGUAGE == "en"


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_r16_every_language_has_every_text_with_the_same_placeholders(lang):
    reference = LANGUAGES[DEFAULT_LANGUAGE]
    texts = LANGUAGES[lang]
    assert set(texts) == set(reference)
    for key, text in texts.items():
        assert text.strip(), key
        assert placeholders(text) == placeholders(reference[key]), (lang, key)
    assert all(f"channel.{channel}" in texts for channel in CHANNELS)


def test_r16_the_languages_really_differ():
    titles = {LANGUAGES[lang]["unsubscribe.title"] for lang in ("en", "fr", "es")}
    assert len(titles) == 3
