"""The dependencies between the scheduler and the channel rooms go one way: the rooms import
the scheduler and give it their senders and their job queue; the scheduler imports no room
and no channel library, and the two rooms do not import each other (the command line is
where they meet). Each rule is checked twice: in a fresh interpreter (what an import pulls
in, also through other modules) and by reading the source (also imports inside functions,
which a fresh interpreter does not run)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import bot

ROOMS = {"bot.telegram", "bot.whatsapp", "bot.terminal", "bot.cli", "bot.webhook"}


def loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def imported_in_source(module: str) -> set[str]:
    """Every module named by an import statement of `module`'s file, wherever it stands."""
    path = Path(bot.__file__).parent / f"{module.removeprefix('bot.')}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module:
            names.add(n.module)
            names |= {f"{n.module}.{alias.name}" for alias in n.names}
    return names


def telegram_library(names: set[str]) -> set[str]:
    return {name for name in names if name == "telegram" or name.startswith("telegram.")}


@pytest.mark.parametrize("room", sorted(ROOMS))
def test_the_scheduler_imports_no_channel_room(room: str) -> None:
    assert room not in loaded_after_import("bot.scheduler")


def test_the_scheduler_and_the_send_budget_load_no_telegram_library() -> None:
    """A WhatsApp-only process schedules without python-telegram-bot."""
    for module in ("bot.scheduler", "bot.ratelimit"):
        assert telegram_library(loaded_after_import(module)) == set(), module


def test_the_scheduler_has_no_telegram_sender_nor_job_queue() -> None:
    import bot.scheduler

    assert not hasattr(bot.scheduler, "TelegramSender")
    assert not hasattr(bot.scheduler, "serve_dispatcher")


@pytest.mark.parametrize("module", ["bot.scheduler", "bot.ratelimit"])
def test_no_import_of_a_room_or_of_telegram_anywhere_in_the_source(module: str) -> None:
    """Also inside functions: a lazy import that dodges the circle is still the circle."""
    names = imported_in_source(module)
    assert not names & ROOMS
    assert telegram_library(names) == set()


def test_the_whatsapp_room_imports_no_telegram_room_nor_library() -> None:
    names = imported_in_source("bot.whatsapp")
    assert not names & {"bot.telegram", "bot.webhook", "bot.cli"}
    assert telegram_library(names) == set()
    loaded = loaded_after_import("bot.whatsapp")
    assert "bot.telegram" not in loaded
    assert telegram_library(loaded) == set()


def test_the_telegram_room_imports_no_whatsapp_room() -> None:
    assert "bot.whatsapp" not in imported_in_source("bot.telegram")
    assert "bot.whatsapp" not in loaded_after_import("bot.telegram")


def test_the_check_sees_a_lazy_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The source scan finds an import inside a function (the way the old circle hid)."""
    fake = tmp_path / "bot"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "lazy.py").write_text("def f():\n    from telegram.ext import Application\n")
    monkeypatch.setattr(bot, "__file__", str(fake / "__init__.py"))
    assert telegram_library(imported_in_source("bot.lazy")) == {
        "telegram.ext",
        "telegram.ext.Application",
    }
