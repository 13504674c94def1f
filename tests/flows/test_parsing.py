"""flows/parsing.py: times, dates and small numbers as learners type them, per language."""

from __future__ import annotations

from datetime import date, time

import pytest
from babel.dates import format_date
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.parsing import (
    LANGUAGES,
    parse_choices,
    parse_date,
    parse_month,
    parse_number,
    parse_time,
)

TODAY = date(2026, 12, 2)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("18:30", time(18, 30)),
        ("18.30", time(18, 30)),
        ("18u30", time(18, 30)),  # Dutch, Belgium
        ("18u", time(18)),
        ("6 uur", time(6)),
        ("19h00", time(19)),  # French, Belgium
        ("19h", time(19)),
        ("18 heures", time(18)),
        ("à 9h15", time(9, 15)),
        ("6pm", time(18)),  # English
        ("6:30 pm", time(18, 30)),
        ("12 am", time(0)),
        ("١٨:٣٠", time(18, 30)),  # Arabic-Indic digits
        ("saat 18:30", None),
        ("18", None),  # a bare number could be anything
        ("25:00", None),
        ("18:75", None),
        ("13pm", None),
        ("half zeven", None),
    ],
)
def test_times(typed: str, expected: time | None) -> None:
    assert parse_time(typed) == expected


@given(st.times().map(lambda t: t.replace(second=0, microsecond=0)), st.sampled_from(":.uh"))
def test_any_time_written_any_usual_way_reads_back(at: time, separator: str) -> None:
    assert parse_time(f"{at.hour}{separator}{at.minute:02d}") == at
    assert parse_time(f"{at.hour:02d}{separator}{at.minute:02d}") == at


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("24/12/2026", date(2026, 12, 24)),
        ("24-12-2026", date(2026, 12, 24)),
        ("24.12.2026", date(2026, 12, 24)),
        ("2026-12-24", date(2026, 12, 24)),
        ("24/12", date(2026, 12, 24)),
        ("1/12", date(2027, 12, 1)),  # past this year: the next one
        ("24 december", date(2026, 12, 24)),  # nl
        ("3 maart 2027", date(2027, 3, 3)),
        ("24 décembre 2026", date(2026, 12, 24)),  # fr
        ("1er mai", date(2027, 5, 1)),
        ("December 24, 2026", date(2026, 12, 24)),  # en
        ("24 Dec", date(2026, 12, 24)),
        ("24 Aralık 2026", date(2026, 12, 24)),  # tr
        ("5 Ocak", date(2027, 1, 5)),
        ("24 ديسمبر 2026", date(2026, 12, 24)),  # ar
        ("٢٤/١٢/٢٠٢٦", date(2026, 12, 24)),
        ("31/02/2026", None),
        ("next week", None),
        ("24", None),
        ("december", None),  # a month, not a day: parse_month
    ],
)
def test_dates(typed: str, expected: date | None) -> None:
    assert parse_date(typed, today=TODAY) == expected


def test_a_date_without_a_year_may_be_read_as_past() -> None:
    assert parse_date("24/12", today=TODAY, future=False) == date(2025, 12, 24)
    assert parse_date("1 december", today=TODAY, future=False) == date(2026, 12, 1)


@settings(max_examples=60)
@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)), st.sampled_from(LANGUAGES)
)
def test_any_date_as_babel_writes_it_reads_back(day: date, language: str) -> None:
    for pattern in ("d MMMM y", "d MMM y", "dd/MM/y", "d-M-y"):
        written = format_date(day, pattern, locale=language)
        assert parse_date(written, today=TODAY) == day, written


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("november", date(2026, 12, 1).replace(year=2027, month=11)),
        ("novembre 2026", date(2026, 11, 1)),
        ("November 2025", date(2025, 11, 1)),
        ("Kasım 2026", date(2026, 11, 1)),
        ("نوفمبر 2026", date(2026, 11, 1)),
        ("11/2026", date(2026, 11, 1)),
        ("december", date(2026, 12, 1)),
        ("someday", None),
    ],
)
def test_months(typed: str, expected: date | None) -> None:
    assert parse_month(typed, today=TODAY) == expected


def test_a_month_may_be_read_as_past() -> None:
    assert parse_month("november", today=TODAY, future=False) == date(2026, 11, 1)
    assert parse_month("januari", today=TODAY, future=False) == date(2026, 1, 1)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("6", 6),
        ("4,5", 4.5),
        ("4.5", 4.5),
        ("zes", 6),  # nl
        ("zes jaar", 6),
        ("eenentwintig jaar", 21),
        ("één", 1),
        ("8 ans", 8),  # fr
        ("vingt et un ans", 21),
        ("vingt-et-un", 21),
        ("twenty-one years", 21),  # en
        ("twenty one", 21),
        ("altı yıl", 6),  # tr
        ("otuz beş", 35),
        ("ستة سنوات", 6),  # ar
        ("ست سنوات", 6),
        ("٦", 6),
        ("sixty", 60),
        ("a lot", None),
        ("6 apples", None),
    ],
)
def test_numbers(typed: str, expected: float | None) -> None:
    assert parse_number(typed) == expected


@given(st.integers(min_value=0, max_value=60), st.sampled_from(LANGUAGES))
def test_every_number_word_up_to_sixty_reads_back(number: int, language: str) -> None:
    from num2words import num2words

    assert parse_number(num2words(number, lang=language)) == number
    assert parse_number(str(number)) == number


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2", [2]),
        ("1 3", [1, 3]),
        ("1, 3 en 4", [1, 3, 4]),
        ("deux et trois", [2, 3]),
        ("bir ve üç", [1, 3]),
        ("٢ و ٤", [2, 4]),
        ("1.", [1]),
        ("6", None),  # not a choice
        ("0", None),
        ("", None),
        ("2 keer per week Nederlands spreken", None),  # a goal in words stays a goal
        ("Ask my boss", None),
    ],
)
def test_choices_typed_as_numbers(typed: str, expected: list[int] | None) -> None:
    assert parse_choices(typed, 5) == expected
