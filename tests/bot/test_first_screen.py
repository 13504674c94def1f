"""Telegram's first screen (descriptions per language) and edited messages, on the real
Application against the fake Bot API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

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


async def test_a_new_user_is_asked_in_the_language_of_their_telegram(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    async with running_bot(runtime, telegram) as bot:
        sent = await bot.say(42, "/start", language="fr-BE")
        wrong = await bot.say(42, "bonjour", language="fr-BE")
        german = await bot.say(43, "/start", language="de")
    # The guess comes first, in the question and on the buttons; all five stay.
    (question,) = sent
    assert question.text.splitlines()[0] == "Choisis ta langue."
    assert question.labels[0] == "Français" and len(question.labels) == 5
    assert wrong[0].text.startswith(
        runtime.engine.translator("fr")._("Please tap one of the languages.")
    )
    (unknown,) = german
    default = runtime.engine.translator(runtime.settings.default_language)
    assert unknown.text.splitlines()[0] == default._("Choose your language.")
    # Only a first guess: the learner still chooses, and the guess is not stored as a choice.
    async with runtime.engine.uow_factory() as uow:
        user = await uow.users.by_external(channel="telegram", external_id="42")
        assert user is not None and user.language == "fr" and not user.language_chosen


async def test_a_chosen_language_wins_over_the_telegram_language(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    async with running_bot(runtime, telegram) as bot:
        await bot.say(42, "/start", language="fr")
        await bot.press(42, "Nederlands")
        sent = await bot.say(42, "what now?", language="fr")
    assert sent and "Nederlands" not in sent[-1].labels
    assert sent[-1].text != runtime.engine.translator("fr")._("Choose your language.")
    async with runtime.engine.uow_factory() as uow:
        user = await uow.users.by_external(channel="telegram", external_id="42")
        assert user is not None and user.language == "nl" and user.language_chosen


async def test_a_long_export_shows_sending_a_file_until_it_is_sent(
    runtime: Runtime, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.telegram
    import flows.privacy

    real = flows.privacy.export_learner

    async def slow(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.2)  # a big ZIP: the sign must be renewed meanwhile
        return await real(*args, **kwargs)

    monkeypatch.setattr(flows.privacy, "export_learner", slow)
    monkeypatch.setattr(bot.telegram, "CHAT_ACTION_RENEW_SECONDS", 0.05)
    async with running_bot(runtime, telegram) as harness:
        await harness.say(42, "/start")
        await harness.press(42, "English")
        start = len(telegram.calls)
        await harness.say(42, "/mydata")
        await asyncio.sleep(0.1)  # a renewal left running would show up here
    calls = [(c.method, c.params) for c in telegram.calls[start:]]
    methods = [method for method, _ in calls]
    document = methods.index("sendDocument")
    actions = [params for method, params in calls if method == "sendChatAction"]
    assert len(actions) >= 2
    assert all(a["action"] == "upload_document" and int(a["chat_id"]) == 42 for a in actions)
    assert methods.index("sendChatAction") < document
    assert "sendChatAction" not in methods[document:]


async def test_a_failing_chat_action_does_not_stop_the_export(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    telegram.fail("sendChatAction", 400, "Bad Request: chat not found")
    async with running_bot(runtime, telegram) as harness:
        await harness.say(42, "/start")
        await harness.press(42, "English")
        sent = await harness.say(42, "/mydata")
    assert sent[0].method == "sendDocument"  # then the question the learner was at
