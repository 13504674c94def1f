"""The real python-telegram-bot Application on a fake Bot API: onboarding in two languages,
a restart halfway, updates handled once, and kind answers to bad input."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from bot.runtime import Runtime
from bot.telegram import poll
from storage.models import ProcessedUpdate, User
from tests.fake_telegram import FakeTelegram, running_bot


async def test_commands_are_registered_per_language(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    async with running_bot(runtime, telegram):
        pass
    registered = {
        c.params.get("language_code"): c.params["commands"]
        for c in telegram.calls
        if c.method == "setMyCommands"
    }
    assert set(registered) == {None, "nl", "fr", "en", "ar", "tr"}
    french = {c["command"]: c["description"] for c in registered["fr"]}
    assert french["language"] == "Changer de langue"


async def test_onboarding_in_french_survives_a_restart(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    async with running_bot(runtime, telegram) as bot:
        sent = await bot.say(42, "/start")
        assert "Choisis ta langue." in sent[0].text
        await bot.press(42, "Français")
        assert bot.last_buttons[42][0]["callback_data"] != "Oui, d'accord"
    # A new Application on the same database continues where the learner was.
    again = Runtime.create(runtime.settings, clock=runtime.engine.clock)
    async with running_bot(again, telegram) as bot:
        bot.last_buttons = {42: telegram.sent()[-1].buttons}
        sent = await bot.press(42, "Oui, d'accord")
        assert sent[-1].text == "Comment veux-tu que je t'appelle ?"
        sent = await bot.say(42, "Fatima")
        assert "Enchanté, Fatima !" in sent[0].text
        # The intake takes over (flows/intake.py).
        assert sent[-1].text == "(1/14) Qu'est-ce qui te correspond le mieux ?"
    async with runtime.sessionmaker() as session:
        user = (await session.scalars(select(User))).one()
    assert (user.language, user.display_name, user.consent_version) == ("fr", "Fatima", 1)


async def test_onboarding_in_arabic_isolates_the_name(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    async with running_bot(runtime, telegram) as bot:
        await bot.say(7, "/start")
        await bot.press(7, "العربية")
        await bot.press(7, "نعم، أوافق")
        sent = await bot.say(7, "Samira")
        assert "\u2068Samira\u2069" in sent[0].text


async def test_an_update_is_processed_once(runtime: Runtime, telegram: FakeTelegram) -> None:
    async with running_bot(runtime, telegram) as bot:
        update = telegram.text(5, "/start")
        first = await bot.feed(update)
        second = await bot.feed(update)
    assert first and not second
    async with runtime.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedUpdate)) == 1


async def test_bad_input_gets_kind_localized_answers(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    async with running_bot(runtime, telegram) as bot:
        await bot.say(9, "/start")
        await bot.press(9, "English")
        stale = telegram.press(9, "1:lang:nl")
        await bot.press(9, "Yes, I agree")
        sent = await bot.say(9, "y" * 5000)
        # One message: the hint above the question it repeats.
        assert len(sent) == 1 and "too long" in sent[0].text
        assert sent[0].text.endswith("\n\nWhat name should I call you?")
        sent = await bot.feed(
            telegram.message(
                9,
                sticker={
                    "file_id": "s",
                    "file_unique_id": "s",
                    "type": "regular",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                },
            )
        )
        assert sent[0].text.startswith("I cannot use this kind of message.")
        sent = await bot.say(9, "/nonsense")
        assert sent[0].text.startswith("I do not know that command.")
        sent = await bot.feed(stale)
        assert sent[0].text == "This question is closed."
        assert sent[-1].text == "What name should I call you?"
        answered = [c for c in telegram.calls if c.method == "answerCallbackQuery"]
        assert answered
        sent = await bot.say(9, "/start", chat_type="group", language="fr")
        assert sent[0].text == "Je parle seulement en conversation privée. Écris-moi directement."
    async with runtime.sessionmaker() as session:
        users = (await session.scalars(select(User))).all()
    assert [u.external_id for u in users] == ["9"]


async def test_long_polling_delivers_updates(runtime: Runtime, telegram: FakeTelegram) -> None:
    async with running_bot(runtime, telegram) as bot:
        await bot.app.start()
        stop = asyncio.Event()
        polling = asyncio.create_task(poll(bot.app, stop))
        telegram.queue(telegram.text(11, "/start"))
        for _ in range(100):
            if telegram.sent():
                break
            await asyncio.sleep(0.02)
        stop.set()
        await polling
        await bot.app.stop()
    assert "Kies je taal." in telegram.sent()[0].text


async def test_errors_are_logged_and_the_user_told_kindly(
    runtime: Runtime,
    telegram: FakeTelegram,
    monkeypatch,
    caplog,  # type: ignore[no-untyped-def]
) -> None:
    async def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    async with running_bot(runtime, telegram) as bot:
        await bot.say(3, "/start")
        await bot.press(3, "English")
        monkeypatch.setattr(type(runtime.engine), "dispatch", broken)
        sent = await bot.say(3, "hello")
    assert "What you saved is safe." in sent[-1].text
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.telegram"]
    assert any("RuntimeError at tests/bot/test_telegram.py" in line for line in logged)
    assert not any("boom" in line for line in logged)  # an error's message may quote a learner


async def test_in_place_changes_of_flow_data_are_stored(runtime: Runtime) -> None:
    from flows.engine import Context, Flow
    from flows.messages import Event

    class Counter(Flow):
        name = "counter"
        commands = {"count": "count"}  # noqa: RUF012

        async def start(self, ctx: Context, command: str, args: str) -> None:
            await ctx.begin(self, "step", data={"seen": []})

        async def ask_step(self, ctx: Context) -> None:
            ctx.say(str(ctx.data["seen"]))

        async def on_step(self, ctx: Context, event: Event) -> None:
            ctx.data["seen"].append(event.text)  # in place, on purpose
            await ctx.repeat()

    runtime.engine.flows["counter"] = Counter()
    runtime.engine.commands["count"] = runtime.engine.flows["counter"]
    send = runtime.engine.handle
    from storage.models import User as U

    async with runtime.sessionmaker() as session:
        session.add(U(channel="t", external_id="1", language="en", consent_version=1))
        await session.commit()
    await send(channel="t", external_id="1", event=Event(kind="command", command="count"))
    await send(channel="t", external_id="1", event=Event(kind="text", text="a"))
    replies = await send(channel="t", external_id="1", event=Event(kind="text", text="b"))
    assert replies[-1].text == "['a', 'b']"
