"""A changed message (Telegram's edited_message): while it is the last answer and nothing
happened since, the new text replaces the answer; otherwise the learner is told how to correct."""

from __future__ import annotations

from pathlib import Path

from flows.messages import Event
from tests.fakes import ChatDriver, FakeClock, FakeUnitOfWork, fake_engine

FIRST = "I talked with the mother in a quiet room and listened to her story first."
CHANGED = "I talked with the father in a quiet room and listened to his story first."
NEXT = "My task was to calm him down and to find out what worried him about his son."


async def reflecting(tmp_path: Path, uow: FakeUnitOfWork) -> ChatDriver:
    engine, _ = fake_engine(tmp_path, uow=uow, clock=FakeClock())
    chat = ChatDriver(engine)
    await chat.command("start")
    await chat.press("English")
    await chat.press("Yes, I agree")
    await chat.text("Samira")
    await chat.command("reflect")
    return chat


async def say(chat: ChatDriver, text: str, ref: str) -> list[str]:
    return [r.text for r in await chat.send(Event(kind="text", text=text, ref=ref))]


async def edit(chat: ChatDriver, text: str, ref: str) -> list[str]:
    return [r.text for r in await chat.send(Event(kind="edit", text=text, ref=ref))]


async def test_an_edited_last_answer_replaces_it(tmp_path: Path) -> None:
    uow = FakeUnitOfWork()
    chat = await reflecting(tmp_path, uow)
    await say(chat, FIRST, "m1")
    assert "T · Task (Taak) (2/5)" in chat.said
    texts = await edit(chat, CHANGED, "m1")
    assert texts[0] == "I saw your change. I use the new answer."
    assert "T · Task (Taak) (2/5)" in chat.said  # the next question again
    (reflection,) = uow.reflections.rows
    assert reflection.situation == CHANGED
    # Edited twice: still the last answer, so the newest text wins.
    await edit(chat, FIRST, "m1")
    assert reflection.situation == FIRST
    # Back still returns to the situation question.
    await chat.press("« Back")
    assert "S · Situation (Situatie) (1/5)" in chat.said


async def test_an_edit_after_the_next_answer_is_not_applied(tmp_path: Path) -> None:
    uow = FakeUnitOfWork()
    chat = await reflecting(tmp_path, uow)
    await say(chat, FIRST, "m1")
    await say(chat, NEXT, "m2")
    texts = await edit(chat, CHANGED, "m1")
    assert texts == [
        "I saw that you changed a message. I do not use changes. To correct an answer, "
        "send it again as a new message, or use « Back."
    ]
    (reflection,) = uow.reflections.rows
    assert reflection.situation == FIRST and reflection.task == NEXT
    # The edit changed nothing: the next answer still goes to the third step.
    await say(chat, NEXT, "m3")
    assert reflection.action == NEXT


async def test_an_edit_of_a_message_the_flow_did_not_take_is_only_answered(
    tmp_path: Path,
) -> None:
    uow = FakeUnitOfWork()
    chat = await reflecting(tmp_path, uow)
    await chat.command("cancel")
    texts = await edit(chat, CHANGED, "m9")
    assert texts[0].startswith("I saw that you changed a message.")
    assert not any(r.situation == CHANGED for r in uow.reflections.rows)
