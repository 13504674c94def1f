"""The gettext workflow: extract, update, compile, check and fill the catalogs in locales/.

    python scripts/catalogs.py update        # extract, update every language, compile
    python scripts/catalogs.py check         # fail if a catalog misses or breaks a string
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
        # A copy per language: Catalog.update adopts the template's Message objects, so filling
        # the English catalog would otherwise put English into the languages after it.
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
    issues = problems(read(POT))
    for line in issues:
        print(line)
    return 1 if issues else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
