"""R15: SMS keywords -- the built-in list in three languages, accent/case-insensitive, inner spaces and
hyphens collapsed, a workspace's own words, and Twilio's OptOutType deciding the class."""

from __future__ import annotations

import pytest

from chalicelib.logic.keywords import KeywordMatch, match_keyword


@pytest.mark.parametrize(
    ("body", "language"),
    [
        ("STOP ALL", "en"),
        ("stop  all", "en"),
        ("Stop-All", "en"),
        ("OPT-OUT", "en"),
        ("opt - out", "en"),
        ("UNSUB", "en"),
        ("Remove.", "en"),
        ("ARRET", "fr"),
        ("Arrêt", "fr"),
        ("ARRÊT!", "fr"),
        ("arrêt", "fr"),
        ("ALTO", "es"),
        ("baja", "es"),
        ("Parar", "es"),
        ("STOP" + " " * 70, "en"),  # issue 11.6: trailing spaces are trimmed before any length limit
        (" " * 70 + "stop" + "!" * 40, "en"),
    ],
)
def test_r15_built_in_opt_out_words(body: str, language: str):
    assert match_keyword(body) == KeywordMatch("opt_out", language)


@pytest.mark.parametrize(("body", "language"), [("AIDE", "fr"), ("aide?", "fr"), ("Ayuda", "es"), ("HELP", "en")])
def test_r15_built_in_help_words(body: str, language: str):
    assert match_keyword(body) == KeywordMatch("help", language)


@pytest.mark.parametrize("body", ["S T O P", "STOPP", "stop all of it", "ARRETEZ", "x" * 65, "STOP" + "x" * 70])
def test_r15_other_texts_are_not_keywords(body: str):
    assert match_keyword(body) is None


def test_r15_workspace_words_per_class():
    custom = {"opt_out": ["LEAVE ME BE"], "opt_in": ["RESUME"], "help": ["SUPPORT"]}
    assert match_keyword("leave-me be!", custom) == KeywordMatch("opt_out")
    assert match_keyword("Resume", custom) == KeywordMatch("opt_in")
    assert match_keyword("support?", custom) == KeywordMatch("help")
    assert match_keyword("STOP", custom) == KeywordMatch("opt_out")  # built-ins still hold


@pytest.mark.parametrize(
    ("body", "opt_out_type", "expected"),
    [
        ("please end it", "STOP", KeywordMatch("opt_out")),  # Twilio matched a custom keyword of its own
        ("ARRET", "STOP", KeywordMatch("opt_out", "fr")),
        ("STOP", "START", KeywordMatch("opt_in")),  # OptOutType decides the class
        ("go", "start", KeywordMatch("opt_in")),
        ("AYUDA", "HELP", KeywordMatch("help", "es")),
        ("STOP", "", KeywordMatch("opt_out")),
        ("STOP", "SOMETHING_NEW", KeywordMatch("opt_out")),  # an unknown type leaves the words to decide
    ],
)
def test_r15_twilio_opt_out_type_decides_the_class_when_present(body, opt_out_type, expected):
    assert match_keyword(body, None, opt_out_type) == expected
