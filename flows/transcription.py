"""Optional offline transcription of voice notes, for the export: what a speech-to-text
engine heard is kept beside the recording (`Upload.transcript`) and marked as made by a
computer. Off unless the deployer sets `OPSTAP_TRANSCRIPTION_MODEL_DIR` to a directory
holding a faster-whisper (CTranslate2) model; nothing is ever downloaded at run time, and
without the setting nothing is transcribed.

The engine is behind one small interface, `Transcriber`, so tests use a fake one; the real
one is faster-whisper, loaded once per process from the model directory."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from storage.models import Upload

log = logging.getLogger(__name__)
#: The voice notes a transcript is made for.
SPOKEN = frozenset({"voice", "audio"})


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

    def __call__(self, path: Path, *, language: str | None) -> str | None:
        segments, _ = self.model.transcribe(str(path), language=language, vad_filter=True)
        text = " ".join(segment.text.strip() for segment in segments).strip()
        return text or None


@cache
def load(model_dir: Path) -> Transcriber:
    """The transcriber for a model directory, loaded once."""
    return FasterWhisper(model_dir)


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
    engine = load(model_dir)
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
