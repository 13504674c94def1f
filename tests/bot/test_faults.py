"""Faults through the real Application on the fake Bot API: a busy database, Telegram 5xx,
timeouts and 429 storms, a full disk, a process killed mid-update, and secrets in logs."""

from __future__ import annotations

import asyncio
import errno
import logging
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.runtime import Runtime
from flows.engine import Context, Flow
from flows.messages import Event
from flows.privacy import sweep_orphans
from flows.uploads import UploadRejected, rejection_text, store_upload
from storage.models import Conversation, ProcessedUpdate, Signal, Upload, User
from tests.conftest import POSTGRES_URL
from tests.fake_telegram import TOKEN, FakeTelegram, running_bot

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


class Keep(Flow):
    """Records a signal, then keeps a file, then (when told) dies before the end."""

    name = "keep"
    commands: ClassVar = {"keep": "keep"}
    files = frozenset({"photo"})
    crash: ClassVar[type[BaseException] | None] = None

    async def start(self, ctx: Context, command: str, args: str) -> None:
        await ctx.begin(self, "file")

    async def ask_file(self, ctx: Context) -> None:
        ctx.say("Send a file")

    async def on_file(self, ctx: Context, event: Event) -> None:
        await ctx.signal("evidence_added")
        if event.file is None:
            await ctx.invalid("A file please")
            return
        try:
            await store_upload(ctx, event.file)
        except UploadRejected as error:
            await ctx.invalid(rejection_text(ctx, error))
            return
        if self.crash is not None:
            raise self.crash
        ctx.say("Kept")
        await ctx.finish(menu=False)


async def consented(runtime: Runtime, external_id: str = "5") -> None:
    flow = Keep()
    runtime.engine.flows[flow.name] = flow
    runtime.engine.commands["keep"] = flow
    async with runtime.sessionmaker() as session:
        session.add(
            User(
                channel="telegram",
                external_id=external_id,
                language="en",
                language_chosen=True,
                consent_version=1,
                display_name="Sam",
                status="active",
            )
        )
        await session.commit()


async def count(runtime: Runtime, model: Any) -> int:
    async with runtime.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def sqlite_file(runtime: Runtime) -> Path:
    return Path(make_url(runtime.settings.database_url).database or "")


sqlite_only = pytest.mark.skipif(POSTGRES_URL is not None, reason="SQLite locking")


@sqlite_only
async def test_a_busy_database_is_waited_for(runtime: Runtime, telegram: FakeTelegram) -> None:
    async with running_bot(runtime, telegram) as bot:
        await bot.say(1, "/start")  # creates the file and the tables' pages
        blocker = sqlite3.connect(sqlite_file(runtime), isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # another connection holds the write lock
        handling = asyncio.create_task(bot.say(1, "/help"))
        await asyncio.sleep(0.3)
        assert not handling.done()  # waiting within the busy timeout
        blocker.execute("ROLLBACK")
        sent = await handling
        blocker.close()
    assert sent[0].text.startswith("Dit kan ik voor je doen:")


@sqlite_only
async def test_a_database_busy_for_too_long_gets_a_kind_message_and_keeps_nothing(
    runtime: Runtime, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_bot(runtime, telegram) as bot:
        await bot.say(1, "/start")
    monkeypatch.setattr("storage.db.SQLITE_BUSY_TIMEOUT_MS", 100)
    impatient = Runtime.create(runtime.settings, clock=runtime.engine.clock)
    before = await count(runtime, ProcessedUpdate)
    update = telegram.text(1, "/help")
    async with running_bot(impatient, telegram) as bot:
        blocker = sqlite3.connect(sqlite_file(runtime), isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        sent = await bot.feed(update)
        blocker.execute("ROLLBACK")
        blocker.close()
        assert [c.text for c in sent] == [
            "Ik heb het nu heel druk. Er is niets verloren. Stuur het over een minuutje opnieuw."
        ]
        assert await count(runtime, ProcessedUpdate) == before  # not marked as handled
        sent = await bot.feed(update)  # Telegram's retry is handled normally
    assert sent[0].text.startswith("Dit kan ik voor je doen:")


async def test_telegram_5xx_after_storing_sends_the_reply_again(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    """The update was handled and committed when the send failed: handling it again would
    give nothing, so the reply itself is tried again, and the learner gets it once."""
    async with running_bot(runtime, telegram) as bot:
        telegram.fail("sendMessage", 502, "Bad Gateway")
        sent = await bot.say(2, "/start")
        texts = [c.text for c in sent if c.method == "sendMessage"]
        assert len(texts) == 2 and texts[0] == texts[1]  # the failed try, then the reply
        assert texts[-1].startswith("Kies je taal.")
        async with runtime.sessionmaker() as session:
            conversation = (await session.scalars(select(Conversation))).one()
        assert (conversation.flow, conversation.step) == ("onboarding", "language")
        sent = await bot.say(2, "English")
        assert sent[-1].text.endswith("Do you agree?")


async def test_replies_that_cannot_go_are_logged_and_the_answer_is_kept(
    runtime: Runtime, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with running_bot(runtime, telegram) as bot:
        await bot.say(5, "/start")
        for _ in range(4):  # the first try and the three tries again
            telegram.fail("sendMessage", 502, "Bad Gateway")
        sent = await bot.say(5, "English")
        assert [c.method for c in sent] == ["sendMessage"] * 4  # no apology that cannot go
        async with runtime.sessionmaker() as session:
            user = (await session.scalars(select(User))).one()
        assert user.language == "en"  # what the learner chose is stored
        sent = await bot.say(5, "/help")
        assert sent[0].text.startswith("This is what I can do for you:")
    gave_up = [r.getMessage() for r in caplog.records if "after 4 tries" in r.getMessage()]
    assert gave_up and "NetworkError at" in gave_up[0]
    assert "English" not in caplog.text


class SlowTelegram(FakeTelegram):
    """Times out on the first call of the listed methods."""

    def __init__(self, *methods: str) -> None:
        super().__init__()
        self.time_out = list(methods)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit("/", 1)[-1]
        if method in self.time_out:
            self.time_out.remove(method)
            raise httpx.ReadTimeout("timed out", request=request)
        return await super().handle(request)


async def test_a_timeout_while_sending_is_survived(runtime: Runtime) -> None:
    telegram = SlowTelegram("sendMessage")
    async with running_bot(runtime, telegram) as bot:
        sent = await bot.say(3, "/start")
        assert sent[-1].text.startswith("Kies je taal.")  # tried again after the timeout
        sent = await bot.say(3, "English")
        assert sent[-1].text.endswith("Do you agree?")
    assert await count(runtime, ProcessedUpdate) == 2


class RecordedSleeps:
    """Stands in for the rate limiter's clock and sleep: records the waits instead of
    waiting, and moves its clock on by them."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.slept = 0.0

    def clock(self) -> float:
        return time.monotonic() + self.slept

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.slept += seconds
        await asyncio.sleep(0)


async def test_429_answers_are_honoured_and_a_storm_is_survived(
    runtime: Runtime, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps = RecordedSleeps()
    async with running_bot(runtime, telegram) as bot:
        budget = bot.app.bot.rate_limiter.budget
        monkeypatch.setattr(budget, "clock", sleeps.clock)
        monkeypatch.setattr(budget, "sleep", sleeps.sleep)
        for _ in range(2):
            telegram.fail("sendMessage", 429, "Too Many Requests: retry after 5", retry_after=5)
        sent = await bot.say(4, "/start")
        attempts = [c for c in sent if c.method == "sendMessage"]
        assert len(attempts) == 3 and "Kies je taal." in attempts[-1].text
        assert [round(w, 1) for w in sleeps.waits] == [5.0, 5.0]  # retry_after honoured
        # A storm: more 429s than retries, for the reply and the apology alike.
        for _ in range(6):
            telegram.fail("sendMessage", 429, "Too Many Requests: retry after 5", retry_after=5)
        await bot.say(4, "English")
        sent = await bot.say(4, "/help")  # after the storm all is normal
        assert sent[0].text.startswith("This is what I can do for you:")
    async with runtime.sessionmaker() as session:
        user = (await session.scalars(select(User))).one()
    assert user.language == "en"  # the update during the storm was stored once


async def test_a_full_disk_while_saving_a_file_keeps_no_half_row(
    runtime: Runtime, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    await consented(runtime)

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("storage.files.FileStore.save", full)
    async with running_bot(runtime, telegram) as bot:
        await bot.say(5, "/keep")
        file_id, unique = telegram.upload(PNG)
        photo = [{"file_id": file_id, "file_unique_id": unique, "width": 1, "height": 1}]
        sent = await bot.feed(telegram.message(5, photo=photo))
    assert sent[0].text.startswith("I could not save that file right now. Nothing was stored.")
    assert await count(runtime, Upload) == 0
    assert not [p for p in runtime.engine.files.root.rglob("*") if p.is_file()]


@pytest.mark.parametrize("crash", [RuntimeError, asyncio.CancelledError])
async def test_a_process_killed_mid_update_leaves_nothing_half_stored(
    runtime: Runtime, crash: type[BaseException]
) -> None:
    await consented(runtime)
    Keep.crash = crash

    async def read() -> bytes:
        return PNG

    from flows.messages import IncomingFile

    photo = Event(kind="photo", file=IncomingFile(kind="photo", read=read, size=len(PNG)))
    try:
        await runtime.engine.handle(
            channel="telegram", external_id="5", event=Event(kind="command", command="keep")
        )
        with pytest.raises(crash):
            await runtime.engine.handle(
                channel="telegram", external_id="5", event=photo, update_id=500
            )
    finally:
        Keep.crash = None
    # "Restart": a new runtime on the same database continues from the last commit.
    again = Runtime.create(runtime.settings, clock=runtime.engine.clock)
    again.engine.flows["keep"] = runtime.engine.flows["keep"]
    again.engine.commands["keep"] = runtime.engine.flows["keep"]
    try:
        assert await count(again, Signal) == 0
        assert await count(again, Upload) == 0
        assert await count(again, ProcessedUpdate) == 0
        replies = await again.engine.handle(
            channel="telegram", external_id="5", event=photo, update_id=500
        )
        assert replies[0].text == "Kept"
        assert (await count(again, Signal), await count(again, Upload)) == (1, 1)
        # The file saved before the crash has no row; the daily sweep removes it, once old.
        files = again.engine.files
        on_disk = sorted(p for p in (files.root / "uploads").rglob("*") if p.is_file())
        assert len(on_disk) == 2
        async with again.uow() as uow:
            known = await uow.privacy.stored_files()
        now = datetime.now(UTC)
        assert await sweep_orphans(files, known, now=now) == []  # too young: maybe in flight
        removed = await sweep_orphans(files, known, now=now + timedelta(hours=2))
        assert len(removed) == 1 and removed[0] not in known
        assert [p.relative_to(files.root).as_posix() for p in files.root.rglob("*.png")] == [
            *known
        ]
    finally:
        await again.close()


async def test_secrets_never_reach_the_logs(
    runtime: Runtime, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "telegram"):
        caplog.set_level(logging.DEBUG, logger=name)
    async with running_bot(runtime, telegram) as bot:
        await bot.say(8, "/start")
        for _ in range(4):  # every try fails: the last one is logged
            telegram.fail("sendMessage", 502, f"Bad Gateway at /bot{TOKEN}/sendMessage")
        await bot.say(8, "English")
    requests = [r for r in caplog.records if r.name == "httpx"]
    assert requests and "<redacted>" in requests[0].getMessage()
    failed = [r for r in caplog.records if r.name == "bot.inbox" and "after 4 tries" in r.message]
    assert failed and "NetworkError at" in failed[0].getMessage()  # the type and where
    assert not any(r.exc_info for r in caplog.records if r.name.startswith("bot"))
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text
