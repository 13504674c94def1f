"""Translation, plural forms, Babel formatting and right-to-left isolation."""

from __future__ import annotations

from datetime import UTC, datetime

from flows.i18n import FSI, PDI, RLM, Translator, right_to_left


def test_arabic_isolates_embedded_names_and_numbers() -> None:
    t = Translator("ar")
    text = t._("Nice to meet you, {name}!", name="Samira")
    assert f"{FSI}Samira{PDI}" in text
    assert t.rtl


def test_left_to_right_languages_get_no_isolates() -> None:
    text = Translator("nl")._("Nice to meet you, {name}!", name="Samira")
    assert text == "Leuk je te leren kennen, Samira!"


def test_numbers_and_dates_follow_the_language_in_programme_time() -> None:
    moment = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # already Sunday in Brussels
    assert Translator("nl").date(moment, format="full").startswith("zondag 29 maart 2026")
    assert Translator("fr").number(4000) == "4\u202f000"
    assert Translator("en").number(4000) == "4,000"
    assert Translator("tr").weekday(0) == "Pazartesi"


def test_unknown_language_falls_back_to_english() -> None:
    assert Translator("xx")._("Help") == "Help"


def test_mixed_arabic_lines_that_start_with_latin_are_marked_right_to_left() -> None:
    text = right_to_left("S · الموقف (1/5)\nماذا حدث؟\nhttps://example.org\n⁨Samira⁩ قالت")
    assert text.split("\n") == [
        RLM + "S · الموقف (1/5)",  # would otherwise be laid out left to right
        "ماذا حدث؟",
        "https://example.org",  # no Arabic: left alone
        "⁨Samira⁩ قالت",  # an isolated name does not count: the line starts right to left
    ]


def test_lists_and_commas_follow_the_language() -> None:
    assert Translator("nl").join(["1. Sociale kaart", "3. Samenwerken"]) == (
        "1. Sociale kaart en 3. Samenwerken"
    )
    assert Translator("ar").comma == "\u060c " and Translator("tr").comma == ", "
    assert Translator("tr").number(2.5) == "2,5"
