"""What flows receive (events) and what they send back (replies). No channel knows better."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from flows.i18n import right_to_left

EventKind = Literal[
    "text",
    "edit",
    "button",
    "command",
    "voice",
    "audio",
    "photo",
    "document",
    "video",
    "unsupported",
]
FileKind = Literal["voice", "audio", "photo", "document", "video"]
MEDIA_KINDS: frozenset[str] = frozenset({"voice", "audio", "photo", "document", "video"})

MAX_TEXT_LENGTH = 4000
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_CALLBACK_BYTES = 64
#: Ids are 32-bit integer columns (PostgreSQL `integer`): a larger number is no id at all.
MAX_ID = 2**31 - 1
#: A file download may take this long (seconds) and is tried this often.
FETCH_TIMEOUT = 60.0
FETCH_ATTEMPTS = 2

log = logging.getLogger(__name__)


#: C0 control characters other than tab and newline, and DEL: never stored (PostgreSQL text
#: cannot hold NUL at all). Bidirectional and zero-width marks are kept: they are meaningful.
_CONTROL = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def parse_id(text: str) -> int | None:
    """A database id from a button value or a command argument: a positive whole number
    that fits the id columns, else None (so an odd number never reaches a query)."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > len(str(MAX_ID)):
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ID else None


def clean_text(text: str) -> str:
    """Text as the user meant it: without control characters; line breaks kept."""
    return text.replace("\r\n", "\n").replace("\r", "\n").translate(_CONTROL)


@dataclass(frozen=True)
class IncomingFile:
    """A file the user sent. `read` fetches its bytes (from Telegram, or from disk)."""

    kind: FileKind
    read: Callable[[], Awaitable[bytes]]
    size: int | None = None
    mime_type: str | None = None
    file_name: str | None = None
    unique_id: str | None = None
    duration: int | None = None
    #: What a speech-to-text engine heard in a voice note (flows/transcription.py).
    transcript: str | None = None


class FileFetchFailed(Exception):
    """A file could not be fetched from the channel, even after a retry."""


async def prefetch(
    file: IncomingFile, *, seconds: float = FETCH_TIMEOUT, attempts: int = FETCH_ATTEMPTS
) -> IncomingFile:
    """The file with its bytes fetched now: each try limited to `seconds`.

    Raises FileFetchFailed when every try failed (an error of the channel, a timeout).
    """
    for attempt in range(1, attempts + 1):
        try:
            async with asyncio.timeout(seconds):
                data = await file.read()
        except Exception as error:
            log.warning(
                "file download failed (attempt %d of %d): %s",
                attempt,
                attempts,
                type(error).__name__,
            )
            continue

        async def read(data: bytes = data) -> bytes:
            return data

        return replace(file, read=read, size=len(data))
    raise FileFetchFailed


@dataclass(frozen=True)
class Event:
    """One thing the user did: typed text, pressed a button, sent a command or a file.

    For a command, `command` is its name without the slash and `text` its arguments. For a
    button, `value` is what the button carries (after the state check). For a file, `file` is
    set and `text` is its caption. An "edit" is a changed earlier message, its new `text`.
    `ref` is the channel's id of the message, where an edit of it can arrive later.
    """

    kind: EventKind
    text: str = ""
    command: str | None = None
    value: str | None = None
    file: IncomingFile | None = None
    ref: str | None = None


@dataclass(frozen=True)
class Button:
    """A button: its visible label, the opaque data it sends back (at most 64 bytes), and
    optionally a short label for a channel with small buttons (WhatsApp: 20 characters
    for a reply button, 24 for a list row) where the label is longer."""

    label: str
    data: str
    short: str | None = None

    def rtl(self) -> Button:
        """The button with its labels marked right to left."""
        short = right_to_left(self.short) if self.short else None
        return Button(right_to_left(self.label), self.data, short)


@dataclass(frozen=True)
class OutFile:
    """A file to send: a photo (chart, QR code) or a document (export)."""

    path: Path
    kind: Literal["photo", "document"] = "document"
    file_name: str | None = None


@dataclass(frozen=True)
class Origin:
    """Where a scheduled message came from: its outbox kind and English source text, for a
    channel that must send some kinds as pre-approved templates (WhatsApp, outside its
    24-hour window). `template_only` when the channel said a free message cannot go."""

    kind: str
    source: str
    template_only: bool = False


@dataclass(frozen=True)
class Reply:
    """One outgoing message: text, rows of buttons, and optionally a file.

    With `replace`, a channel that can edit messages replaces the message whose button was
    pressed (used for toggles); others send it as a new message.
    """

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    file: OutFile | None = None
    replace: bool = False
    rtl: bool = False
    #: (role, language): the channel shows this role's command list in this chat from now on.
    command_menu: tuple[str, str] | None = None
    #: Set on messages rendered from the outbox.
    origin: Origin | None = None

    @property
    def flat_buttons(self) -> list[Button]:
        """All buttons, row after row."""
        return [button for row in self.buttons for button in row]

    def as_data(self) -> dict[str, Any]:
        """The reply as JSON-ready data (kept until it is sent: see `Engine.handle`)."""
        data: dict[str, Any] = {"text": self.text}
        if self.buttons:
            data["buttons"] = [[[b.label, b.data, b.short] for b in row] for row in self.buttons]
        if self.file is not None:
            data["file"] = [str(self.file.path), self.file.kind, self.file.file_name]
        if self.replace:
            data["replace"] = True
        if self.rtl:
            data["rtl"] = True
        if self.command_menu is not None:
            data["command_menu"] = list(self.command_menu)
        return data

    @classmethod
    def of_data(cls, data: dict[str, Any]) -> Reply:
        """The reply `as_data` gave."""
        file = data.get("file")
        menu = data.get("command_menu")
        return cls(
            text=data["text"],
            buttons=tuple(
                tuple(Button(label, value, short) for label, value, short in row)
                for row in data.get("buttons", ())
            ),
            file=None if file is None else OutFile(Path(file[0]), file[1], file[2]),
            replace=bool(data.get("replace")),
            rtl=bool(data.get("rtl")),
            command_menu=None if menu is None else (menu[0], menu[1]),
        )
