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
