"""Translations: gettext catalogs from `locales/`, Babel formatting, right-to-left care.

Source strings are English. Mark them with `_` (or `N_` where the text is translated later),
use named placeholders, and `n_` for plurals.
"""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from datetime import date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_skeleton, format_time
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

Day = date  # the type, where a method of Translator is called `date`
#: Catalogs compiled into an installed wheel (setup.py) come first; a source tree or an
#: editable install reads `locales/` beside the packages.
PACKAGED_LOCALE_DIR = Path(__file__).resolve().parent / "locales"
LOCALE_DIR = (
    PACKAGED_LOCALE_DIR
    if PACKAGED_LOCALE_DIR.is_dir()
    else Path(__file__).resolve().parent.parent / "locales"
)
DOMAIN = "messages"
log = logging.getLogger(__name__)

#: Supported languages, each named in itself, in the order they are offered.
LANGUAGES: dict[str, str] = {
    "nl": "Nederlands",
    "fr": "Français",
    "en": "English",
    "ar": "العربية",
    "tr": "Türkçe",
}
RTL_LANGUAGES = frozenset({"ar"})

FSI = "\u2068"  # first strong isolate
PDI = "\u2069"  # pop directional isolate
RLM = "\u200f"  # right-to-left mark


def N_(message: str) -> str:
    """Marks a string for extraction; it is translated later, where it is shown."""
    return message


@cache
def catalog(language: str) -> Translations:
    """Loads the compiled catalog of a language, compiling the .po in memory if needed."""
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    po_path, mo_path = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo_path.exists() and (
        not po_path.exists() or mo_path.stat().st_mtime >= po_path.stat().st_mtime
    ):
        with mo_path.open("rb") as handle:
            return Translations(handle, domain=DOMAIN)
    if not po_path.exists():
        if language != "en":
            log.warning("no %s catalog in %s: texts stay in English", language, LOCALE_DIR)
        return Translations(domain=DOMAIN)
    with po_path.open("rb") as handle:
        parsed = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, parsed)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


#: A full stop after quoted text that already ends a sentence (“... uit te voeren.”.), or two
#: full stops that are not an ellipsis: a filled-in placeholder brought its own.
_DOUBLED_STOP = re.compile(r"(?<!\.)([.!?؟])(\u2069?[”\"»’)]?)\.(?!\.)")


def tidy(text: str) -> str:
    """Drops the second full stop that a filled-in placeholder can leave (“{competence}”.)."""
    return _DOUBLED_STOP.sub(r"\1\2", text)


def shorten(text: str, limit: int = 40) -> str:
    """Shortens a label to at most `limit` characters at a word boundary, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut and not text[limit - 1].isspace():
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.-–(") + "\u2026"


def beside_dutch(own: str, dutch: str, language: str) -> str:
    """A professional term in the reader's language with the Dutch one beside it, unless the
    reader reads Dutch or the two are the same word ("Situation (Situatie)")."""
    if language == "nl" or own.casefold() == dutch.casefold():
        return own
    return f"{own} ({isolate(dutch) if language in RTL_LANGUAGES else dutch})"


def isolate(text: str) -> str:
    """Wraps text in Unicode directional isolates so it keeps its own direction."""
    return f"{FSI}{text}{PDI}"


def _first_strong(line: str) -> str | None:
    """The direction ("L" or "R") of the first strong character outside isolates."""
    depth = 0
    for char in line:
        kind = unicodedata.bidirectional(char)
        if kind in ("FSI", "LRI", "RLI"):
            depth += 1
        elif kind == "PDI":
            depth = max(0, depth - 1)
        elif depth == 0 and kind == "L":
            return "L"
        elif depth == 0 and kind in ("R", "AL"):
            return "R"
    return None


def right_to_left(text: str) -> str:
    """Marks each mixed line that starts with Latin ("S · الموقف", "A2: ...") as right to
    left, so phones do not lay it out left to right. Lines without Arabic stay as they are."""
    lines = []
    for line in text.split("\n"):
        mixed = any(unicodedata.bidirectional(c) in ("R", "AL") for c in line)
        lines.append(RLM + line if mixed and _first_strong(line) == "L" else line)
    return "\n".join(lines)


class Translator:
    """Translates and formats for one language and time zone."""

    def __init__(self, language: str, *, timezone: str = "Europe/Brussels") -> None:
        self.language = language if language in LANGUAGES else "en"
        self.tz = ZoneInfo(timezone)
        self._catalog = catalog(self.language)
        self.locale = Locale.parse(self.language)

    @property
    def rtl(self) -> bool:
        """True for right-to-left languages."""
        return self.language in RTL_LANGUAGES

    def embed(self, text: str) -> str:
        """Isolates Latin text (a command, a name) set inside a right-to-left sentence."""
        return isolate(text) if self.rtl else text

    def _param(self, value: object) -> str:
        text = value if isinstance(value, str) else self._format_value(value)
        return isolate(text) if self.rtl else text

    def _format_value(self, value: object) -> str:
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int | float):
            return self.number(value)
        return str(value)

    def _(self, message: str, /, **params: object) -> str:
        """Translates a source string and fills its named placeholders."""
        text = self._catalog.gettext(message)
        if not params:
            return text
        return tidy(text.format(**{key: self._param(value) for key, value in params.items()}))

    def n_(self, singular: str, plural: str, count: int, /, **params: object) -> str:
        """Translates a plural source string; `{count}` is filled in too."""
        text = self._catalog.ngettext(singular, plural, count)
        values = {"count": count, **params}
        return tidy(text.format(**{key: self._param(value) for key, value in values.items()}))

    def with_dutch(self, message: str, /) -> str:
        """Translates a professional term and sets the Dutch one beside it (see
        `beside_dutch`)."""
        return beside_dutch(self._(message), catalog("nl").gettext(message), self.language)

    def number(self, value: float) -> str:
        """Formats a number the way the language writes it."""
        return format_decimal(value, locale=self.locale)

    @property
    def comma(self) -> str:
        """The comma between two parts of a line (Arabic has its own)."""
        return "\u060c " if self.rtl else ", "

    def join(self, items: list[str]) -> str:
        """Joins items the way the language lists them ("A, B en C"; Arabic commas)."""
        return format_list(items, locale=self.locale) if items else ""

    def date(self, value: date | datetime, *, format: str = "medium") -> str:
        """Formats a date (a datetime in the programme time zone)."""
        if isinstance(value, datetime):
            value = value.astimezone(self.tz).date()
        return format_date(value, format=format, locale=self.locale)

    def day_month(self, value: Day) -> str:
        """A day and month, short, in the language's order ("1 dec", "1 déc.", "Dec 1")."""
        return format_skeleton("MMMd", value, locale=self.locale)

    def time(self, value: datetime, *, format: str = "short") -> str:
        """Formats a time of day in the programme time zone."""
        return format_time(value.astimezone(self.tz), format=format, locale=self.locale)

    def datetime(self, value: datetime, *, format: str = "medium") -> str:
        """Formats a moment in the programme time zone."""
        return format_datetime(value, format=format, tzinfo=self.tz, locale=self.locale)

    def weekday(self, index: int) -> str:
        """Names a weekday, Monday being 0, as written inside a sentence (Dutch and French:
        "woensdag", "mercredi"; Turkish: "Çarşamba")."""
        return str(self.locale.days["format"]["wide"][index])

    def weekday_label(self, index: int) -> str:
        """Names a weekday at the start of a label or button ("Woensdag")."""
        name = str(self.locale.days["stand-alone"]["wide"][index])
        return name[:1].upper() + name[1:]


@cache
def translator(language: str, timezone: str = "Europe/Brussels") -> Translator:
    """The translator of a language and time zone, made once: it keeps nothing of a learner,
    and making one (the locale's data) costs more than handling a short answer."""
    return Translator(language, timezone=timezone)
