"""Translation, plural forms, Babel formatting and right-to-left isolation."""

from __future__ import annotations

from datetime import UTC, datetime

from flows.i18n import FSI, PDI, Translator


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
