"""Loose ends end to end: the real python-telegram-bot Application on the fake Bot API."""

from __future__ import annotations

import io
import json
import os
import zipfile

import pytest
from sqlalchemy import select

from bot.runtime import Runtime
from flows.privacy import MyData
from storage.models import Upload, User
from tests.fake_telegram import FakeTelegram, running_bot

LEARNER = 51


async def onboard(bot, user_id: int = LEARNER) -> None:  # type: ignore[no-untyped-def]
    await bot.say(user_id, "/start")
    await bot.press(user_id, "English")
    await bot.press(user_id, "Yes, I agree")
    await bot.say(user_id, "Samira")


async def add_files(runtime: Runtime, count: int, size: int) -> list[bytes]:
    """Uploads of the learner, stored like the evidence flow stores them."""
    contents = [os.urandom(size) for _ in range(count)]
    async with runtime.sessionmaker() as session:
        learner = (await session.scalars(select(User))).one()
        for content in contents:
            stored = runtime.engine.files.save(content, folder=f"uploads/u{learner.id}")
            session.add(
                Upload(
                    owner_id=learner.id,
                    kind="document",
                    relpath=stored.relpath,
                    sha256=stored.sha256,
                    size=stored.size,
                    mime_type="application/pdf",
                )
            )
        await session.commit()
    return contents


async def test_mydata_over_the_send_limit_comes_in_parts(
    runtime: Runtime, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 100_000  # stands in for Telegram's 50 MB
    telegram.upload_limit = limit
    async with running_bot(runtime, telegram) as bot:
        await onboard(bot)
        contents = await add_files(runtime, count=3, size=45_000)
        # One ZIP for everything is refused by Telegram: the learner got an apology.
        monkeypatch.setattr(MyData, "limit", 10 * limit)
        sent = await bot.say(LEARNER, "/mydata")
        assert sent[-1].text.startswith("Sorry, something went wrong on my side.")
        # Split like /export: every part goes through.
        monkeypatch.setattr(MyData, "limit", limit)
        sent = await bot.say(LEARNER, "/mydata")
    documents = [c for c in sent if c.method == "sendDocument"]
    assert sent[0].text.startswith(f"Here is everything I store about you, in {len(documents)} ")
    assert len(documents) >= 2
    names, found = [], []
    for number, call in enumerate(documents, start=1):
        (blob,) = call.files.values()
        assert len(blob) <= limit
        assert call.text == f"Part {number} of {len(documents)}."
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            names += archive.namelist()
            found += [archive.read(n) for n in archive.namelist() if n.startswith("files/")]
            if number == 1:
                data = json.loads(archive.read("data.json"))
                assert data["tables"]["users"][0]["display_name"] == "Samira"
    assert names.count("data.json") == 1
    assert sorted(found) == sorted(contents)


async def test_mydata_and_delete_work_from_the_consent_screen(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    """The consent text names /mydata and /delete: both work before consent (and /privacy)."""
    async with running_bot(runtime, telegram) as bot:
        await bot.say(LEARNER, "/start")
        sent = await bot.press(LEARNER, "English")
        consent = "\n".join(c.text for c in sent)
        for command in ("/mydata", "/delete"):
            assert command in consent, command
        sent = await bot.say(LEARNER, "/privacy")
        assert "What I store" in "\n".join(c.text for c in sent)
        assert sent[-1].text.endswith("Do you agree?")  # and the consent question again
        sent = await bot.say(LEARNER, "/mydata")
        assert sent[-1].text.endswith("Do you agree?")
        (document,) = [c for c in sent if c.method == "sendDocument"]
        with zipfile.ZipFile(io.BytesIO(next(iter(document.files.values())))) as archive:
            data = json.loads(archive.read("data.json"))
        assert data["tables"]["users"][0]["consent_at"] is None
        sent = await bot.say(LEARNER, "/delete")
        assert "erase everything" in sent[-1].text
        sent = await bot.press(LEARNER, "No, keep my data")  # called off: consent again
        assert sent[0].text == "Good, I keep everything." and sent[-1].text.endswith(
            "Do you agree?"
        )
        sent = await bot.say(LEARNER, "/delete")
        await bot.press(LEARNER, "Yes, erase everything")
        sent = await bot.press(LEARNER, "Erase now")
        texts = "\n".join(c.text for c in sent)
        assert "Everything is erased." in texts
        async with runtime.sessionmaker() as session:
            assert (await session.scalars(select(User))).all() == []
        # Starting again shows the language question, then the consent screen again.
        sent = await bot.say(LEARNER, "/start")
        assert "Choose your language." in "\n".join(c.text for c in sent)


async def test_the_menu_offers_an_interrupted_intake(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    async with running_bot(runtime, telegram) as bot:
        await onboard(bot)
        await bot.press(LEARNER, "I am a volunteer")
        sent = await bot.say(LEARNER, "/cancel")  # stopped halfway
        assert sent[-1].labels[0] == "Continue your intake"
        sent = await bot.press(LEARNER, "Continue your intake")
        assert sent[-1].text.startswith("(2/14)")


async def test_a_coordinator_link_through_telegram(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    from flows.coach import create_invite

    async with runtime.uow() as uow:
        code = await create_invite(uow, now=runtime.engine.clock(), role="coordinator")
        await uow.commit()
    async with running_bot(runtime, telegram) as bot:
        await bot.say(60, f"/start coach_{code}")
        await bot.press(60, "English")
        sent = await bot.say(60, "/stats")  # before agreeing: the consent comes first
        assert sent[0].text == "Before you go on, please read this and agree."
        await bot.press(60, "Yes, I agree")
        sent = await bot.say(60, "Mia")
        assert sent[0].text == "Thank you, Mia. Let us go on."
        assert "There are no groups yet." in "\n".join(c.text for c in sent)
        commands = [c for c in telegram.calls if c.method == "setMyCommands"]
        assert any("stats" in json.dumps(c.params) for c in commands)
