"""The weekly goal, the check-in and the look back, on the fake unit of work."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows import coachview, signals
from flows.goals import previous_week, week_of
from storage.models import Feedback, Goal, Group, Membership, ThemeLevel, User
from tests.fakes import ChatDriver, FakeClock, FakeUnitOfWork, fake_engine

OGG = b"OggS\x00\x02" + b"\x00" * 40


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
async def chat(tmp_path: Path, uow: FakeUnitOfWork, clock: FakeClock) -> ChatDriver:
    engine, _ = fake_engine(tmp_path, uow=uow, clock=clock)
    driver = ChatDriver(engine)
    await driver.command("start")
    await driver.press("English")
    await driver.press("Yes, I agree")
    await driver.text("Samira")
    return driver


def learner(uow: FakeUnitOfWork) -> User:
    return next(u for u in uow.users.rows.values() if u.external_id == "learner-1")


def kinds(uow: FakeUnitOfWork) -> list[str]:
    return [s.kind for s in uow.signals.rows]


async def set_goal(chat: ChatDriver, theme: str = "Communication") -> None:
    await chat.command("goal")
    await chat.press(theme)
    await chat.press("1")
    await chat.press("Thursday")
    await chat.text("Ask my team leader for ten minutes")
    await chat.press("4")


def test_weeks_follow_the_programme_time_zone() -> None:
    # Sunday 23:30 UTC is already Monday in Brussels.
    assert week_of(datetime(2026, 3, 8, 23, 30, tzinfo=UTC), "Europe/Brussels") == "2026-W11"
    assert week_of(datetime(2026, 3, 8, 22, 30, tzinfo=UTC), "UTC") == "2026-W10"
    assert previous_week("2026-W01") == "2025-W52"


async def test_setting_a_goal_from_the_library(chat: ChatDriver, uow: FakeUnitOfWork) -> None:
    await chat.command("goal")
    labels = [b.label for b in chat.last[-1].flat_buttons]
    assert labels[:6] == [
        "Social map",
        "Guiding",
        "Collaboration",
        "Communication",
        "Reflection",
        "Planning",
    ]
    await chat.press("Communication")
    assert "1. Lead part of a team meeting\n2. Have one conversation in Dutch" in chat.said
    assert [b.label for b in chat.last[-1].flat_buttons][:6] == [
        "1",
        "2",
        "3",
        "4",
        "5",
        "✏️ Write my own goal",
    ]
    await chat.press("1")
    # The clock says Tuesday: today is marked, Monday has passed and is not offered.
    assert [b.label for b in chat.last[-1].flat_buttons] == [
        "Today (Tuesday)",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "« Back",
    ]
    await chat.press("Thursday")
    await chat.text("Ask my team leader for ten minutes")
    await chat.press("4")
    assert "Your goal is saved." in chat.said
    assert "Day: Thursday" in chat.said
    assert "This is your first active week." in chat.said
    (goal,) = uow.goals.rows
    assert (goal.week, goal.theme_id, goal.example_id, goal.weekday, goal.confidence) == (
        "2026-W10",
        "communication",
        "lead_meeting",
        3,
        4,
    )
    assert goal.first_step == "Ask my team leader for ten minutes"
    (signal,) = [s for s in uow.signals.rows if s.kind == signals.GOAL_SET]
    assert signal.details == {"week": "2026-W10", "goal_id": goal.id}


async def test_a_number_typed_instead_of_tapped_takes_that_example(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    """On WhatsApp a learner may type "2" under a list of numbers: it is example 2, not a
    goal called "2"; a goal typed in words stays the learner's own."""
    await chat.command("goal")
    await chat.press("Communication")
    await chat.text("2")
    assert "Today (Tuesday)" in [b.label for b in chat.last[-1].flat_buttons]
    await chat.press("Thursday")
    await chat.press("Skip")
    await chat.press("4")
    (goal,) = uow.goals.rows
    assert goal.example_id == "practise_dutch"
    assert goal.text.startswith("Have one conversation in Dutch")
    await chat.command("goal")
    await chat.press("Change my goal")
    await chat.press("Communication")
    await chat.text("2 keer per week Nederlands spreken")
    await chat.press("Thursday")
    await chat.press("Skip")
    await chat.press("4")
    (goal,) = uow.goals.rows
    assert (goal.example_id, goal.text) == (None, "2 keer per week Nederlands spreken")


async def test_one_goal_a_week_can_be_changed_not_doubled(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await set_goal(chat)
    await chat.command("goal")
    assert "Your goal for this week:" in chat.said
    await chat.press("Change my goal")
    await chat.press("Planning")
    await chat.press("Write my own goal")
    await chat.text("Plan my week on Monday morning")
    await chat.press("Wednesday")
    await chat.press("Skip")
    await chat.press("5")
    (goal,) = uow.goals.rows
    assert (goal.theme_id, goal.text, goal.example_id, goal.first_step) == (
        "planning",
        "Plan my week on Monday morning",
        None,
        None,
    )


async def test_not_sure_suggests_the_lowest_quick_scan_theme(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    user = learner(uow)
    await uow.theme_levels.put(
        ThemeLevel(user_id=user.id, theme_id="guiding", score=3.0, level="doorstroom")
    )
    await uow.theme_levels.put(
        ThemeLevel(user_id=user.id, theme_id="planning", score=1.5, level="beginner")
    )
    await chat.command("goal")
    await chat.press("I am not sure")
    assert "grow the most: Planning" in chat.said
    await chat.press("Yes, Planning")
    assert "Some small goals for Planning" in chat.said


async def test_not_sure_without_a_scan_suggests_reflection_then_the_least_worked_theme(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await chat.command("goal")
    await chat.press("I am not sure")
    assert "A good start is Reflection" in chat.said
    await chat.press("I choose myself")
    assert "Which theme" in chat.said
    user = learner(uow)
    for week, theme in [("2026-W01", "reflection"), ("2026-W02", "social_map")]:
        await uow.goals.add(
            Goal(learner_id=user.id, week=week, theme_id=theme, text="x", outcome="reached")
        )
    await chat.press("I am not sure")
    assert "You have worked least on Guiding" in chat.said


async def test_voice_goal_and_low_confidence_makes_it_smaller(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await chat.command("goal")
    await chat.press("Guiding")
    await chat.file("voice", OGG, duration=7)
    await chat.press("Tuesday")
    await chat.press("Skip")
    await chat.press("2")
    assert "smaller goal is often easier" in chat.said
    await chat.press("Make it smaller")
    await chat.text("Listen to one child for five minutes")
    assert "How sure are you" in chat.said
    await chat.press("4")
    (goal,) = uow.goals.rows
    assert goal.text == "Listen to one child for five minutes"
    assert goal.voice_upload_id is None and goal.weekday == 1 and goal.confidence == 4
    assert len(uow.uploads.rows) == 1


async def test_checkin_answers(chat: ChatDriver, uow: FakeUnitOfWork, clock: FakeClock) -> None:
    await chat.command("checkin")
    assert "You have no open goal for this week yet." in chat.said
    await set_goal(chat)
    clock.advance(days=1)
    await chat.command("checkin")
    assert "How is your goal going?" in chat.said
    await chat.press("Busy with it")
    assert "Your first step was: Ask my team leader" in chat.said
    await chat.command("checkin")
    await chat.press("No time this week")
    assert "Busy weeks happen" in chat.said
    assert signals.CHECKIN_NO_TIME in kinds(uow)
    await chat.command("checkin")
    await chat.press("I am stuck")
    assert "A tip: Prepare your first sentence." in chat.said
    await chat.press("Tell my coach")
    assert "You do not have a coach in Opstap yet." in chat.said
    assert signals.CHECKIN_STUCK in kinds(uow)
    assert signals.ASKED_FOR_COACH not in kinds(uow)
    assert uow.goals.rows[0].checkin == "stuck"


async def test_stuck_learner_tells_the_coach_or_makes_the_goal_smaller(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    coach = await uow.users.add(
        User(channel="test", external_id="coach", language="nl", role="coach")
    )
    group = await uow.groups.add(Group(name="G", coach_id=coach.id, join_code="abc"))
    await uow.memberships.add(Membership(group_id=group.id, learner_id=learner(uow).id))
    await set_goal(chat)
    await chat.command("checkin")
    await chat.press("I am stuck")
    await chat.press("Tell my coach")
    assert "I told your coach." in chat.said
    (message,) = uow.outbox.rows
    assert message.user_id == coach.id and message.kind == "asked_for_coach"
    assert message.about_user_id == learner(uow).id
    assert signals.ASKED_FOR_COACH in kinds(uow)
    await chat.command("checkin")
    await chat.press("I am stuck")
    await chat.press("Make my goal smaller")
    assert "Let us make your goal smaller." in chat.said
    await chat.text("Ask my team leader when a meeting is")
    (goal,) = uow.goals.rows
    assert goal.text == "Ask my team leader when a meeting is" and goal.weekday == 3


async def test_look_back_next_week_counts_successes_and_streaks(
    chat: ChatDriver, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    await set_goal(chat)
    goal = uow.goals.rows[0]
    await uow.feedback.add(
        Feedback(
            learner_id=learner(uow).id,
            coach_id=None,
            item_type="goal",
            item_id=goal.id,
            text="Nice goal!",
        )
    )
    clock.advance(days=7)
    await chat.command("goal")
    assert "Let us look back on your goal" in chat.said
    assert "Your coach: Nice goal!" in chat.said
    assert uow.feedback.rows[0].seen_at == clock.now
    await chat.press("Yes, done")
    await chat.press("A colleague helped")
    assert "You reached 1 goal." in chat.said
    assert "STARR" in chat.said
    await chat.press("Set my next goal")
    await chat.press("Planning")
    await chat.press("1")
    await chat.press("Thursday")
    await chat.press("Skip")
    await chat.press("3")
    assert "You have been active for 2 weeks." in chat.said
    assert "Welcome back" not in chat.said
    assert goal.outcome == "reached" and goal.helped == ["colleague"]
    reached = [s for s in uow.signals.rows if s.kind == signals.GOAL_REACHED]
    assert reached[0].details == {"week": "2026-W10", "goal_id": goal.id}
    # A missed week does not wipe the count, and the return is welcomed.
    clock.advance(days=14)
    await chat.command("goal")
    await chat.press("Partly")
    await chat.text("My colleague reminded me")
    await chat.press("Too busy at work")
    assert "a part is also a step forward" in chat.said
    await chat.press("Set my next goal")
    await set_goal_tail(chat)
    assert "Welcome back!" in chat.said
    assert "You have been active for 3 weeks." in chat.said
    second = uow.goals.rows[1]
    assert second.helped == ["My colleague reminded me"] and second.hindered == ["work"]
    assert signals.GOAL_PARTLY in kinds(uow)
    section = await goals_section_for(chat, uow)
    assert "  Helped: My colleague reminded me" in section.lines
    assert "  Got in the way: Too busy at work" in section.lines
    assert "  Helped: A colleague helped" in section.lines


async def goals_section_for(chat: ChatDriver, uow: FakeUnitOfWork) -> coachview.Section:
    from flows.engine import Context
    from flows.goals import goals_section

    user = learner(uow)
    conversation = await uow.conversations.get(user.id)
    assert conversation is not None
    ctx = Context(
        engine=chat.engine, uow=uow, user=user, conversation=conversation, now=user.created_at
    )
    return await goals_section(ctx, user)


async def set_goal_tail(chat: ChatDriver) -> None:
    await chat.press("Collaboration")
    await chat.press("1")
    await chat.press("Friday")
    await chat.press("Skip")
    await chat.press("5")


async def test_missed_goal_without_blame_and_reflection_offer(
    chat: ChatDriver, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    await set_goal(chat)
    await chat.command("goal")
    await chat.press("Look back now")
    await chat.press("Not this time")
    await chat.press("No time")
    assert "That happens, and it is fine." in chat.said
    assert "Set my next goal" not in [b.label for b in chat.last[-1].flat_buttons]
    await chat.press("Reflect on it with STARR")
    assert "S · Situation (Situatie) (1/5)" in chat.said
    (reflection,) = uow.reflections.rows
    assert reflection.goal_id == uow.goals.rows[0].id
    assert reflection.themes == ["communication"]
    assert signals.GOAL_MISSED in kinds(uow)


async def test_goal_texts_in_every_language(tmp_path: Path) -> None:
    for language, theme, day, saved in [
        ("Nederlands", "Communicatie", "Donderdag", "Je leerdoel is bewaard."),
        ("Français", "Communication", "Jeudi", "Ton objectif est enregistré."),
        ("العربية", "التواصل", "الخميس", "تم حفظ هدفك."),
        ("Türkçe", "İletişim", "Perşembe", "Hedefin kaydedildi."),
    ]:
        engine, _ = fake_engine(tmp_path)
        chat = ChatDriver(engine)
        await chat.command("start")
        await chat.press(language)
        await chat.press_data(chat.last[-1].flat_buttons[0].data)
        await chat.text("Ali")
        await chat.command("goal")
        await chat.press(theme)
        await chat.press_data(chat.last[-1].flat_buttons[0].data)
        await chat.press(day)
        await chat.press_data(chat.last[-1].flat_buttons[0].data)  # skip
        await chat.press("4")
        assert saved in chat.said, chat.said


async def test_a_goal_looked_back_on_early_is_closed_kindly(chat: ChatDriver) -> None:
    await set_goal(chat)
    await chat.command("checkin")
    await chat.press("Done!")
    assert [b.label for b in chat.last[-1].flat_buttons] == ["Look back now", "Later"]
    await chat.press("Look back now")
    # "Done!" already said it: the look back does not ask "Did you do it?" again.
    assert "Did you do it?" not in chat.said
    await chat.press("A colleague helped")
    await chat.press("Not now")
    await chat.command("goal")  # the same week
    assert "You looked back on it already." in chat.said
    await chat.press("OK")
    assert chat.texts[0] == "Fine. Send /goal when you are ready for your next goal."


async def test_language_without_a_code_mid_goal_comes_back_to_the_same_question(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await chat.command("goal")
    await chat.press("Communication")
    await chat.press("1")
    assert "Thursday" in [b.label for b in chat.last[-1].flat_buttons]
    await chat.command("language")
    await chat.press("Nederlands")
    assert chat.texts[0] == "Vanaf nu spreek ik Nederlands met je."
    assert "Donderdag" in [b.label for b in chat.last[-1].flat_buttons]
    await chat.press("Donderdag")
    await chat.text("Mijn teamleider om tien minuten vragen")
    await chat.press("4")
    (goal,) = uow.goals.rows
    assert (goal.theme_id, goal.example_id, goal.weekday) == ("communication", "lead_meeting", 3)
    # Chosen from the language question itself, outside any flow, it still ends with the menu.
    await chat.command("language")
    await chat.press("English")
    assert chat.texts[-1] == "What would you like to do?"


async def test_the_day_question_offers_only_the_days_left_and_says_when_one_passed(
    chat: ChatDriver, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    clock.now = datetime(2026, 3, 3, 22, 50, tzinfo=UTC)  # Tuesday 23:50 in Brussels
    await chat.command("goal")
    await chat.press("Planning")
    await chat.press("1")
    assert chat.button("Today (Tuesday)") is not None
    clock.advance(minutes=20)  # past midnight: Wednesday now
    await chat.press("Today (Tuesday)")
    assert chat.texts[0] == (
        "Tuesday has passed already this week. Please choose today or a day still to come."
        "\n\nOn which day will you do it?"
    )
    assert [b.label for b in chat.last[-1].flat_buttons][:2] == ["Today (Wednesday)", "Thursday"]
    await chat.press("Today (Wednesday)")
    await chat.press("Skip")
    await chat.press("4")
    assert uow.goals.rows[0].weekday == 2
    # On a Sunday only Sunday is left of this week.
    clock.now = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)
    await chat.command("goal")
    await chat.press("Change my goal")
    await chat.press("Planning")
    await chat.press("1")
    assert [b.label for b in chat.last[-1].flat_buttons] == ["Today (Sunday)", "« Back"]


async def test_a_goal_interrupted_by_a_command_is_kept_as_a_draft(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    # Issue 12: a command at "make it smaller?" once lost every answer without a word.
    await chat.command("goal")
    await chat.press("Communication")
    await chat.press("1")
    await chat.press("Thursday")
    await chat.text("Ask my team leader for ten minutes")
    await chat.press("1")  # not confident: "make it smaller?"
    await chat.command("help")
    assert uow.goals.rows == []
    await chat.command("goal")
    assert "You were setting a goal." in chat.said
    await chat.press("Continue")
    assert "A smaller goal is often easier to reach." in chat.said
    await chat.press("Keep it like this")
    (goal,) = uow.goals.rows
    assert (goal.example_id, goal.weekday, goal.confidence) == ("lead_meeting", 3, 1)
    assert goal.first_step == "Ask my team leader for ten minutes"
    await chat.command("goal")  # saved: no draft any more
    assert "You were setting a goal." not in chat.said


async def test_a_goal_draft_can_be_started_over(chat: ChatDriver, uow: FakeUnitOfWork) -> None:
    await chat.command("goal")
    await chat.press("Communication")
    await chat.command("cancel")
    await chat.command("goal")
    await chat.press("Start over")
    assert "Social map" in [b.label for r in chat.last for b in r.flat_buttons]
    await chat.command("help")
    await chat.command("goal")
    assert "You were setting a goal." in chat.said  # left at the theme question again
