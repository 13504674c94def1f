"""STARR reflections on the fake unit of work: steps, examples, follow-ups, voice, drafts,
themes and competences, the list with paging, editing, deleting, evidence hand-over."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import ClassVar

import pytest

from flows import coachview, default_flows, signals
from flows.engine import Context, Flow
from flows.goal_content import STARR_STEPS, goal_library, starr_content
from flows.i18n import LANGUAGES
from flows.reflect import is_short
from storage.models import Feedback, Goal, Membership, Reflection
from tests.fakes import ChatDriver, FakeClock, FakeUnitOfWork, fake_engine

OGG = b"OggS\x00\x02" + b"\x00" * 40
PDF = b"%PDF-1.4\n" + b"0" * 40
LONG = "I talked with the mother in a quiet room and listened to her story first."


class FakeEvidence(Flow):
    """Stands in for the evidence flow of another issue: records how it was started."""

    name = "evidence"
    commands: ClassVar = {"evidence": "Evidence"}
    started: ClassVar[list[str]] = []

    async def start(self, ctx: Context, command: str, args: str) -> None:
        self.started.append(args)
        ctx.say(f"evidence {args}")
        await ctx.finish(menu=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


async def onboarded(
    tmp_path: Path, uow: FakeUnitOfWork, clock: FakeClock, *, evidence: bool = False
) -> ChatDriver:
    # The real evidence flow is left out: these tests cover the hand-over on this side.
    flows = [f for f in default_flows() if f.name != "evidence"]
    flows += [FakeEvidence()] if evidence else []
    engine, _ = fake_engine(tmp_path, uow=uow, clock=clock, flows=flows)
    chat = ChatDriver(engine)
    await chat.command("start")
    await chat.press("English")
    await chat.press("Yes, I agree")
    await chat.text("Samira")
    return chat


@pytest.fixture
async def chat(tmp_path: Path, uow: FakeUnitOfWork, clock: FakeClock) -> ChatDriver:
    return await onboarded(tmp_path, uow, clock)


async def write_all(chat: ChatDriver, *, save: bool = True) -> None:
    """Answers every step at length, picks a theme and a competence, and saves."""
    for _ in STARR_STEPS:
        await chat.text(LONG)
    await chat.press("Guiding")
    await chat.press("Done")
    await chat.press("1")
    await chat.press("Done")
    if save:
        await chat.press("Save")


async def test_a_whole_reflection_in_text(chat: ChatDriver, uow: FakeUnitOfWork) -> None:
    await chat.command("reflect")
    assert "five short steps" in chat.said
    assert "S · Situation (Situatie) (1/5)" in chat.said
    await chat.press("Show an example")
    assert "An example: Last Tuesday a mother came" in chat.said
    assert "S · Situation (Situatie) (1/5)" in chat.said
    await chat.text(LONG)
    assert "T · Task (Taak) (2/5)" in chat.said
    await chat.text(LONG)
    await chat.text(LONG)
    await chat.text(LONG)
    assert "R · Reflection (Reflectie) (5/5)" in chat.said
    labels = [b.label for b in chat.last[-1].flat_buttons]
    assert labels[:3] == [
        "What went well?",
        "What would you do differently?",
        "What did you learn about yourself?",
    ]
    await chat.press("What went well?")
    await chat.text(LONG)
    assert "Which themes does this show?" in chat.said
    await chat.press("Done")
    assert "Please choose at least one theme." in chat.said
    await chat.press("Guiding")
    assert chat.last[-1].replace
    await chat.press("Done")
    assert "1. I can name the target group of my organisation." in chat.said
    await chat.press("2")
    await chat.press("Done")
    assert "Your STARR reflection:" in chat.said
    assert "R · Reflection (Reflectie) (What went well?):" in chat.said
    await chat.press("Save")
    assert "You have written 1 reflection." in chat.said
    (reflection,) = uow.reflections.rows
    assert reflection.status == "done" and reflection.themes == ["guiding"]
    assert reflection.competences == ["guiding.strengths"]
    assert reflection.title and reflection.title.startswith("I talked with the mother")
    assert signals.REFLECTION_SAVED in [s.kind for s in uow.signals.rows]
    await chat.press("Yes, use it as evidence")
    assert "You can use it as evidence later." in chat.said


async def test_the_summary_can_be_left_undecided(chat: ChatDriver, uow: FakeUnitOfWork) -> None:
    """Save, change or delete are not the only ways on from the summary: Back returns to the
    competences, and from a summary with nothing before it "Not now" keeps the draft (a
    generated walk found a summary with neither)."""
    await chat.command("reflect")
    await write_all(chat, save=False)
    assert "Your STARR reflection:" in chat.said
    await chat.press("« Back")
    assert "Which competences did you use?" in chat.said
    await chat.press("Done")
    # Changing a step comes back to the summary with nothing before it.
    await chat.press("Change a step")
    await chat.press(chat.last[-1].flat_buttons[0].label)
    await chat.text(LONG)
    assert "Your STARR reflection:" in chat.said
    labels = [b.label for b in chat.last[-1].flat_buttons]
    assert "« Back" in labels or "Not now" in labels
    await chat.press("« Back" if "« Back" in labels else "Not now")
    (reflection,) = uow.reflections.rows
    assert reflection.status == "draft"


async def test_reflect_with_reflections_written_offers_not_now(chat: ChatDriver) -> None:
    """Once a reflection is saved, /reflect asks "new or the list?"; "Not now" leaves it."""
    await chat.command("reflect")
    await write_all(chat)
    await chat.command("reflect")
    assert "You have written 1 reflection." in chat.said
    await chat.press("Not now")
    assert "What would you like to do?" in chat.said
    await chat.command("reflect")
    await chat.press("My reflections")
    assert "Your reflections (page 1 of 1):" in chat.said
    await chat.press("« Back")  # to "new or the list?"
    assert "You have written 1 reflection." in chat.said


def test_a_full_sentence_in_few_words_is_not_short() -> None:
    # Turkish says a lot in few words: seven words here, a whole answer.
    assert not is_short("Benim görevim anneyi sakinleştirmek ve sorunu anlamaktı.")
    assert not is_short("ذهبت معها إلى غرفة هادئة واستمعت إليها أولا")
    assert is_short("Kreşte bir anne")
    assert is_short("A team meeting.")
    assert is_short("ok ok ok ok ok ok")  # six words, but next to nothing said


async def test_short_answer_gets_one_follow_up_that_can_be_skipped(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await chat.command("reflect")
    await chat.text("A team meeting.")
    assert chat.texts == ["Can you tell a bit more? Who was there? What did you say?"]
    await chat.text("My team leader and three colleagues were there.")
    assert "T · Task (Taak) (2/5)" in chat.said
    await chat.text("Lead it.")
    await chat.press("Skip")
    assert "A · Action (Actie) (3/5)" in chat.said
    (reflection,) = uow.reflections.rows
    assert reflection.situation == "A team meeting."
    assert reflection.extra["followups"] == {
        "situation": "My team leader and three colleagues were there."
    }


async def test_voice_answers_are_kept_with_their_duration(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await chat.command("reflect")
    await chat.file("voice", OGG, duration=75)
    assert "T · Task (Taak) (2/5)" in chat.said  # no follow-up after a voice note
    (reflection,) = uow.reflections.rows
    (upload,) = uow.uploads.rows
    assert reflection.extra["voice"] == {"situation": upload.id}
    assert upload.duration == 75 and upload.kind == "voice"
    await chat.file("photo", b"not audio at all")
    assert "Please type your answer or send a voice note." in chat.said
    await chat.file("audio", PDF)
    assert "I cannot keep this type of file." in chat.said
    assert len(uow.uploads.rows) == 1
    for _ in range(4):
        await chat.text(LONG)
    await chat.press("Reflection")
    await chat.press("Done")
    await chat.press("Done")
    assert "🎤 voice note (1:15)" in chat.said


async def test_draft_is_kept_and_offered_again(
    chat: ChatDriver, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    await chat.command("reflect")
    await chat.text(LONG)
    await chat.press("Stop for now, keep as draft")
    assert "kept as a draft" in chat.said
    clock.advance(days=2)
    await chat.command("reflect")
    assert "You have an unfinished reflection from Mar 3, 2026." in chat.said
    await chat.press("Continue")
    assert "T · Task (Taak) (2/5)" in chat.said
    await chat.command("reflect")
    await chat.press("Start over")
    assert "S · Situation (Situatie) (1/5)" in chat.said
    assert uow.reflections.rows[0].situation is None
    await chat.command("reflect")
    await chat.press("Delete")
    await chat.press("Yes, delete it")
    assert "The reflection is deleted." in chat.said
    assert len(uow.reflections.rows) == 1 and uow.reflections.rows[0].situation is None


async def test_list_pages_view_edit_and_delete(
    chat: ChatDriver, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    user_id = next(iter(uow.users.rows))
    for number in range(7):
        await uow.reflections.add(
            Reflection(
                learner_id=user_id,
                status="done",
                title=f"Story {number}",
                situation=f"Story {number}",
                themes=["guiding"],
                created_at=clock.now - timedelta(days=10 - number),
            )
        )
    await uow.feedback.add(
        Feedback(
            learner_id=user_id, coach_id=None, item_type="reflection", item_id=7, text="Well seen!"
        )
    )
    await chat.command("reflect")
    assert "You have written 7 reflections." in chat.said
    await chat.press("My reflections")
    assert "page 1 of 2" in chat.said
    labels = [b.label for b in chat.last[-1].flat_buttons]
    assert sum("Story" in label for label in labels) == 5 and "Story 6" in labels[0]
    await chat.press("Next »")
    assert "page 2 of 2" in chat.said
    assert [b.label for b in chat.last[-1].flat_buttons if "Story" in b.label][-1].endswith(
        "Story 0"
    )
    await chat.press("« Previous")
    assert chat.button("Story 6").label.startswith("💬 ")
    await chat.press("Story 6")
    assert "Your coach: Well seen!" in chat.said
    assert uow.feedback.rows[0].seen_at == clock.now
    await chat.press("Change a step")
    await chat.press("T · Task")
    assert "Stop for now, keep as draft" not in [b.label for b in chat.last[-1].flat_buttons]
    await chat.text(LONG)
    assert "Story 6" in chat.said and LONG in chat.said  # back to the view
    assert uow.reflections.rows[6].task == LONG
    await chat.press("Delete")
    await chat.press("No, keep it")
    assert len(uow.reflections.rows) == 7
    await chat.press("Delete")
    await chat.press("Yes, delete it")
    assert "The reflection is deleted." in chat.said and "page 1 of 2" in chat.said
    assert len(uow.reflections.rows) == 6


async def test_evidence_hand_over_both_ways(
    tmp_path: Path, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    FakeEvidence.started.clear()
    chat = await onboarded(tmp_path, uow, clock, evidence=True)
    await chat.command("reflect")
    await write_all(chat)
    await chat.press("Yes, use it as evidence")
    first = uow.reflections.rows[0]
    assert FakeEvidence.started == [f"reflection:{first.id}"]
    await chat.command("reflect", "evidence:42")
    await write_all(chat)
    second = uow.reflections.rows[1]
    assert second.extra["evidence_id"] == 42 and second.status == "done"
    assert FakeEvidence.started[-1] == f"linked:{second.id}"


async def test_coach_sections_show_goals_and_reflections_when_shared(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await chat.command("reflect")
    await write_all(chat)
    engine = chat.engine
    learner = next(iter(uow.users.rows.values()))
    coach_chat = ChatDriver(engine, user="coach")
    await coach_chat.command("start")
    await coach_chat.press("Nederlands")
    coach = next(u for u in uow.users.rows.values() if u.external_id == "coach")
    conversation = await uow.conversations.get(coach.id)
    assert conversation is not None
    ctx = Context(
        engine=engine, uow=uow, user=coach, conversation=conversation, now=engine.clock()
    )
    member = Membership(group_id=1, learner_id=learner.id, share_reflections=True)
    sections = await coachview.sections_for(ctx, learner, member)
    titles = [s.title for s in sections]
    assert "STARR-reflecties" in titles and "Wekelijkse leerdoelen" not in titles
    (section,) = [s for s in sections if s.share == "reflections"]
    assert section.items[0].item_type == "reflection"
    assert "Begeleiden" in "\n".join(section.lines)
    await uow.goals.add(
        Goal(learner_id=learner.id, week="2026-W10", theme_id="planning", text="Agenda bijhouden")
    )
    member.share_goals = True
    (goals,) = [
        s for s in await coachview.sections_for(ctx, learner, member) if s.share == "goals"
    ]
    assert goals.title == "Wekelijkse leerdoelen"
    assert "week van 2 mrt 2026 · Planning · Agenda bijhouden (open)" in goals.lines
    assert goals.items[0].item_type == "goal"


def test_content_is_complete_in_every_language() -> None:
    for theme in goal_library().themes.values():
        assert len(theme.examples) >= 5
        for example in theme.examples:
            for language in LANGUAGES:
                text = example.text.get(language)
                assert text.strip() and len(text) <= 100, text
        assert all(theme.tip.get(language).strip() for language in LANGUAGES)
    for step in STARR_STEPS:
        assert all(starr_content().examples[step].get(lang).strip() for lang in LANGUAGES)


async def test_back_through_follow_ups_lands_on_each_question(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    # Issue 12: Back to a follow-up once crashed with KeyError 'part'.
    await chat.command("reflect")
    await chat.text("A team meeting.")
    situation_more = chat.said
    await chat.text("My team leader and three colleagues were there.")
    await chat.text("Lead it.")
    task_more = chat.said
    assert task_more.startswith("What exactly") or "?" in task_more
    await chat.text("I had to lead the meeting for the first time, with an agenda.")
    assert "A · Action (Actie) (3/5)" in chat.said
    await chat.press("« Back")
    assert chat.said == task_more
    await chat.press("« Back")
    assert "T · Task (Taak) (2/5)" in chat.said
    await chat.press("« Back")
    assert chat.said == situation_more
    await chat.press("« Back")
    assert "S · Situation (Situatie) (1/5)" in chat.said
    (reflection,) = uow.reflections.rows
    assert reflection.extra["followups"]["situation"].startswith("My team leader")


async def test_back_after_continuing_a_draft_goes_to_the_step_before(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await chat.command("reflect")
    await chat.text(LONG)
    await chat.text(LONG)
    await chat.command("help")  # interrupted at Action
    await chat.command("reflect")
    await chat.press("Continue")
    assert "A · Action (Actie) (3/5)" in chat.said
    await chat.press("« Back")
    assert "T · Task (Taak) (2/5)" in chat.said
    await chat.press("« Back")
    assert "S · Situation (Situatie) (1/5)" in chat.said
