"""Transcripts when a voice note arrives: the learner sees "I heard: ...", keeps or corrects
it, and the coach view and the export show it beside the recording.

No package ships a Whisper model small enough to test with, so most tests use a FAKE ENGINE
behind the same `Transcriber` interface as faster-whisper (monkeypatched `transcription.load`).
The real loading code (`FasterWhisper` through `engine_for`) runs in the tests of a missing and
an invalid model directory: with faster-whisper installed it fails on the model, without it on
the import; either way transcription is off, the log says so once, and the note is kept."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from docx import Document

from flows import coachview, transcription
from flows.engine import Context
from storage.models import Membership
from tests.fakes import ChatDriver, FakeUnitOfWork, fake_engine

VOICE = (Path(__file__).parent.parent / "fixtures" / "voice-nl-5s.ogg").read_bytes()
HEARD = "Ik heb eerst rustig met de moeder gepraat."
LONG = "I talked with the mother in a quiet room and listened to her story first."


@pytest.fixture(autouse=True)
def fresh_engines() -> Iterator[None]:
    """Each test loads its own engine (the loaders cache per model directory)."""
    transcription.engine_for.cache_clear()
    transcription.load.cache_clear()
    yield
    transcription.engine_for.cache_clear()  # `load` may still be a test's fake here


class FakeEngine:
    """Stands in for faster-whisper: records what it got, answers a fixed text."""

    def __init__(self, text: str | None = HEARD) -> None:
        self.text = text
        self.heard: list[tuple[bytes, str | None, str]] = []

    def __call__(self, path: Path, *, language: str | None) -> str | None:
        self.heard.append((path.read_bytes(), language, threading.current_thread().name))
        return self.text


async def learner(
    tmp_path: Path, *, model_dir: Path | None, language: str = "English"
) -> tuple[ChatDriver, FakeUnitOfWork]:
    engine, uow = fake_engine(tmp_path)
    engine.config = dataclasses.replace(engine.config, transcription_model_dir=model_dir)
    chat = ChatDriver(engine)
    await chat.command("start")
    await chat.press(language)
    await chat.press(chat.last[-1].buttons[0][0].label)  # consent
    await chat.text("Samira")
    return chat, uow


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    engine = FakeEngine()
    monkeypatch.setattr(transcription, "load", lambda model_dir: engine)
    return engine


async def test_the_learner_sees_what_was_heard_and_keeps_it(
    tmp_path: Path, fake: FakeEngine
) -> None:
    chat, uow = await learner(tmp_path, model_dir=tmp_path)
    await chat.command("reflect")
    await chat.file("voice", VOICE)
    (upload,) = uow.uploads.rows
    assert upload.transcript == HEARD and not upload.transcript_checked
    assert fake.heard[0][0] == VOICE and fake.heard[0][1] is None  # the language is recognised
    assert fake.heard[0][2] != threading.main_thread().name  # run in a worker thread
    assert f"I heard: “{HEARD}”" in chat.texts
    assert chat.texts[-1].startswith("T · Task (Taak) (2/5)")  # and the reflection goes on
    await chat.press("Keep it")
    assert upload.transcript_checked and not upload.transcript_corrected
    assert upload.transcript == HEARD
    assert chat.texts == ["Good. I keep it like this.", chat.texts[-1]]
    assert chat.texts[-1].startswith("T · Task (Taak) (2/5)")  # the same question again
    conversation = next(iter(uow.conversations.rows.values()))
    assert conversation.flow == "reflect" and not conversation.drafts


async def test_the_learner_corrects_what_was_heard(tmp_path: Path, fake: FakeEngine) -> None:
    chat, uow = await learner(tmp_path, model_dir=tmp_path)
    await chat.command("reflect")
    await chat.file("voice", VOICE)
    (upload,) = uow.uploads.rows
    await chat.press("Correct it")
    assert "Please type what you said in the voice note." in chat.said
    await chat.file("voice", VOICE)  # a voice note is not a correction
    assert "Please type it, or tap “Keep what I heard”." in chat.said
    await chat.text("Ik heb eerst rustig met de mama gepraat, in een apart lokaal.")
    assert upload.transcript == "Ik heb eerst rustig met de mama gepraat, in een apart lokaal."
    assert upload.transcript_checked and upload.transcript_corrected
    assert chat.texts[0] == "Thank you. I changed it to your words."
    assert chat.texts[-1].startswith("T · Task (Taak) (2/5)")  # back where the learner was
    await chat.text(LONG)  # the reflection goes on from there
    assert "A · Action (Actie) (3/5)" in chat.said
    (reflection,) = uow.reflections.rows
    assert reflection.extra["voice"] == {"situation": upload.id}
    assert reflection.task == LONG
    conversation = next(iter(uow.conversations.rows.values()))
    assert not conversation.drafts


async def test_keep_after_correct_returns_too_and_heard_shows_the_newest(
    tmp_path: Path, fake: FakeEngine
) -> None:
    chat, uow = await learner(tmp_path, model_dir=tmp_path)
    await chat.command("heard")
    assert chat.texts[0] == "There is no transcript for you to check."
    await chat.command("reflect")
    await chat.file("voice", VOICE)
    heard = chat.last
    await chat.press("Correct it")
    chat.last = heard  # the learner changes their mind and taps Keep on the first message
    await chat.press("Keep it")
    (upload,) = uow.uploads.rows
    assert upload.transcript_checked and not upload.transcript_corrected
    assert chat.texts[-1].startswith("T · Task (Taak) (2/5)")  # back in the reflection
    fake.text = "Daarna heb ik de directie gebeld."
    await chat.text(LONG)
    await chat.file("voice", VOICE[:-10])  # the Action
    await chat.command("heard")
    assert "I heard: “Daarna heb ik de directie gebeld.”" in chat.texts
    assert chat.texts[-1].startswith("R · Result (Resultaat) (4/5)")


async def test_buttons_of_someone_else_s_voice_note_do_nothing(
    tmp_path: Path, fake: FakeEngine
) -> None:
    chat, uow = await learner(tmp_path, model_dir=tmp_path)
    await chat.command("reflect")
    await chat.file("voice", VOICE)
    (upload,) = uow.uploads.rows
    other = ChatDriver(chat.engine, user="learner-2")
    await other.command("start")
    await other.press("English")
    await other.press(other.last[-1].buttons[0][0].label)
    await other.text("Jan")
    await other.press_data(f"/heard fix {upload.id}")
    assert "This question is closed." in other.said
    await other.press_data(f"/heard keep {upload.id}")
    await other.press_data("/heard keep 99999999999999")
    await other.press_data("/heard shout 1")
    assert not upload.transcript_checked and upload.transcript == HEARD


async def test_no_transcript_no_question(tmp_path: Path, fake: FakeEngine) -> None:
    fake.text = None  # nothing recognised
    chat, uow = await learner(tmp_path, model_dir=tmp_path)
    await chat.command("reflect")
    await chat.file("voice", VOICE)
    (upload,) = uow.uploads.rows
    assert upload.transcript is None
    assert not any(text.startswith("I heard") for text in chat.texts)


async def test_transcribing_blocks_no_other_learner_and_no_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    open_units: list[int] = []

    def slow(path: Path, *, language: str | None) -> str | None:
        started.set()
        release.wait(10)
        return HEARD

    monkeypatch.setattr(transcription, "load", lambda model_dir: slow)
    chat, uow = await learner(tmp_path, model_dir=tmp_path)
    await chat.command("reflect")
    other = ChatDriver(chat.engine, user="learner-2")
    entered = 0

    class Counting:
        async def __aenter__(self) -> FakeUnitOfWork:
            nonlocal entered
            entered += 1
            open_units.append(entered)
            return uow

        async def __aexit__(self, *args: object) -> None:
            open_units.pop()

    chat.engine.uow_factory = Counting  # type: ignore[assignment]
    voice = asyncio.create_task(chat.file("voice", VOICE))
    await asyncio.to_thread(started.wait, 5)
    assert open_units == []  # no unit of work is open while the engine listens
    await other.command("help")  # another learner is answered meanwhile
    assert other.last and not voice.done()
    release.set()
    await voice
    assert uow.uploads.rows[0].transcript == HEARD


async def test_a_slow_engine_is_given_up_and_the_note_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()

    def stuck(path: Path, *, language: str | None) -> str | None:
        release.wait(10)
        return HEARD

    monkeypatch.setattr(transcription, "load", lambda model_dir: stuck)
    monkeypatch.setattr(transcription, "TRANSCRIBE_TIMEOUT", 0.2)
    chat, uow = await learner(tmp_path, model_dir=tmp_path)
    await chat.command("reflect")
    with caplog.at_level(logging.WARNING):
        await chat.file("voice", VOICE)
    release.set()
    (upload,) = uow.uploads.rows
    assert upload.transcript is None
    assert chat.texts[-1].startswith("T · Task (Taak) (2/5)")
    assert "a voice note was not transcribed: it took over 0 s" in caplog.text


@pytest.mark.parametrize("folder", ["empty", "missing"])
async def test_a_model_that_cannot_be_loaded_turns_transcription_off(
    tmp_path: Path, folder: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The real loader (faster-whisper, or its missing import) on a bad model directory."""
    model_dir = tmp_path / folder
    if folder == "empty":
        model_dir.mkdir()
    chat, uow = await learner(tmp_path, model_dir=model_dir)
    await chat.command("reflect")
    with caplog.at_level(logging.INFO):
        await chat.file("voice", VOICE)
        await chat.text(LONG)
        await chat.file("voice", VOICE[:-10])
    first, second = uow.uploads.rows
    assert first.transcript is None and second.transcript is None  # kept, without transcripts
    (reflection,) = uow.reflections.rows
    assert reflection.extra["voice"] == {"situation": first.id, "action": second.id}
    off = [r for r in caplog.records if "transcription is off" in r.getMessage()]
    assert len(off) == 1 and off[0].levelno == logging.ERROR  # said once, clearly
    assert "OPSTAP_TRANSCRIPTION_MODEL_DIR" in off[0].getMessage()
    assert "Samira" not in caplog.text and LONG not in caplog.text


async def test_the_coach_and_the_export_show_the_transcript_beside_the_recording(
    tmp_path: Path, fake: FakeEngine
) -> None:
    chat, uow = await learner(tmp_path, model_dir=tmp_path, language="Nederlands")
    await chat.command("reflect")
    await chat.file("voice", VOICE)  # Situatie: heard, then corrected
    await chat.press("Verbeteren")
    await chat.text("Een moeder kwam boos binnen.")
    await chat.text(LONG)  # Taak
    await chat.file("voice", VOICE[:-10])  # Actie: heard, not checked
    await chat.text(LONG)
    await chat.text(LONG)
    await chat.press("Reflecteren")
    await chat.press("Klaar")
    await chat.press("Klaar")
    await chat.press("Bewaren")
    (reflection,) = uow.reflections.rows
    assert reflection.status == "done", chat.said
    learner_row = next(iter(uow.users.rows.values()))
    coach_chat = ChatDriver(chat.engine, user="coach")
    await coach_chat.command("start")
    await coach_chat.press("English")
    coach = next(u for u in uow.users.rows.values() if u.external_id == "coach")
    conversation = await uow.conversations.get(coach.id)
    assert conversation is not None
    ctx = Context(
        engine=chat.engine, uow=uow, user=coach, conversation=conversation, now=chat.engine.clock()
    )
    member = Membership(group_id=1, learner_id=learner_row.id, share_reflections=True)
    sections = await coachview.sections_for(ctx, learner_row, member)
    (section,) = [s for s in sections if s.share == "reflections"]
    lines = "\n".join(section.lines)
    assert "S: 🎤 voice note (0:05)" in lines
    assert "Transcript, corrected by the learner: “Een moeder kwam boos binnen.”" in lines
    assert f"Transcript made by a computer, not checked: “{HEARD}”" in lines

    await chat.command("export")
    await chat.press("Samira")
    files = {r.file.file_name: r.file.path for r in chat.last if r.file}
    document = Document(str(files["portfolio.docx"]))
    body = "\n".join(p.text for p in document.paragraphs)
    for table in document.tables:
        body += "\n".join(cell.text for row in table.rows for cell in row.cells)
    assert "Uitgeschreven, verbeterd door de lerende:" in body
    assert "Een moeder kwam boos binnen." in body
    assert "Uitgeschreven door een computer, niet nagekeken:" in body
    with zipfile.ZipFile(files["portfolio.zip"]) as archive:
        data = json.loads(archive.read("portfolio.json"))
    (written,) = data["reflections"]
    steps = written["steps"]
    assert steps["situation"]["voice"]["transcript"] == "Een moeder kwam boos binnen."
    assert steps["situation"]["voice"]["transcript_corrected"] is True
    assert steps["action"]["voice"]["transcript_checked"] is False


def test_heard_is_not_listed_among_the_commands(tmp_path: Path) -> None:
    """/heard works typed and from its buttons, but the command menu and /help keep the
    commands of PRODUCT.md."""
    from bot.config import Settings
    from bot.runtime import Runtime

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'o.db'}",
        data_dir=tmp_path / "data",
    )
    engine = Runtime.create(settings).engine
    assert "heard" in engine.commands
    assert "heard" not in dict(engine.commands_for("learner"))
