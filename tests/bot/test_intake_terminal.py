"""The intake through `opstap chat` in a subprocess, with a second run that resumes it."""

from __future__ import annotations

from pathlib import Path

from tests.bot.test_terminal import messages, run_chat


def test_intake_through_the_terminal_resumes_in_a_second_run(tmp_path: Path) -> None:
    first = run_chat(
        tmp_path,
        ["Ja, akkoord", "Samira", "1", "Kinderopvang", "begeleider in de crèche"],
        "--user",
        "samira",
        "--lang",
        "nl",
    )
    assert first.returncode == 0, first.stderr
    shown = messages(first.stdout)
    welcome = shown.index("Leuk je te leren kennen, Samira!")
    assert shown[welcome + 1].startswith("Een paar vragen, zodat je coach en ik je leren kennen.")
    assert shown[welcome + 2].splitlines()[:3] == [
        "(1/14) Wat past het best bij jou?",
        "  [1] Ik werk in de sociale sector, zonder diploma voor dat werk",
        "  [2] Ik doe logistiek of administratief werk en wil overstappen",
    ]
    assert shown[-1].startswith("(4/14) Hoeveel jaar werk je al in de sociale sector")
    lines = ["/intake", "2", "2", "2", "1", "Nederlands spreken en oefenen", "Klaar", "Overslaan"]
    second = run_chat(tmp_path, lines, "--user", "samira")
    assert second.returncode == 0, second.stderr
    shown = messages(second.stdout)
    resumed = shown.index("We gaan verder waar je gebleven was.")
    assert shown[resumed + 1].startswith("(4/14) Hoeveel jaar")
    toggled = [m for m in shown if m.startswith("(8/14) Waarom wil je dit doen?")]
    assert any("  [4] ✓ Nederlands spreken en oefenen" in m for m in toggled)
    assert shown[-1].startswith("(11/14) Steunt je werkgever je opleiding?")
