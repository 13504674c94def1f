"""Onboarding, /language, /help, /cancel and the engine's guards, on the fake unit of work."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.onboarding import CONSENT_VERSION
from tests.fakes import ChatDriver, FakeClock, FakeUnitOfWork, fake_engine


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def chat(tmp_path: Path, uow: FakeUnitOfWork) -> ChatDriver:
    engine, _ = fake_engine(tmp_path, uow=uow)
    return ChatDriver(engine)


def only_user(uow: FakeUnitOfWork):  # type: ignore[no-untyped-def]
    (user,) = uow.users.rows.values()
    return user


async def onboard(chat: ChatDriver, language: str = "Nederlands", name: str = "Samira") -> None:
    await chat.command("start")
    await chat.press(language)
    await chat.press_data(chat.last[-1].flat_buttons[0].data)  # agree
    await chat.text(name)


async def test_start_asks_language_in_every_language(chat: ChatDriver) -> None:
    await chat.command("start")
    assert "Kies je taal." in chat.said
    assert "Choisis ta langue." in chat.said
    assert "الرجاء اختيار لغتك." in chat.said
    labels = [b.label for b in chat.last[-1].flat_buttons]
    assert labels == ["Nederlands", "Français", "English", "العربية", "Türkçe"]


async def test_whole_onboarding_in_dutch_stores_consent_and_name(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await chat.command("start")
    await chat.press("Nederlands")
    assert "Welkom bij Opstap!" in chat.said
    assert "Ga je akkoord?" in chat.said
    await chat.press("Ja, akkoord")
    assert chat.texts == ["Hoe mag ik je noemen?"]
    await chat.text("  Samira   B. ")
    assert "Leuk je te leren kennen, Samira B.!" in chat.said
    assert chat.texts[-1] == "(1/14) Wat past het best bij jou?"  # the intake takes over
    user = only_user(uow)
    assert user.language == "nl" and user.language_chosen
    assert user.consent_version == CONSENT_VERSION
    assert user.consent_at is not None
    assert user.display_name == "Samira B."
    assert user.status == "active"
    assert uow.commits == 4


async def test_declining_stores_only_the_refusal(chat: ChatDriver, uow: FakeUnitOfWork) -> None:
    await chat.command("start")
    await chat.press("Français")
    await chat.press("Non, merci")
    assert "Je n'ai rien gardé sur toi, sauf ce choix." in chat.said
    user = only_user(uow)
    assert user.consent_version is None and user.consent_declined_at is not None
    assert user.display_name is None
    assert uow.conversations.rows[user.id].flow is None
    await chat.text("hallo?")
    assert chat.texts[-1].startswith("Choisis ta langue.") is False
    assert "Bienvenue sur Opstap !" in chat.said  # starts again, politely


async def test_stale_button_is_refused_and_question_repeated(chat: ChatDriver) -> None:
    await chat.command("start")
    old_dutch = chat.button("Nederlands").data
    await chat.press("English")
    await chat.press_data(old_dutch)
    assert chat.texts[0] == "This question is closed."
    assert "Do you agree?" in chat.texts[-1]


async def test_button_data_is_small_and_free_of_text(chat: ChatDriver) -> None:
    await chat.command("start")
    for button in chat.last[-1].flat_buttons:
        assert len(button.data.encode()) <= 64
        assert button.label not in button.data


async def test_back_returns_to_previous_question(chat: ChatDriver) -> None:
    await chat.command("start")
    await chat.press("English")
    await chat.press("Yes, I agree")
    await chat.press("« Back")
    assert "Do you agree?" in chat.said


async def test_cancel_stops_and_start_resumes_nothing_lost(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await onboard(chat)
    await chat.command("language")
    await chat.command("cancel")
    assert "Gestopt. Wat je eerder bewaard hebt, blijft bewaard." in chat.said
    assert only_user(uow).display_name == "Samira"
    await chat.command("cancel")
    assert "Er is niets om te stoppen." in chat.said


async def test_unknown_command_long_text_and_sticker_get_kind_answers(chat: ChatDriver) -> None:
    await chat.command("start")
    await chat.press("English")
    await chat.press("Yes, I agree")
    await chat.command("frobnicate")
    assert chat.texts[0] == "I do not know that command. Send /help to see what I can do."
    assert chat.texts[-1] == "What name should I call you?"
    await chat.text("x" * 4001)
    assert chat.texts == [
        "That message is too long for me. Please keep it under 4,000 characters, or send a "
        "voice note.\n\nWhat name should I call you?"
    ]
    await chat.send(__import__("flows.messages").messages.Event(kind="unsupported"))
    assert chat.texts[0].startswith("I cannot use this kind of message.")
    await chat.text("Jo")
    assert "Nice to meet you, Jo!" in chat.said


async def test_too_long_name_is_refused(chat: ChatDriver) -> None:
    await chat.command("start")
    await chat.press("English")
    await chat.press("Yes, I agree")
    await chat.text("A" * 41)
    assert "at most 40 characters" in chat.texts[0]


async def test_language_change_at_any_moment(chat: ChatDriver, uow: FakeUnitOfWork) -> None:
    await onboard(chat)
    await chat.command("language")
    await chat.press("Türkçe")
    assert "Bundan sonra seninle Türkçe konuşacağım." in chat.said
    assert only_user(uow).language == "tr"
    await chat.command("language", "ar")
    assert "من الآن سأتحدث معك بالعربية." in chat.said


async def test_help_lists_commands_in_the_learners_language(chat: ChatDriver) -> None:
    await onboard(chat, language="Français")
    await chat.command("help")
    assert "Voici ce que je peux faire pour toi :" in chat.said
    assert "/language - Changer de langue" in chat.said


async def test_join_code_from_deep_link_is_kept(chat: ChatDriver, uow: FakeUnitOfWork) -> None:
    await chat.command("start", "join_ABC123")
    assert only_user(uow).pending_join_code == "ABC123"


async def test_help_works_before_consent_and_text_leads_to_onboarding(chat: ChatDriver) -> None:
    await chat.command("help")
    assert "Dit kan ik voor je doen:" in chat.said
    await chat.text("hello")
    assert "Kies je taal." in chat.said


async def test_start_again_after_onboarding_says_welcome_back(chat: ChatDriver) -> None:
    await onboard(chat)
    await chat.command("start")
    assert chat.texts[0] == "Welkom terug, Samira!"


async def test_terminal_language_preset_skips_language_question(tmp_path: Path) -> None:
    engine, _ = fake_engine(tmp_path, clock=FakeClock())
    chat = ChatDriver(engine, language="fr")
    await chat.command("start")
    assert "Bienvenue sur Opstap !" in chat.said


async def test_help_in_arabic_keeps_right_to_left_lines(chat: ChatDriver) -> None:
    await onboard(chat, language="العربية")
    await chat.command("help")
    line = next(x for x in chat.said.splitlines() if "language" in x)
    assert line.startswith("\u2068/language\u2069 - ")


async def test_language_with_a_code_mid_flow_asks_the_same_question_again(
    chat: ChatDriver,
) -> None:
    await onboard(chat)
    assert chat.texts[-1] == "(1/14) Wat past het best bij jou?"
    await chat.command("language", "fr")
    assert chat.texts == [
        "À partir de maintenant, je te parle en français.",
        "(1/14) Qu'est-ce qui te correspond le mieux ?",
    ]
    await chat.press("Je suis bénévole")  # the flow goes on
    assert chat.texts[-1] == "(2/14) Dans quel domaine travailles-tu ?"


async def test_control_characters_never_reach_storage(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await chat.command("start")
    await chat.press("English")
    await chat.press("Yes, I agree")
    await chat.text("Sa\x00mi\x07ra\u200f")
    assert only_user(uow).display_name == "Samira\u200f"  # the right-to-left mark is kept


async def test_nul_characters_are_dropped_from_text(chat: ChatDriver, uow: FakeUnitOfWork) -> None:
    """PostgreSQL cannot store NUL in text; it means nothing to a person either."""
    await chat.command("start")
    await chat.press("English")
    await chat.press("Yes, I agree")
    await chat.text("Sa\x00mira")
    assert only_user(uow).display_name == "Samira"
