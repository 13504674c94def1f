"""The PDF beside the DOCX: made by the real LibreOffice when it is installed, and the DOCX
still sent when LibreOffice is missing, fails or hangs (fake `soffice` programs)."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from flows import pdf
from tests.fakes import ChatDriver, FakeUnitOfWork
from tests.flows.test_portfolio import learner, piece


async def exported(tmp_path: Path) -> tuple[ChatDriver, FakeUnitOfWork, dict[str, Path]]:
    chat, uow = await learner(tmp_path, language="nl")
    await uow.evidence.add(piece(1, title="Teamoverleg leiden", privacy_confirmed=True))
    await chat.command("export")
    await chat.press("Samira")
    files = {r.file.file_name or "": r.file.path for r in chat.last if r.file}
    return chat, uow, files


def pdf_text(path: Path, *, first: int | None = None, last: int | None = None) -> str:
    """The text in a PDF (or some of its pages), as poppler's pdftotext reads it."""
    pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    command = ["pdftotext", *pages, str(path), "-"]
    return subprocess.run(command, capture_output=True, check=True).stdout.decode()


def fake_soffice(tmp_path: Path, body: str) -> str:
    program = tmp_path / "soffice"
    program.write_text(f"#!/bin/sh\n{body}\n")
    program.chmod(0o755)
    return str(program)


@pytest.mark.libreoffice
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
async def test_the_pdf_is_made_by_libreoffice_and_sent_beside_the_docx(tmp_path: Path) -> None:
    chat, _, files = await exported(tmp_path)
    names = [r.file.file_name for r in chat.last if r.file]
    assert names[:3] == ["portfolio.docx", "portfolio.pdf", "portfolio.zip"]
    assert "Hetzelfde portfolio als pdf, om te lezen of af te drukken." in chat.said
    made = files["portfolio.pdf"].read_bytes()
    assert made.startswith(b"%PDF")
    text = pdf_text(files["portfolio.pdf"])
    assert "Teamoverleg leiden" in text and "Samira" in text
    with zipfile.ZipFile(files["portfolio.zip"]) as archive:
        assert archive.read("portfolio.pdf") == made  # and in the ZIP, beside the DOCX
        assert "portfolio.docx" in archive.namelist()


async def test_the_pdf_is_made_after_the_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat, uow = await learner(tmp_path, language="nl")
    await uow.evidence.add(piece(1, privacy_confirmed=True))
    open_units: list[object] = []
    seen: list[int] = []

    class Counting:
        async def __aenter__(self) -> FakeUnitOfWork:
            open_units.append(self)
            return uow

        async def __aexit__(self, *args: object) -> None:
            open_units.pop()

    def convert(docx: bytes, *, seconds: float | None = None) -> bytes:
        seen.append(len(open_units))
        return b"%PDF-1.7 fake"

    monkeypatch.setattr(pdf, "docx_to_pdf", convert)
    chat.engine.uow_factory = Counting  # type: ignore[assignment]
    await chat.command("export")
    await chat.press("Samira")
    assert seen == [0]  # no unit of work open while LibreOffice runs
    assert [r.file.file_name for r in chat.last if r.file][:2] == [
        "portfolio.docx",
        "portfolio.pdf",
    ]


async def test_the_docx_and_zip_are_built_after_the_transaction_in_a_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A long export neither holds the database nor stops the event loop for other learners;
    when building fails, the learner gets a kind answer and nothing stored is touched."""
    import threading

    from flows import export

    chat, uow = await learner(tmp_path, language="nl")
    await uow.evidence.add(piece(1, privacy_confirmed=True))
    open_units: list[object] = []
    seen: list[tuple[int, bool]] = []

    class Counting:
        async def __aenter__(self) -> FakeUnitOfWork:
            open_units.append(self)
            return uow

        async def __aexit__(self, *args: object) -> None:
            open_units.pop()

    real = export.build_docx

    def build(*args: object, **kwargs: object) -> bytes:
        seen.append((len(open_units), threading.current_thread() is threading.main_thread()))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(export, "build_docx", build)
    chat.engine.uow_factory = Counting  # type: ignore[assignment]
    await chat.command("export")
    await chat.press("Samira")
    assert seen == [(0, False)]  # no unit of work open, and not on the event loop's thread
    assert [r.file.file_name for r in chat.last if r.file][:2] == [
        "portfolio.docx",
        "portfolio.zip",
    ]

    def broken(*args: object, **kwargs: object) -> bytes:
        raise OSError("disk full")

    monkeypatch.setattr(export, "build_docx", broken)
    with caplog.at_level(logging.ERROR):
        await chat.command("export")  # the name is known now: straight to the files
    assert "Sorry, er ging bij mij iets mis." in chat.said
    assert "the portfolio could not be built (OSError)" in caplog.text
    assert not any(r.file and r.file.file_name == "portfolio.docx" for r in chat.last)


@pytest.mark.parametrize(
    ("program", "logged"),
    [
        (None, "no PDF of the portfolio: LibreOffice (soffice) is not installed"),
        ("exit 3", "no PDF of the portfolio: soffice failed (exit status 3)"),
        ("echo", "no PDF of the portfolio: soffice failed (exit status 0)"),  # wrote nothing
    ],
)
async def test_without_a_working_libreoffice_the_docx_still_goes_out(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    program: str | None,
    logged: str,
) -> None:
    found = None if program is None else fake_soffice(tmp_path, program)
    monkeypatch.setattr(pdf, "soffice", lambda: found)
    with caplog.at_level(logging.INFO):
        _, _, files = await exported(tmp_path)
    assert "portfolio.pdf" not in files
    assert {"portfolio.docx", "portfolio.zip"} <= set(files)
    with zipfile.ZipFile(files["portfolio.zip"]) as archive:
        assert "portfolio.pdf" not in archive.namelist()
    assert logged in caplog.text
    assert "Samira" not in caplog.text and "Piece 1" not in caplog.text


async def test_a_hanging_libreoffice_is_stopped_with_its_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pids = tmp_path / "pids"
    found = fake_soffice(tmp_path, f"sleep 60 & echo $$ $! > {pids}\nwait")
    monkeypatch.setattr(pdf, "soffice", lambda: found)
    monkeypatch.setattr(pdf, "PDF_TIMEOUT", 1.0)
    with caplog.at_level(logging.WARNING):
        _, _, files = await exported(tmp_path)
    assert "portfolio.pdf" not in files and "portfolio.docx" in files
    assert "no PDF of the portfolio: soffice took over 1 s and was stopped" in caplog.text
    for pid in pids.read_text().split():  # the shell and its child are gone
        assert not running(int(pid))


def running(pid: int) -> bool:
    """Whether a process runs (a zombie waiting to be reaped does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.is_file() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


ARABIC = re.compile("[\u0620-\u064a]{2}")  # two Arabic letters (a lone vowel mark is no line)
LATIN = re.compile("[A-Za-z]")


@pytest.mark.libreoffice
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_the_arabic_bilingual_portfolio_renders_each_language_in_its_direction(
    tmp_path: Path,
) -> None:
    """scripts/render_portfolio.py, as a deployer runs it: pdftotext marks each line that
    LibreOffice laid out right to left with U+202B, so the PDF itself says the direction."""
    from scripts.render_portfolio import render

    pages = render(tmp_path)
    assert len(pages) >= 2 and all(page.stat().st_size > 1000 for page in pages)
    first = pdf_text(tmp_path / "portfolio.pdf", first=1, last=1)
    assert "Weggelaten: bewijsstuk 2. Namen of details van cliënten zijn nog niet" in first
    assert "مستبعد" in first  # the same line in Arabic, also on the first page
    lines = [line for line in pdf_text(tmp_path / "portfolio.pdf").splitlines() if line.strip()]
    dutch = [line for line in lines if LATIN.search(line) and not ARABIC.search(line)]
    arabic = [line for line in lines if ARABIC.search(line) and not LATIN.search(line)]
    assert len(dutch) > 20 and len(arabic) > 20
    assert not any("\u202b" in line for line in dutch), "a Dutch line read right to left"
    assert all("\u202b" in line for line in arabic), "an Arabic line read left to right"
    # The direction of the paragraphs themselves: Arabic lines end on a few right edges
    # (the margin, a table cell's), Dutch lines start on a few left edges; a paragraph in
    # the wrong direction leaves a ragged edge where its language starts.
    placed = line_boxes(tmp_path / "portfolio.pdf")
    arabic_ends = [
        round(box[1]) for text, box in placed if ARABIC.search(text) and not LATIN.search(text)
    ]
    dutch_starts = [
        round(box[0]) for text, box in placed if LATIN.search(text) and not ARABIC.search(text)
    ]
    assert on_few_edges(arabic_ends), sorted(set(arabic_ends))
    assert on_few_edges(dutch_starts), sorted(set(dutch_starts))
    assert "Spraakbericht (1:23): bestand reflectie-1-actie.ogg in de map" in "\n".join(lines)
    assert any("reflectie-1-actie.ogg" in line and ARABIC.search(line) for line in lines)


def line_boxes(path: Path) -> list[tuple[str, tuple[float, float]]]:
    """Each laid-out line of a PDF with where it starts and ends (x, in points)."""
    layout = subprocess.run(
        ["pdftotext", "-bbox-layout", str(path), "-"], capture_output=True, check=True
    ).stdout.decode()
    found = []
    for line in re.finditer(
        r'<line xMin="([\d.]+)"[^>]* xMax="([\d.]+)"[^>]*>(.*?)</line>', layout, re.S
    ):
        words = " ".join(re.findall(r">([^<]*)</word>", line.group(3)))
        found.append((words, (float(line.group(1)), float(line.group(2)))))
    return found


def script(text: str) -> str | None:
    """ "ar" for a line in Arabic script only, "nl" for one in Latin script only."""
    arabic, latin = ARABIC.search(text), LATIN.search(text)
    return "ar" if arabic and not latin else "nl" if latin and not arabic else None


def on_few_edges(positions: list[int]) -> bool:
    """Whether most positions fall on a few edges (margins, table cells), 2 points either
    way. Measured: right-to-left Arabic paragraphs put 95% of their line ends on six edges;
    the same paragraphs without `w:bidi` put 24% there (a ragged edge)."""
    counts = Counter(positions)
    edges = [edge for edge, _ in counts.most_common()]
    chosen: list[int] = []
    for edge in edges:
        if all(abs(edge - other) > 2 for other in chosen):
            chosen.append(edge)
        if len(chosen) == 6:
            break
    near = sum(1 for p in positions if any(abs(p - edge) <= 2 for edge in chosen))
    return len(positions) > 10 and near >= 0.8 * len(positions)
