"""`opstap chat` through a subprocess's stdin and stdout, per the terminal protocol."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.terminal import parse_line
from flows.messages import Button


def run_chat(tmp_path: Path, lines: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OPSTAP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}",
        "OPSTAP_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("OPSTAP_TELEGRAM_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", "chat", *args],
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )


def messages(stdout: str) -> list[str]:
    return [m.strip("\n") for m in stdout.split("\n--\n") if m.strip()]


def test_onboarding_through_the_terminal(tmp_path: Path) -> None:
    result = run_chat(tmp_path, ["1", "Ja, akkoord", "Samira"], "--user", "samira")
    assert result.returncode == 0, result.stderr
    shown = messages(result.stdout)
    assert shown[0].splitlines()[-5:] == [
        "  [1] Nederlands",
        "  [2] Français",
        "  [3] English",
        "  [4] العربية",
        "  [5] Türkçe",
    ]
    assert any(m.startswith("Welkom bij Opstap!") for m in shown)
    assert "Leuk je te leren kennen, Samira!" in shown
    assert result.stdout.endswith("--\n")


def test_lang_option_and_resume_in_a_second_run(tmp_path: Path) -> None:
    first = run_chat(tmp_path, [], "--user", "ali", "--lang", "tr")
    assert first.returncode == 0, first.stderr
    assert "Opstap'a hoş geldin!" in first.stdout
    second = run_chat(tmp_path, ["Evet, kabul ediyorum", "Ali"], "--user", "ali")
    assert second.returncode == 0, second.stderr
    assert "Tanıştığımıza memnun oldum, Ali!" in second.stdout


def test_files_commands_and_missing_files(tmp_path: Path) -> None:
    voice = tmp_path / "note.ogg"
    voice.write_bytes(b"OggS fake voice")
    lines = ["3", "1", f"@voice {voice}", "@photo /no/such/file.jpg", "/help"]
    result = run_chat(tmp_path, lines)
    assert result.returncode == 0, result.stderr
    shown = messages(result.stdout)
    after_voice = shown[shown.index("What name should I call you?\n  [1] « Back") + 1]
    assert after_voice.startswith("Please type the name you want me to use.\n\nWhat name")
    unsupported = "I cannot use this kind of message. Please send text, a voice note or a file."
    assert any(m.startswith(f"{unsupported}\n\nWhat name should I call you?") for m in shown)
    assert "This is what I can do for you:" in result.stdout


def test_parse_line_chooses_buttons_by_number_or_label() -> None:
    buttons = [Button("Yes", "3:yes"), Button("No", "3:no")]
    assert parse_line("2\n", buttons).value == "3:no"
    assert parse_line("Yes\n", buttons).value == "3:yes"
    assert parse_line("3\n", buttons).kind == "text"
    command = parse_line("/goal now\n", buttons)
    assert (command.kind, command.command, command.text) == ("command", "goal", "now")
    assert parse_line("@file /nope\n", []).kind == "unsupported"


def brussels_weekday() -> str:
    return datetime.now(ZoneInfo("Europe/Brussels")).strftime("%A")


def test_a_goal_through_the_terminal(tmp_path: Path) -> None:
    lines = ["3", "Yes, I agree", "Samira", "/goal", "Planning"]
    # `opstap chat` runs on the real clock: the first day button is always today.
    lines += ["1", "1", "Skip", "4", "/checkin", "Done!"]
    days = {brussels_weekday()}
    result = run_chat(tmp_path, lines, "--user", "samira")
    days.add(brussels_weekday())  # midnight may pass while it runs
    assert result.returncode == 0, result.stderr
    shown = messages(result.stdout)
    asked = next(m for m in shown if m.startswith("On which day will you do it?"))
    assert any(f"[1] Today ({day})" in asked for day in days)
    saved = next(m for m in shown if m.startswith("Your goal is saved."))
    assert any(f"Day: {day}" in saved for day in days) and "How sure: 4 of 5" in saved
    assert any(m.startswith("Great, well done! Shall we look back on it now?") for m in shown)


def test_evidence_and_portfolio_through_the_terminal(tmp_path: Path) -> None:
    report = tmp_path / "verslag.pdf"
    report.write_bytes(b"%PDF-1.7\n% a report\n%%EOF\n")
    lines = [
        "3",
        "Yes, I agree",
        "Samira",
        "/evidence",
        f"@file {report}",
        "Research report (Onderzoeksrapport)",
        "Verslag buurtonderzoek",
        "Skip",
        "09/2024",
        "Buurtcentrum De Linde",
        "onthaal",
        "1. Social map",
        "4",
        "Done",
        *["Yes"] * 5,
        "No, no client can be recognised",
        "Later",
        "/portfolio",
        "My evidence",
        "1",
    ]
    result = run_chat(tmp_path, lines, "--user", "samira")
    assert result.returncode == 0, result.stderr
    shown = messages(result.stdout)
    assert any(m.startswith("Saved as piece 1: “Verslag buurtonderzoek”.") for m in shown)
    assert any("1. Social map and organisation: 1 / 0" in m for m in shown)
    assert any(
        m.startswith("1. Verslag buurtonderzoek") and "Buurtcentrum De Linde" in m for m in shown
    )
    menu = next(m for m in shown if m.startswith("What would you like to do?"))
    assert "] Add evidence" in menu and "] My portfolio" in menu
