"""The dependency between the scheduler and the channel rooms goes one way: the rooms import
the scheduler and give it their senders; the scheduler imports no room."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("room", ["bot.telegram", "bot.whatsapp"])
def test_the_scheduler_imports_no_channel_room(room: str) -> None:
    code = f"import sys, bot.scheduler; print({room!r} in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"


def test_the_scheduler_has_no_telegram_sender() -> None:
    import bot.scheduler

    assert not hasattr(bot.scheduler, "TelegramSender")


def test_no_import_of_a_room_anywhere_in_the_scheduler() -> None:
    """Also inside functions: a lazy import that dodges the circle is still the circle."""
    import ast
    from pathlib import Path

    import bot.scheduler

    tree = ast.parse(Path(bot.scheduler.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names
    }
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {
        f"{n.module}.{alias.name}"
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module == "bot"
        for alias in n.names
    }
    rooms = {"bot.telegram", "bot.whatsapp", "bot.terminal", "bot.cli"}
    assert not imported & rooms
