"""Optional offline transcription of voice notes: what a speech-to-text engine heard is kept
beside the recording (`Upload.transcript`) and marked as made by a computer until the learner
keeps or corrects it (flows/transcripts.py). Off unless the deployer sets
`OPSTAP_TRANSCRIPTION_MODEL_DIR` to a directory holding a faster-whisper (CTranslate2) model;
nothing is ever downloaded at run time, and without the setting nothing is transcribed.

A voice note is transcribed when it arrives (`transcribe_arrival`), after its download and
before the database transaction, in a worker thread with a time limit: the learner waits for
their own answer, nobody else does, and no lock is held meanwhile. Notes kept before the
setting was made get one at export (`transcribe_missing`). A model that cannot be loaded
turns transcription off for the process, with one log line; the voice notes are kept.

The engine is behind one small interface, `Transcriber`, so tests use a fake one; the real
one is faster-whisper, loaded once per process from the model directory."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from flows.i18n import N_
from flows.messages import IncomingFile
from storage.models import Upload

log = logging.getLogger(__name__)
#: The voice notes a transcript is made for.
SPOKEN = frozenset({"voice", "audio"})
#: A voice note that takes longer than this (seconds) to transcribe keeps no transcript.
TRANSCRIBE_TIMEOUT = 120.0
#: Loading a model can fail in these ways (no faster-whisper, no such model, a broken one).
LOAD_ERRORS = (ImportError, OSError, RuntimeError, ValueError)


def transcript_note(upload: Upload) -> str:
    """What a voice note's transcript is, as a source string marked with N_."""
    if upload.transcript_corrected:
        return N_("Transcript, corrected by the learner")
    if upload.transcript_checked:
        return N_("Transcript, checked by the learner")
    return N_("Transcript made by a computer, not checked")


class Transcriber(Protocol):
    def __call__(self, path: Path, *, language: str | None) -> str | None:
        """The words heard in the recording, or None when nothing was recognised."""
        ...


def available() -> bool:
    """True when the faster-whisper package is installed (`pip install opstap[transcription]`)."""
    return importlib.util.find_spec("faster_whisper") is not None


class FasterWhisper:
    """faster-whisper on the CPU, from a local model directory only."""

    def __init__(self, model_dir: Path) -> None:
        whisper = importlib.import_module("faster_whisper")
        self.model: Any = whisper.WhisperModel(
            str(model_dir), device="cpu", compute_type="int8", local_files_only=True
        )
        # One recording at a time: the CPU is shared, and a second caller waits its turn.
        self.lock = threading.Lock()

    def __call__(self, path: Path, *, language: str | None) -> str | None:
        with self.lock:
            segments, _ = self.model.transcribe(str(path), language=language, vad_filter=True)
            text = " ".join(segment.text.strip() for segment in segments).strip()
        return text or None


@cache
def load(model_dir: Path) -> Transcriber:
    """The transcriber for a model directory, loaded once."""
    return FasterWhisper(model_dir)


@cache
def engine_for(model_dir: Path) -> Transcriber | None:
    """The transcriber for a model directory, or None (logged once) when it cannot be
    loaded: transcription is then off until the process restarts."""
    try:
        return load(model_dir)
    except LOAD_ERRORS as error:
        log.error(
            "transcription is off: no faster-whisper model could be loaded from "
            "OPSTAP_TRANSCRIPTION_MODEL_DIR (%s)",
            type(error).__name__,
        )
        return None


def _transcribe_bytes(engine: Transcriber, data: bytes, *, language: str | None) -> str | None:
    """Runs the engine on a recording held in memory (through a private temporary file)."""
    with tempfile.TemporaryDirectory(prefix="opstap-voice-") as folder:
        path = Path(folder) / "note"
        path.write_bytes(data)
        return engine(path, language=language)


async def transcribe_arrival(
    file: IncomingFile,
    *,
    model_dir: Path | None,
    language: str | None = None,
    seconds: float | None = None,
) -> IncomingFile:
    """The file with what the engine heard in it (`transcript`), for a voice note that
    just arrived and was fetched. Runs in a worker thread with a time limit; returns the
    file unchanged without a model, for other files, and whenever transcription fails (the
    log says why, never what was said). `seconds` defaults to TRANSCRIBE_TIMEOUT.
    `language` None lets the engine recognise it: a learner may speak Dutch in one note
    and their own language in the next."""
    if model_dir is None or file.kind not in SPOKEN:
        return file
    engine = await asyncio.to_thread(engine_for, model_dir)
    if engine is None:
        return file
    data = await file.read()
    seconds = TRANSCRIBE_TIMEOUT if seconds is None else seconds
    try:
        async with asyncio.timeout(seconds):
            text = await asyncio.to_thread(_transcribe_bytes, engine, data, language=language)
    except TimeoutError:
        log.warning("a voice note was not transcribed: it took over %d s", int(seconds))
        return file
    except (OSError, RuntimeError, ValueError) as error:
        log.warning("a voice note could not be transcribed: %s", type(error).__name__)
        return file
    return replace(file, transcript=text.strip()[:4000] if text and text.strip() else None)


async def transcribe_missing(
    uploads: Iterable[Upload],
    *,
    model_dir: Path | None,
    path_of: Any,
    language: str | None,
) -> int:
    """Transcribes the voice notes that have no transcript yet (in a worker thread, so the
    other learners' messages go on); returns how many got one. Does nothing without a
    model directory. A recording the engine cannot read keeps no transcript."""
    if model_dir is None:
        return 0
    engine = await asyncio.to_thread(engine_for, model_dir)
    if engine is None:
        return 0
    done = 0
    for upload in uploads:
        if upload.kind not in SPOKEN or upload.transcript:
            continue
        path = path_of(upload)
        if not path.is_file():
            continue
        try:
            text = await asyncio.to_thread(engine, path, language=language)
        except (OSError, RuntimeError, ValueError) as error:
            log.warning("a voice note could not be transcribed: %s", type(error).__name__)
            continue
        if text:
            upload.transcript = text
            upload.transcript_checked = False
            done += 1
    return done
