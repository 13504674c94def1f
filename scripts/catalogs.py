"""The gettext workflow: extract, update, compile, check and fill the catalogs in locales/.

    python scripts/catalogs.py update        # extract, update every language, compile
    python scripts/catalogs.py check         # fail if a catalog misses or breaks a string,
                                             # or a text breaks a style rule (see STYLE_RULES)
    python scripts/catalogs.py fill FILE     # take translations from a YAML file

The YAML for `fill` maps each English source string to its translations, for example
`"Choose your language.": {nl: "Kies je taal.", fr: "...", ar: "...", tr: "..."}`; a plural
entry gives a list per language (`nl: ["{count} doel", "{count} doelen"]`).
English is the source language: its catalog is filled from the source strings.
"""

from __future__ import annotations

import copy
import io
import re
import subprocess
import sys
from pathlib import Path

import yaml
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"
POT = LOCALES / "messages.pot"
LANGUAGES = ("nl", "fr", "en", "ar", "tr")
SOURCE_LANGUAGE = "en"
KEYWORDS = ["-k", "_", "-k", "n_:1,2", "-k", "N_"]
PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}")
#: Where the texts outside the catalogs live (questionnaires and content, one dict per language).
CONTENT = [
    *sorted((ROOT / "flows" / "questionnaires").glob("*.yaml")),
    *sorted((ROOT / "flows" / "content").glob("*.yaml")),
]

STYLE_RULES = """Style rules every text keeps (learners read at B1 level, often with shaky Dutch):
- a number placeholder followed by a word ("{count} goals") is a plural entry (n_);
- no doubled punctuation (".”.", "..", "?."); where a placeholder brings its own full stop
  (“{competence}”.), flows.i18n.Translator drops the second one when it fills it in;
- weekday and month names are lower case inside Dutch and French sentences;
- jargon from GLOSSARY is not shown to learners unexplained (see GLOSSARY for what explains it);
- per catalog, sentences average at most 15 words, and no message has more than 3 sentences
  before its question;
- the reader is not addressed in the masculine where the language has a neutral wording
  (GENDERED: Arabic imperatives and "you want/can/agree" verbs, French "tu es prêt");
- labels are shortened with flows.i18n.shorten (a word boundary and an ellipsis), never sliced.
"""

#: Placeholders that always hold a number.
NUMBER_PLACEHOLDERS = frozenset(
    {"count", "n", "limit", "years", "total", "months", "weeks", "days", "minutes", "seconds"}
)
#: Words after a number that are units or symbols, not nouns with a plural.
UNITS = frozenset({"MB", "KB", "GB", "%", "of", "/", "van", "de", "sur", "من"})
#: Terms a learner may not know. A message may use one when it also holds one of its
#: explanations, or when a translator comment marks it "coach-facing" (coaches know them).
GLOSSARY: dict[str, tuple[str, ...]] = {
    "EVC": (
        "Eerder Verworven Competenties",
        "EVC (",
        "EVC means",
        "EVC betekent",
        "EVC veut dire",
        "EVC معناه",
        "EVC تعني",
        "EVC şu demek",
        "EVC?",
        "EVC ?",
        "EVC؟",
        "EVC nedir",
    ),
    "SmartEvidence": (),
    "competentiekader": (),
    "Mahara": (),
    "Moodle": (),
}
#: Words that address the reader in the masculine, with the neutral wording to use instead:
#: Arabic verbal nouns ("الرجاء اختيار", "يمكنك الكتابة") or nominal sentences ("لديك قوة");
#: French rephrased so nothing agrees with "tu" ("On peut commencer ?", "C'est arrêté.").
GENDERED: dict[str, tuple[str, ...]] = {
    "ar": ("اختر", "اكتب", "اضغط", "أضف", "احذف", "أجب", "تريد", "تستطيع", "توافق", "أنت قوي"),
    "fr": (
        *(
            f"{start}u es {word}"
            for word in ("prêt", "sûr", "fort", "inscrit", "seul")
            for start in "tT"
        ),
        *(f"{start}s-tu {word}" for word in ("prêt", "sûr") for start in "eE"),
        "Arrêté.",
    ),
}
DAY_AND_MONTH_NAMES = {
    "nl": [
        "maandag",
        "dinsdag",
        "woensdag",
        "donderdag",
        "vrijdag",
        "zaterdag",
        "zondag",
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ],
    "fr": [
        "lundi",
        "mardi",
        "mercredi",
        "jeudi",
        "vendredi",
        "samedi",
        "dimanche",
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
}
MAX_AVERAGE_WORDS = 15
MAX_SENTENCES_BEFORE_QUESTION = 3
SENTENCE_END = re.compile(r"(?<=[.!?؟…])[\s\u200f]+|\n+")
DOUBLED = re.compile(r"(?<!\.)[.!?؟][”\"»’)]*\.(?!\.)|[,;:]\.|\s[.,](?!\w|\.)")
SLICED_LABEL = re.compile(r"button\([^\n]*\)\s*\[:\d+\]|button\([^\n]*\[:\d+\]")


def po_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / "messages.po"


def read(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def write(path: Path, catalog: Catalog) -> None:
    """Writes a catalog sorted and without dates, so merges and diffs stay small."""
    path.parent.mkdir(parents=True, exist_ok=True)
    catalog.project, catalog.version, catalog.fuzzy = "Opstap", "1", False
    catalog.msgid_bugs_address = ""
    catalog.last_translator = "Opstap team"
    catalog.language_team = f"{catalog.locale or 'en'}"
    catalog.header_comment = "# Opstap messages. Edit with `make texts` (see scripts/catalogs.py)."
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=99, no_location=True, sort_output=True)
    lines = buffer.getvalue().decode("utf-8").splitlines(keepends=True)
    dated = ('"POT-Creation-Date:', '"PO-Revision-Date:')
    path.write_text("".join(line for line in lines if not line.startswith(dated)), "utf-8")


def extract() -> Catalog:
    """Extracts every marked string from the code into locales/messages.pot."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            *KEYWORDS,
            "--no-default-keywords",
            "--no-location",
            "--sort-output",
            "--add-comments=Translators:",
            "--project=Opstap",
            "-w",
            "99",
            "-o",
            str(POT),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    template = read(POT)
    write(POT, template)
    return template


def update(template: Catalog) -> None:
    """Brings every language up to date with the template, without fuzzy guesses."""
    for language in LANGUAGES:
        path = po_path(language)
        catalog = read(path, language) if path.exists() else Catalog(locale=language)
        # A fresh copy each time: Catalog.update adds the template's own Message objects, so
        # filling the English ones in place would leak English into the languages after it.
        catalog.update(copy.deepcopy(template), no_fuzzy_matching=True)
        catalog.obsolete.clear()
        if language == SOURCE_LANGUAGE:
            for message in catalog:
                if (message.id and not message.string) or message.string == ("", ""):
                    message.string = message.id
        write(path, catalog)
        compile_catalog(language, catalog)


def compile_catalog(language: str, catalog: Catalog) -> None:
    mo = po_path(language).with_suffix(".mo")
    with mo.open("wb") as handle:
        write_mo(handle, catalog)


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def problems(template: Catalog) -> list[str]:
    """Everything wrong with the catalogs, one line each."""
    found: list[str] = []
    for language in LANGUAGES:
        path = po_path(language)
        if not path.exists():
            found.append(f"{language}: no catalog at {path.relative_to(ROOT)}")
            continue
        catalog = read(path, language)
        for source in template:
            if not source.id:
                continue
            message: Message | None = catalog.get(source.id)
            key = source.id if isinstance(source.id, str) else source.id[0]
            where = f"{language}: {key[:60]!r}"
            if message is None:
                found.append(f"{where}: missing")
                continue
            if message.fuzzy:
                found.append(f"{where}: fuzzy")
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            ids = source.id if isinstance(source.id, tuple) else (source.id,)
            if not all(strings):
                found.append(f"{where}: untranslated")
                continue
            expected = set().union(*(placeholders(i) for i in ids)) - {"count"}
            for string in strings:
                got = placeholders(string) - {"count"}
                if got != expected:
                    found.append(f"{where}: placeholders {sorted(got)} != {sorted(expected)}")
    return found


def _strings(message: Message) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


def _ids(message: Message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def plural_problems(template: Catalog) -> list[str]:
    """A number placeholder followed by a word must be a plural entry ("{count} goals")."""
    found = []
    for message in template:
        if not message.id or isinstance(message.id, tuple):
            continue
        for match in re.finditer(r"\{(\w+)\}\s+([^\s{}.,:;!?()]+)", message.id):
            name, word = match.groups()
            if name in NUMBER_PLACEHOLDERS and word not in UNITS and word[0].isalpha():
                found.append(f"source: {message.id[:60]!r}: {{{name}}} {word}: use n_ (plural)")
    return found


def _sentences(text: str) -> list[str]:
    return [part for part in SENTENCE_END.split(text) if re.search(r"\w", part)]


def text_problems(language: str, text: str, *, where: str, comments: str = "") -> list[str]:
    """The style rules that one text in one language can break."""
    found = []
    plain = PLACEHOLDER.sub("X", text)
    if DOUBLED.search(plain):
        found.append(f"{where}: doubled punctuation")
    for name in DAY_AND_MONTH_NAMES.get(language, ()):
        for match in re.finditer(rf"\b{name.capitalize()}\b", text):
            before = text[: match.start()].rstrip(" \u200f\u2068«“\"'(*•-")
            if (before and not before.endswith((".", "!", "?", ":", "\n"))) or "(" in text[
                max(0, match.start() - 1) : match.start()
            ]:
                found.append(f"{where}: {match.group()} is lower case inside a sentence")
    for word in GENDERED.get(language, ()):
        letters = r"\u0600-\u06FF\w"
        if re.search(rf"(?<![{letters}]){re.escape(word)}(?![{letters}])", text):
            found.append(f"{where}: {word!r} addresses the reader in the masculine")
    if "coach-facing" not in comments:
        for term, explanations in GLOSSARY.items():
            if re.search(rf"\b{re.escape(term)}", text) and not any(
                explanation in text for explanation in explanations
            ):
                found.append(f"{where}: {term!r} shown to learners unexplained")
    question = re.search(r"[?؟]", text)
    # The text up to the question mark holds the question itself as its last sentence.
    before = _sentences(text[: question.start()])[:-1] if question else []
    if len(before) > MAX_SENTENCES_BEFORE_QUESTION:
        found.append(
            f"{where}: more than {MAX_SENTENCES_BEFORE_QUESTION} sentences before the question"
        )
    return found


def content_texts() -> list[tuple[str, str, str]]:
    """(where, language, text) for every text of the questionnaires and content files."""
    found: list[tuple[str, str, str]] = []

    def walk(node: object, trail: str, path: Path) -> None:
        if isinstance(node, dict):
            if (
                node
                and set(node) <= set(LANGUAGES)
                and all(isinstance(v, str) for v in node.values())
            ):
                for language, text in node.items():
                    found.append((f"{path.name}:{trail}: {language}", language, text))
                return
            for key, value in node.items():
                walk(value, f"{trail}.{key}" if trail else str(key), path)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                label = value.get("id", index) if isinstance(value, dict) else index
                walk(value, f"{trail}[{label}]", path)

    for path in CONTENT:
        walk(yaml.safe_load(path.read_text(encoding="utf-8")), "", path)
    return found


def style_problems(template: Catalog) -> list[str]:
    """Problems of the style rules, over every catalog and content text."""
    found = plural_problems(template)
    texts: dict[str, list[str]] = {language: [] for language in LANGUAGES}
    for language in LANGUAGES:
        path = po_path(language)
        if not path.exists():
            continue
        catalog = read(path, language)
        for source in template:
            message = catalog.get(source.id) if source.id else None
            if message is None:
                continue
            key = _ids(source)[0]
            comments = " ".join(source.auto_comments)
            for string in _strings(message):
                if not string:
                    continue
                texts[language].append(string)
                found += text_problems(
                    language, string, where=f"{language}: {key[:60]!r}", comments=comments
                )
    for where, language, text in content_texts():
        texts[language].append(text)
        found += text_problems(language, text, where=where)
    for language, strings in texts.items():
        sentences = [s for text in strings for s in _sentences(PLACEHOLDER.sub("X", text))]
        if sentences:
            average = sum(len(s.split()) for s in sentences) / len(sentences)
            if average > MAX_AVERAGE_WORDS:
                found.append(f"{language}: sentences average {average:.1f} words (B1: at most 15)")
    for path in sorted([*(ROOT / "flows").rglob("*.py"), *(ROOT / "bot").rglob("*.py")]):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if SLICED_LABEL.search(line):
                where = f"{path.relative_to(ROOT)}:{number}"
                found.append(f"{where}: a label sliced mid-word; use flows.i18n.shorten")
    return found


def fill(path: Path) -> None:
    """Sets translations from a YAML file; entries not in the template are reported."""
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for language in LANGUAGES:
        if language == SOURCE_LANGUAGE:
            continue
        catalog = read(po_path(language), language)
        for source, translations in entries.items():
            if language not in translations:
                continue
            message = catalog.get(source)
            if message is None:
                print(f"not in the catalog (run update first): {source[:60]!r}")
                continue
            value = translations[language]
            message.string = tuple(value) if isinstance(value, list) else value
            message.flags.discard("fuzzy")
        write(po_path(language), catalog)
        compile_catalog(language, catalog)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("update", "check", "fill"):
        print(__doc__)
        return 2
    if argv[0] == "update":
        update(extract())
        return 0
    if argv[0] == "fill":
        fill(Path(argv[1]))
        return 0
    template = read(POT)
    issues = problems(template)
    style = style_problems(template)
    for line in [*issues, *style]:
        print(line)
    return 1 if issues or style else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
