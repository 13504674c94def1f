"""A voice note through `opstap chat` (`@voice PATH`): its length is read from the file, as
in every other channel, and shown as one m:ss."""

from __future__ import annotations

from pathlib import Path

from tests.bot.test_terminal import messages, run_chat

VOICE = Path(__file__).parent.parent / "fixtures" / "voice-nl-5s.ogg"


def test_a_voice_answer_shows_its_length_in_the_terminal(tmp_path: Path) -> None:
    lines = [
        "Ja, akkoord",
        "Samira",
        "/reflect",
        f"@voice {VOICE}",
        *["Ik zag dat een kind alleen zat en ik ging bij hem zitten."] * 4,
        "Communicatie",
        "Klaar",
        "Klaar",
    ]
    result = run_chat(tmp_path, lines, "--user", "samira", "--lang", "nl")
    assert result.returncode == 0, result.stderr
    summary = next(m for m in messages(result.stdout) if m.startswith("Je STARR-reflectie"))
    assert "🎤 spraakbericht (0:05)" in summary
