"""`opstap chat`: the same flows in the terminal, per the terminal protocol in PRODUCT.md.

Each message is printed as its text, then `  [n] label` per button, then a line `--`.
A line is a button's number or exact label, a `/command`, `@voice PATH`, `@photo PATH`,
`@file PATH`, or text. End of input ends the chat. A file a message carries is printed on its
own line as `(picture: PATH)` or `(file: PATH)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from flows import Engine
from flows.messages import Button, Event, FileKind, IncomingFile, Reply
from storage.models import User

if TYPE_CHECKING:
    from bot.runtime import Runtime

CHANNEL = "terminal"
OUTBOX_INTERVAL = 1.0  # seconds between two looks at the outbox
FILE_PREFIXES: dict[str, FileKind] = {"@voice": "voice", "@photo": "photo", "@file": "document"}


def _reader(path: Path) -> Callable[[], Awaitable[bytes]]:
    async def read() -> bytes:
        return await asyncio.to_thread(path.read_bytes)

    return read


def parse_line(line: str, buttons: list[Button]) -> Event:
    """Turns one input line into an event, choosing a button by number or exact label."""
    text = line.rstrip("\r\n")
    stripped = text.strip()
    if buttons:
        if stripped.isdigit() and 1 <= int(stripped) <= len(buttons):
            return Event(kind="button", value=buttons[int(stripped) - 1].data)
        for button in buttons:
            if stripped in (button.label, button.label.lstrip("\u200f")):
                return Event(kind="button", value=button.data)
    if stripped.startswith("/") and len(stripped) > 1:
        command, _, args = stripped[1:].partition(" ")
        return Event(kind="command", command=command.lower(), text=args.strip())
    prefix, _, rest = stripped.partition(" ")
    if prefix in FILE_PREFIXES and rest:
        path = Path(rest.strip()).expanduser()
        if not path.is_file():
            return Event(kind="unsupported", text=stripped)
        kind = FILE_PREFIXES[prefix]
        return Event(
            kind=kind,
            file=IncomingFile(
                kind=kind,
                read=_reader(path),
                size=path.stat().st_size,
                mime_type=mimetypes.guess_type(path.name)[0],
                file_name=path.name,
            ),
        )
    return Event(kind="text", text=text)


class TerminalChat:
    """Talks to one user on stdin and stdout."""

    def __init__(self, engine: Engine, *, user: str, language: str | None, output: TextIO) -> None:
        self.engine = engine
        self.user = user
        self.language = language
        self.output = output
        self.buttons: list[Button] = []
        self._lock = asyncio.Lock()

    def show(self, replies: list[Reply]) -> None:
        """Prints replies per the protocol; the last message with buttons sets the numbers."""
        for reply in replies:
            lines = [reply.text]
            if reply.file is not None:  # said what it is, so a path is not mistaken for text
                what = "picture" if reply.file.kind == "photo" else "file"
                lines.append(f"({what}: {reply.file.path})")
            if reply.buttons:
                self.buttons = reply.flat_buttons
                lines += [f"  [{n}] {b.label}" for n, b in enumerate(self.buttons, start=1)]
            lines.append("--")
            self.output.write("\n".join(lines) + "\n")
        self.output.flush()

    async def show_now(self, replies: list[Reply]) -> None:
        """Prints replies a flow sends before it finishes."""
        self.show(replies)

    async def send(self, event: Event) -> None:
        """Hands one event to the engine and prints what comes back."""
        async with self._lock:
            replies = await self.engine.handle(
                channel=CHANNEL,
                external_id=self.user,
                event=event,
                language=self.language,
                send=self.show_now,
            )
            self.show(replies)

    async def deliver(self, reply: Reply) -> None:
        """Prints a scheduled message (the terminal's outbox sender)."""
        async with self._lock:
            self.show([reply])

    async def run_with_outbox(self, input: TextIO, runtime: Runtime) -> None:
        """Reads lines until end of input, printing scheduled messages as they fall due."""
        from bot.scheduler import Dispatcher

        async with runtime.uow() as uow:
            me = await uow.users.by_external(channel=CHANNEL, external_id=self.user)
            recipients = [me.id] if me else []
        dispatcher = Dispatcher(
            uow_factory=runtime.uow,
            sender=TerminalSender(self),
            clock=runtime.engine.clock,
            translator=runtime.engine.translator,
            policy=runtime.nudge_policy(),
            user_ids=recipients,
        )
        await dispatcher.recover()
        await dispatcher.run_once()

        async def tick() -> None:
            while True:
                await asyncio.sleep(OUTBOX_INTERVAL)
                await dispatcher.run_once()

        ticker = asyncio.create_task(tick())
        try:
            await self.run(input)
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    async def run(self, input: TextIO) -> None:
        """Reads lines until end of input."""
        while True:
            line = await asyncio.to_thread(input.readline)
            if not line:
                return
            if not line.strip():
                continue
            await self.send(parse_line(line, self.buttons))


class TerminalSender:
    """The outbox `Sender` of the terminal chat: prints the message per the protocol."""

    def __init__(self, chat: TerminalChat) -> None:
        self.chat = chat

    async def send(self, user: User, reply: Reply) -> None:
        await self.chat.deliver(reply)
