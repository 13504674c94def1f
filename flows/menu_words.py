"""What a learner may type at the main menu instead of tapping: a few words per language
for the main commands ("doel", "objectif", "هدف", "hedef" ...), so free text is understood
rather than answered with the menu alone."""

from __future__ import annotations

import re

#: command -> word stems in nl, fr, en, ar and tr. A typed word matches a stem when it starts
#: with it (Turkish and Dutch add endings: "hedefim", "doelen"); Arabic "ال" is dropped first.
WORDS: dict[str, tuple[str, ...]] = {
    "goal": ("doel", "leerdoel", "objectif", "goal", "هدف", "أهداف", "hedef"),
    "reflect": (
        "reflect",
        "reflectie",
        "starr",
        "réflexion",
        "reflexion",
        "réfléchir",
        "تأمل",
        "yansıt",
    ),
    "evidence": ("bewijs", "preuve", "evidence", "proof", "دليل", "أدلة", "إثبات", "kanıt"),
    "portfolio": ("portfolio", "portefeuille", "portfolyo", "ملف"),
    "checkin": ("checkin", "check-in"),
    "language": ("taal", "langue", "language", "لغة", "dil"),
    "help": ("help", "hulp", "aide", "aider", "مساعدة", "ساعد", "yardım"),
}
_WORD = re.compile(r"[\w-]+")


def _stem(word: str) -> str:
    word = word.casefold()
    return word[2:] if word.startswith("ال") and len(word) > 3 else word


def _ending(stem: str) -> int:
    """How many letters of ending a stem may take: short stems hardly any ("dil", not
    "dilekçe")."""
    return 2 if len(stem) < 4 else 5


def wanted_command(text: str) -> str | None:
    """The one command the words of `text` ask for, or None when none or several match."""
    words = [_stem(w) for w in _WORD.findall(text)]
    found = {
        command
        for command, stems in WORDS.items()
        for word in words
        for stem in stems
        if word == stem or (word.startswith(stem) and len(word) - len(stem) <= _ending(stem))
    }
    return found.pop() if len(found) == 1 else None
