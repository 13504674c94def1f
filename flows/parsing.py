"""What learners and coaches type: times, dates and small numbers, in the five languages.

One parser each, used by every flow that asks (settings, the coach's group form, sessions,
holidays, questionnaires):

- `parse_time`: "18:30", "18.30", "18u30", "18h30", "19h", "6 uur", "18 heures", "6pm",
  "6:30 pm", Arabic-Indic digits. A bare "18" is refused: it could be anything.
- `parse_date`: "24/12/2026", "24-12-2026", "24.12.2026", "2026-12-24", "24/12" (the next
  such day), "24 décembre 2026", "24 december", "December 24, 2026", "24 Aralık 2026",
  "24 ديسمبر 2026". Month names come from Babel's locale data (wide and abbreviated, format
  and stand-alone) for the five languages, whatever the language of the learner.
- `parse_month`: "november", "novembre 2026", "11/2026": the first day of that month.
- `parse_number`: "6", "4,5", "zes", "zes jaar", "8 ans", "twenty-one years", "altı yıl",
  "ستة سنوات"; words up to 60 come from num2words in each language, read back.

Every parser returns None when the text is not one unambiguously; the flow then asks again.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, time
from functools import cache

from babel import Locale
from num2words import num2words

LANGUAGES = ("nl", "fr", "en", "ar", "tr")
MAX_WORD_NUMBER = 60

_TIME = re.compile(
    r"^(?P<h>\d{1,2})\s*(?:(?:[:.hu]|uur|heures?|saat)\s*(?P<m>\d{2})?)\s*(?:uur|u|h|heures?)?$"
)
#: "om 18u30", "à 19h", "at 6pm", "vers 9h", "rond 8 uur": the word before the time.
_AT = re.compile(r"^(?:om|rond|tegen|a|vers|at|around)\s+")
_HOUR_WORD = re.compile(r"^(?P<h>\d{1,2})\s*(?:uur|u|h|heures?|o'?clock)$")
_AM_PM = re.compile(r"^(?P<h>\d{1,2})(?:[:.](?P<m>\d{2}))?\s*(?P<half>am|pm|a\.m\.|p\.m\.)$")
_NUMERIC_DATE = re.compile(r"^(\d{1,4})[./-](\d{1,2})(?:[./-](\d{2,4}))?$")
_NUMERIC_MONTH = re.compile(r"^(\d{1,2})[./-](\d{4})$")
_DECIMAL = re.compile(r"^\d{1,4}(?:[.,]\d{1,2})?$")
#: Words that may follow a count of years ("6 jaar", "8 ans", "altı yıl", "ستة سنوات").
_YEAR_WORDS = frozenset(
    {
        "jaar", "jaren", "j",
        "an", "ans", "annee", "annees",
        "year", "years", "yr", "yrs",
        "yil", "yillik", "sene",
        "سنة", "سنوات", "سنين", "عام", "أعوام", "اعوام",
    }
)  # fmt: skip
_ORDINAL_SUFFIX = re.compile(r"^(\d{1,2})(?:st|nd|rd|th|e|er|de|ste|\.)$")


def _plain(text: str) -> str:
    """Lower case, digits as ASCII (Arabic-Indic too), accents and tatweel dropped, single
    spaces; "Aralık" -> "aralik", "٢٤" -> "24"."""
    out = []
    for char in unicodedata.normalize("NFKD", text.strip().lower()):
        if unicodedata.combining(char) or char == "\u0640":
            continue
        digit = unicodedata.digit(char, None)
        out.append(str(digit) if digit is not None and not char.isascii() else char)
    text = "".join(out).replace("ı", "i").replace("\u060c", ",")
    return re.sub(r"\s+", " ", text).strip()


# -- times -------------------------------------------------------------------------------------
def parse_time(text: str) -> time | None:
    """A time of day, or None."""
    plain = _AT.sub("", _plain(text))
    if match := _AM_PM.match(plain):
        hour, minute = int(match["h"]), int(match["m"] or 0)
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match["half"].startswith("p") else 0)
        return time(hour, minute) if minute <= 59 else None
    match = _TIME.match(plain) or _HOUR_WORD.match(plain)
    if match is None:
        return None
    hour = int(match["h"])
    minute = int(match.groupdict().get("m") or 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


# -- dates -------------------------------------------------------------------------------------
@cache
def month_names() -> dict[str, int]:
    """Every month name and abbreviation of the five languages (Babel), plain, to 1-12."""
    names: dict[str, int] = {}
    for language in LANGUAGES:
        months = Locale.parse(language).months
        for context in ("format", "stand-alone"):
            for width in ("wide", "abbreviated"):
                for number, name in months[context][width].items():
                    names.setdefault(_plain(str(name)).rstrip("."), int(number))
    return names


def _words(plain: str) -> list[str]:
    return [w for w in re.split(r"[\s,]+", plain.replace(" de ", " ")) if w]


def _month_of(word: str) -> int | None:
    return month_names().get(word.rstrip("."))


def _year(
    text: str | None, *, month: int, day: int, today: date, future: bool = True
) -> int | None:
    """The year typed (2 or 4 digits); else the year of the next such day from `today` on
    (`future`), or of the last one up to `today`."""
    if text is None:
        if future:
            return today.year if (month, day) >= (today.month, today.day) else today.year + 1
        return today.year if (month, day) <= (today.month, today.day) else today.year - 1
    if len(text) == 2:
        return 2000 + int(text)
    return int(text) if len(text) == 4 else None


def _make(year: int | None, month: int, day: int) -> date | None:
    if year is None:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_date(text: str, *, today: date, future: bool = True) -> date | None:
    """A calendar date, or None. Without a year: the next such day from `today` on, or with
    `future=False` the last one up to `today`."""
    plain = _plain(text)
    if match := _NUMERIC_DATE.match(plain):
        first, second, third = match.groups()
        if len(first) == 4:  # 2026-12-24
            return _make(int(first), int(second), int(third)) if third else None
        day, month = int(first), int(second)
        year = _year(third, month=month, day=day, today=today, future=future)
        return _make(year, month, day)
    words = _words(plain)
    if not 2 <= len(words) <= 3:
        return None
    days = [w for w in words if _ORDINAL_SUFFIX.match(w) or (w.isdigit() and len(w) <= 2)]
    months = [m for w in words if (m := _month_of(w)) is not None]
    years = [w for w in words if w.isdigit() and len(w) == 4]
    if len(days) != 1 or len(months) != 1 or len(years) != len(words) - 2:
        return None
    day_text = days[0]
    if ordinal := _ORDINAL_SUFFIX.match(day_text):
        day_text = ordinal.group(1)
    day, month = int(day_text), months[0]
    year = _year(years[0] if years else None, month=month, day=day, today=today, future=future)
    return _make(year, month, day)


def parse_month(text: str, *, today: date, future: bool = True) -> date | None:
    """A month ("november", "novembre 2026", "11/2026") as its first day, or None. Without a
    year: this month or the next such month, or with `future=False` the last one."""
    plain = _plain(text)
    if match := _NUMERIC_MONTH.match(plain):
        return _make(int(match.group(2)), int(match.group(1)), 1)
    words = _words(plain)
    if not 1 <= len(words) <= 2:
        return None
    month = _month_of(words[0])
    if month is None:
        return None
    if len(words) == 2:
        return _make(int(words[1]), month, 1) if re.fullmatch(r"\d{4}", words[1]) else None
    if future:
        return date(today.year if month >= today.month else today.year + 1, month, 1)
    return date(today.year if month <= today.month else today.year - 1, month, 1)


# -- numbers -----------------------------------------------------------------------------------
def _word_key(text: str) -> str:
    """A number word without spaces, hyphens, "and"/"et"/"en"/"و" joints or Arabic's final
    ta marbuta, so "vingt et un", "vingt-et-un" and "twenty one" all match."""
    key = re.sub(r"[\s\-]+", "", _plain(text))
    return key.replace("ة", "").replace("ى", "ي").replace("أ", "ا").replace("إ", "ا")


@cache
def number_words() -> dict[str, int]:
    """Every number 0..MAX_WORD_NUMBER written as words in the five languages (num2words)."""
    words: dict[str, int] = {}
    for language in LANGUAGES:
        for number in range(MAX_WORD_NUMBER + 1):
            words.setdefault(_word_key(num2words(number, lang=language)), number)
    words.setdefault(_word_key("een"), 1)  # Dutch "één" without its accents, typed plainly
    return words


def parse_number(text: str) -> float | None:
    """A small number typed as digits ("6", "4,5") or words up to 60, perhaps followed by a
    word for years ("zes jaar", "8 ans"); None otherwise."""
    plain = _plain(text)
    words = plain.split(" ")
    if len(words) > 1 and words[-1].rstrip(".") in _YEAR_WORDS:
        plain = " ".join(words[:-1])
    if _DECIMAL.match(plain):
        return float(plain.replace(",", "."))
    number = number_words().get(_word_key(plain))
    return float(number) if number is not None else None


#: Words between typed numbers ("1 en 3", "1 et 3", "1 ve 3", "1 و 3").
_AND_WORDS = frozenset({"en", "et", "and", "ve", "و"})


def parse_choices(text: str, count: int) -> list[int] | None:
    """The numbers of choices typed instead of tapped ("2", "1 3", "1, 3 en 4", "twee",
    "٢"), each from 1 to `count`, in the order typed; None when the text is anything else,
    so that a goal typed in words stays a goal."""
    words = [w for w in re.split(r"[\s,;+&/]+", _plain(text).rstrip(".")) if w not in _AND_WORDS]
    numbers = [int(w) if w.isdigit() else number_words().get(_word_key(w), 0) for w in words]
    if not words or not all(1 <= n <= count for n in numbers):
        return None
    return numbers
