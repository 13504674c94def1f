"""Telegram's first screen (descriptions per language) and edited messages, on the real
Application against the fake Bot API."""

from __future__ import annotations

from typing import Any

from bot.runtime import Runtime
from tests.fake_telegram import FakeTelegram, running_bot
from tests.fakes import FakeClock


async def test_descriptions_are_set_in_every_language(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    async with running_bot(runtime, telegram):
        pass
    for method, limit in (("setMyDescription", 512), ("setMyShortDescription", 120)):
        texts: dict[Any, str] = {
            c.params.get("language_code"): str(
                c.params.get("description") or c.params.get("short_description")
            )
            for c in telegram.calls
            if c.method == method
        }
        assert set(texts) == {None, "nl", "fr", "en", "ar", "tr"}
        assert all(0 < len(text) <= limit for text in texts.values())
        assert len(set(texts.values())) == 5  # the default is the default language's
        assert texts[None] == texts[runtime.settings.default_language]
    short = {
        c.params.get("language_code"): c.params["short_description"]
        for c in telegram.calls
        if c.method == "setMyShortDescription"
    }
    assert short["nl"] == "Eén kleine leerstap per week, in je eigen taal."
    assert short["en"] == "One small learning step a week, in your language."


async def test_an_edited_message_is_answered_in_the_learners_language(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    async with running_bot(runtime, telegram) as bot:
        await bot.say(42, "/start")
        await bot.press(42, "Français")
        edited = telegram.message(42, text="Samira")
        edited["edited_message"] = edited.pop("message")
        edited["edited_message"]["edit_date"] = 1_700_000_100
        sent = await bot.feed(edited)
    assert len(sent) == 1
    assert sent[0].text.startswith("J'ai vu que tu as modifié un message.")
    assert "« Retour" in sent[0].text


async def test_a_coach_menu_follows_the_new_language(
    runtime: Runtime, telegram: FakeTelegram, clock: FakeClock
) -> None:
    from tests.bot.test_coach_telegram import COACH, become_coach, invite

    code = await invite(runtime, clock)
    async with running_bot(runtime, telegram) as bot:
        await become_coach(bot, COACH, code, "Els")
        before = len(telegram.calls)
        await bot.say(COACH, "/language")
        sent = await bot.press(COACH, "Français")
    french = runtime.engine.translator("fr")
    assert sent[0].text == french._("I will speak English with you from now on.")
    (menu,) = [c for c in telegram.calls[before:] if c.method == "setMyCommands"]
    assert menu.params["scope"] == {"type": "chat", "chat_id": COACH}
    described = {c["command"]: c["description"] for c in menu.params["commands"]}
    assert "atrisk" in described and described["language"] == "Changer de langue"


async def test_a_learner_changing_language_gets_no_chat_menu(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    async with running_bot(runtime, telegram) as bot:
        await bot.say(42, "/start")
        await bot.press(42, "English")
        before = len(telegram.calls)
        await bot.say(42, "/language fr")
    assert not [c for c in telegram.calls[before:] if c.method == "setMyCommands"]
