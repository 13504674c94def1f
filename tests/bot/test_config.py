"""Settings: one clear line naming the variable; secrets never printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main


def opstap(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPSTAP_")}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env={**clean, "OPSTAP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db", **env},
        cwd=tmp_path,
        timeout=60,
    )


def test_run_without_token_names_the_variable(tmp_path: Path) -> None:
    result = opstap(tmp_path, "run")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "opstap: OPSTAP_TELEGRAM_TOKEN is not set (nor OPSTAP_WHATSAPP_TOKEN): get a token "
        "from @BotFather in Telegram, or set up WhatsApp (docs/DEPLOYMENT.md); `opstap chat` "
        "talks to Opstap in the terminal without either."
    ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OPSTAP_TIMEZONE", "Mars/Olympus"),
        ("OPSTAP_DEFAULT_LANGUAGE", "xx"),
        ("OPSTAP_DATABASE_URL", "mysql://x"),
        ("OPSTAP_PORT", "http"),
    ],
)
def test_malformed_setting_is_one_line_naming_it(
    tmp_path: Path, variable: str, value: str
) -> None:
    result = opstap(tmp_path, "migrate", **{variable: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"opstap: {variable} is not valid")


def test_a_bad_secret_is_never_printed(tmp_path: Path) -> None:
    result = opstap(tmp_path, "run", OPSTAP_TELEGRAM_TOKEN="sekrit-123", OPSTAP_PORT="nope")
    assert result.returncode == 2
    assert "sekrit-123" not in result.stderr + result.stdout


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("run", "chat", "migrate"):
        assert command in out


def test_migrate_creates_the_database(tmp_path: Path) -> None:
    result = opstap(tmp_path, "migrate")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "x.db").exists()
