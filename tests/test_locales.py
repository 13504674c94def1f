"""The catalogs: complete in every language, placeholders intact, template up to date."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("catalogs", ROOT / "scripts" / "catalogs.py")
assert spec and spec.loader
catalogs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(catalogs)


def test_every_catalog_is_complete_without_fuzzy_or_broken_placeholders() -> None:
    assert catalogs.problems(catalogs.read(catalogs.POT)) == []


def test_template_holds_every_string_in_the_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    committed = {m.id for m in catalogs.read(catalogs.POT) if m.id}
    monkeypatch.setattr(catalogs, "POT", tmp_path / "messages.pot")
    extracted = {m.id for m in catalogs.extract() if m.id}
    missing = extracted - committed
    assert not missing, f"run `make texts`: {sorted(map(str, missing))[:5]}"
    stale = committed - extracted
    assert not stale, f"run `make texts`: {sorted(map(str, stale))[:5]}"


def test_check_reports_a_missing_translation_and_a_broken_placeholder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locales = tmp_path / "locales"
    shutil.copytree(catalogs.LOCALES, locales)
    monkeypatch.setattr(catalogs, "LOCALES", locales)
    path = catalogs.po_path("nl")
    catalog = catalogs.read(path, "nl")
    catalog["Welcome back, {name}!"].string = "Welkom terug, {naam}!"
    catalog["Help"].string = ""
    catalogs.write(path, catalog)
    found = catalogs.problems(catalogs.read(catalogs.POT))
    assert any("Help" in line and "untranslated" in line for line in found)
    assert any("Welcome back" in line and "placeholders" in line for line in found)


def test_every_text_keeps_the_style_rules() -> None:
    found = catalogs.style_problems(catalogs.read(catalogs.POT))
    assert found == []


@pytest.mark.parametrize(
    ("language", "text", "problem"),
    [
        ("nl", "Alleen stuk 1 toont “taken uitvoeren.”.", "doubled punctuation"),
        ("fr", "Bravo !.", "doubled punctuation"),
        ("nl", "Vandaag (Woensdag)", "lower case"),
        ("nl", "Je doel is voor Donderdag.", "lower case"),
        ("fr", "Rendez-vous Lundi prochain.", "lower case"),
        ("nl", "Het EVC-traject past bij je.", "'EVC' shown to learners unexplained"),
        ("fr", "Les thèmes pour SmartEvidence.", "'SmartEvidence'"),
        ("en", "One. Two. Three. Four. Shall we?", "more than 3 sentences"),
        ("ar", "اختر لغتك.", "in the masculine"),
        ("ar", "أنت قوي في التواصل.", "in the masculine"),
        ("fr", "Arrêté. Ce que tu as gardé est conservé.", "in the masculine"),
        ("fr", "Tu es prêt ?", "in the masculine"),
    ],
)
def test_the_style_rules_catch_each_slip(language: str, text: str, problem: str) -> None:
    found = catalogs.text_problems(language, text, where="x")
    assert any(problem in line for line in found), found


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("nl", "Maandag"),  # a label starts with a capital
        ("nl", "Dag: maandag. Dinsdag kan ook."),
        ("nl", "Ik kan ...” en zeg"),
        ("nl", "EVC betekent: wat je al leerde, wordt erkend."),
        ("en", "Wat is EVC?"),
        ("en", "One. Two. Three. Shall we?"),
        ("ar", "الرجاء اختيار لغتك."),
        ("fr", "C'est arrêté. On peut commencer ?"),
    ],
)
def test_the_style_rules_leave_good_texts_alone(language: str, text: str) -> None:
    assert catalogs.text_problems(language, text, where="x") == []


def test_a_number_with_a_noun_must_be_a_plural_entry() -> None:
    from babel.messages.catalog import Catalog

    template = Catalog()
    template.add("You reached {count} goals.")
    template.add(("You reached {count} goal.", "You reached {count} goals."))
    template.add("Enrolled: {n}")
    template.add("Files up to {size} MB.")
    (line,) = catalogs.plural_problems(template)
    assert "You reached {count} goals." in line


def test_a_label_sliced_in_the_code_is_reported() -> None:
    assert catalogs.SLICED_LABEL.search('ctx.button(value[:40], f"o:{i}")')
    assert not catalogs.SLICED_LABEL.search('ctx.button(shorten(value), f"o:{i}")')
