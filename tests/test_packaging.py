"""The wheel, installed with plain pip into a fresh virtual environment, speaks every language.

The wheel is built as a college's IT person would (`pip wheel .`, with build isolation), and
installed with `pip install --no-deps` into a new venv. So that the test does not download
every dependency again, the new venv sees the development venv's site-packages through a
`.pth` line: that adds the dependencies but not the editable install (a `.pth` inside a
directory named by another `.pth` is not read), so `flows`, `bot` and `storage` can only come
from the installed wheel, which the test checks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
MESSAGE = "I only talk in private chats. Please write to me directly."


def expected(language: str) -> str:
    """The translation of MESSAGE in the source catalog."""
    with (ROOT / "locales" / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        message = read_po(handle, locale=language).get(MESSAGE)
    assert message is not None and message.string, f"{language} lacks the test message"
    return str(message.string)


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A fresh venv with the built wheel installed; its python and a clean environment."""
    work = tmp_path_factory.mktemp("wheel")
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-q",
        "-w",
        work / "dist",
        ROOT,
        cwd=work,
    )
    (wheel,) = (work / "dist").glob("opstap-*.whl")
    venv = work / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work)
    python = venv / "bin" / "python"
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "-q",
        "--no-deps",
        wheel,
        cwd=work,
    )
    purelib = Path(
        run(
            python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=work
        ).strip()
    )
    (purelib / "zz_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPSTAP_", "PYTHON", "VIRTUAL_ENV"))
    }
    return python, env


def test_the_installed_wheel_speaks_dutch_and_arabic(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    python, env = installed
    script = (
        "import flows.i18n as i18n\n"
        "from flows.i18n import Translator\n"
        "print(i18n.__file__)\n"
        "print(i18n.LOCALE_DIR)\n"
        f"print(Translator('nl')._({MESSAGE!r}))\n"
        f"print(Translator('ar')._({MESSAGE!r}))\n"
    )
    module, locale_dir, dutch, arabic = run(
        python, "-c", script, cwd=tmp_path, env=env
    ).splitlines()
    venv = python.parent.parent
    assert Path(module).is_relative_to(venv), module
    assert Path(locale_dir).is_relative_to(venv), locale_dir
    assert (Path(locale_dir) / "nl" / "LC_MESSAGES" / "messages.mo").is_file()
    assert dutch == expected("nl") != MESSAGE
    assert arabic == expected("ar") != MESSAGE


def test_the_installed_command_knows_its_version_and_migrates(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    python, env = installed
    opstap = python.parent / "opstap"
    assert run(opstap, "--version", cwd=tmp_path, env=env).strip() == f"opstap {VERSION}"
    database = tmp_path / "fresh.db"
    env = {**env, "OPSTAP_DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    assert "up to date" in run(opstap, "migrate", cwd=tmp_path, env=env)
    assert database.stat().st_size > 0
