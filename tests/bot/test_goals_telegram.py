"""Goals and STARR reflections end to end: the real python-telegram-bot Application on the
fake Bot API, a real database, and a clock moved day by day."""

from __future__ import annotations

from sqlalchemy import select

from bot.runtime import Runtime
from flows import signals
from storage.models import Goal, Group, Membership, OutboxMessage, Reflection, Signal, Upload, User
from tests.fake_telegram import FakeTelegram, running_bot
from tests.fakes import FakeClock

LEARNER = 42
OGG = b"OggS\x00\x02" + b"\x00" * 200
LONG = "I talked with the mother in a quiet room and listened to her story first."


async def onboard(bot, user_id: int = LEARNER, language: str = "English") -> None:  # type: ignore[no-untyped-def]
    await bot.say(user_id, "/start")
    await bot.press(user_id, language)
    agree = bot.last_buttons[user_id][0]["text"]
    await bot.press(user_id, agree)
    await bot.say(user_id, "Samira")


def texts(sent) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(call.text for call in sent)


async def rows(runtime: Runtime, model):  # type: ignore[no-untyped-def]
    async with runtime.sessionmaker() as session:
        return list((await session.scalars(select(model).order_by(model.id))).all())


async def test_a_whole_goal_week(
    runtime: Runtime, telegram: FakeTelegram, clock: FakeClock
) -> None:
    async with running_bot(runtime, telegram) as bot:
        await onboard(bot)
        # A coach, so that "tell my coach" reaches someone.
        async with runtime.sessionmaker() as session:
            learner = (await session.scalars(select(User))).one()
            coach = User(channel="telegram", external_id="77", language="fr", role="coach")
            session.add(coach)
            await session.flush()
            group = Group(name="Leergroep", coach_id=coach.id, join_code="abc")
            session.add(group)
            await session.flush()
            session.add(Membership(group_id=group.id, learner_id=learner.id, share_goals=True))
            await session.commit()
        # Tuesday: the goal.
        sent = await bot.say(LEARNER, "/goal")
        assert "Which theme" in texts(sent)
        sent = await bot.press(LEARNER, "Communication")
        assert "1. Lead part of a team meeting" in texts(sent)
        await bot.press(LEARNER, "1")
        await bot.press(LEARNER, "Thursday")
        await bot.say(LEARNER, "Ask my team leader for ten minutes")
        sent = await bot.press(LEARNER, "4")
        assert "Your goal is saved." in texts(sent)
        assert "This is your first active week." in texts(sent)
        # Wednesday: the check-in; stuck, and the coach is told.
        clock.advance(days=1)
        sent = await bot.say(LEARNER, "/checkin")
        assert "How is your goal going?" in texts(sent)
        await bot.press(LEARNER, "I am stuck")
        sent = await bot.press(LEARNER, "Tell my coach")
        assert "I told your coach." in texts(sent)
        # Thursday: busy with it.
        clock.advance(days=1)
        await bot.say(LEARNER, "/checkin")
        sent = await bot.press(LEARNER, "Busy with it")
        assert "Your first step was: Ask my team leader for ten minutes" in texts(sent)
        # Next Tuesday: /goal starts with the look back.
        clock.advance(days=5)
        sent = await bot.say(LEARNER, "/goal")
        assert "Let us look back on your goal of the week of" in texts(sent)
        await bot.press(LEARNER, "Yes, done")
        sent = await bot.press(LEARNER, "A colleague helped")
        assert "You reached 1 goal." in texts(sent)
        await bot.press(LEARNER, "Set my next goal")
        await bot.press(LEARNER, "Planning")
        await bot.press(LEARNER, "1")
        await bot.press(LEARNER, "Thursday")
        await bot.press(LEARNER, "Skip")
        sent = await bot.press(LEARNER, "5")
        assert "You have been active for 2 weeks." in texts(sent)
    goals = await rows(runtime, Goal)
    assert [(g.week, g.outcome) for g in goals] == [("2026-W10", "reached"), ("2026-W11", None)]
    assert goals[0].checkin == "busy" and goals[0].helped == ["colleague"]
    kinds = [s.kind for s in await rows(runtime, Signal)]
    assert kinds == [
        signals.GOAL_SET,
        signals.CHECKIN_STUCK,
        signals.ASKED_FOR_COACH,
        signals.GOAL_REACHED,
        signals.GOAL_SET,
    ]
    (message,) = await rows(runtime, OutboxMessage)
    assert message.kind == "asked_for_coach" and message.payload


async def test_checkin_no_time_is_a_signal_without_blame(
    runtime: Runtime, telegram: FakeTelegram, clock: FakeClock
) -> None:
    async with running_bot(runtime, telegram) as bot:
        await onboard(bot, language="Français")
        sent = await bot.say(LEARNER, "/checkin")
        assert "Tu n'as pas encore d'objectif ouvert pour cette semaine." in texts(sent)
        await bot.say(LEARNER, "/goal")
        await bot.press(LEARNER, "Je ne sais pas")
        sent = await bot.press(LEARNER, "Oui, Réflexion")
        await bot.press(LEARNER, "✏️ Mon propre objectif")
        await bot.say(LEARNER, "Noter chaque soir ce que j'ai appris")
        await bot.press(LEARNER, "Mercredi")
        await bot.press(LEARNER, "Passer")
        await bot.press(LEARNER, "3")
        clock.advance(days=2)
        await bot.say(LEARNER, "/checkin")
        sent = await bot.press(LEARNER, "Pas le temps cette semaine")
        assert "Les semaines chargées, ça arrive" in texts(sent)
    (signal,) = [s for s in await rows(runtime, Signal) if s.kind == signals.CHECKIN_NO_TIME]
    (goal,) = await rows(runtime, Goal)
    assert signal.details == {"week": "2026-W10", "goal_id": goal.id}
    assert goal.theme_id == "reflection" and goal.weekday == 2


async def test_starr_with_text_voice_and_a_follow_up(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    async with running_bot(runtime, telegram) as bot:
        await onboard(bot)
        sent = await bot.say(LEARNER, "/reflect")
        assert "S · Situation (Situatie) (1/5)" in texts(sent)
        sent = await bot.press(LEARNER, "Show an example")
        assert "An example: Last Tuesday a mother came" in texts(sent)
        file_id, unique_id = telegram.upload(OGG)
        voice = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "duration": 42,
            "mime_type": "audio/ogg",
            "file_size": len(OGG),
        }
        sent = await bot.feed(telegram.message(LEARNER, voice=voice))
        assert "T · Task (Taak) (2/5)" in texts(sent)
        sent = await bot.say(LEARNER, "Calm her down.")
        assert "What exactly was expected of you?" in texts(sent)
        await bot.say(LEARNER, "My team leader asked me to talk with the mother alone.")
        await bot.say(LEARNER, LONG)
        await bot.say(LEARNER, LONG)
        await bot.press(LEARNER, "What did you learn about yourself?")
        sent = await bot.say(LEARNER, LONG)
        assert "Which themes does this show?" in texts(sent)
        await bot.press(LEARNER, "Communication")
        await bot.press(LEARNER, "✅ Communication")
        await bot.press(LEARNER, "Guiding")
        await bot.press(LEARNER, "Done")
        await bot.press(LEARNER, "3")
        sent = await bot.press(LEARNER, "Done")
        assert "🎤 voice note (0:42)" in texts(sent)
        assert "↳ My team leader asked me" in texts(sent)
        sent = await bot.press(LEARNER, "💾 Save")
        assert "You have written 1 reflection." in texts(sent)
        sent = await bot.press(LEARNER, "Yes, use it as evidence")
        # The evidence flow takes over, starting from this reflection.
        assert "Let us turn your reflection into a piece of evidence." in texts(sent)
    (reflection,) = await rows(runtime, Reflection)
    (upload,) = await rows(runtime, Upload)
    assert reflection.status == "done"
    assert reflection.extra["voice"] == {"situation": upload.id}
    assert reflection.extra["prompts"] == {"reflection": "learned"}
    assert reflection.task == "Calm her down."
    assert reflection.themes == ["guiding"]
    assert reflection.competences == ["guiding.individuals"]
    assert upload.duration == 42 and upload.kind == "voice"
    assert signals.REFLECTION_SAVED in [s.kind for s in await rows(runtime, Signal)]


async def test_draft_survives_a_restart_then_edit_page_and_delete(
    runtime: Runtime, telegram: FakeTelegram, clock: FakeClock
) -> None:
    async with running_bot(runtime, telegram) as bot:
        await onboard(bot, language="Nederlands")
        await bot.say(LEARNER, "/reflect")
        await bot.say(LEARNER, LONG)
    clock.advance(days=1)
    again = Runtime.create(runtime.settings, clock=clock)
    try:
        async with running_bot(again, telegram) as bot:
            sent = await bot.say(LEARNER, "/reflect")
            assert "Je hebt een onafgewerkte reflectie van 3 mrt 2026." in texts(sent)
            sent = await bot.press(LEARNER, "Verdergaan")
            assert "T · Taak (2/5)" in texts(sent)
            for _ in range(4):
                await bot.say(LEARNER, LONG)
            await bot.press(LEARNER, "Begeleiden")
            await bot.press(LEARNER, "Klaar")
            await bot.press(LEARNER, "Klaar")
            await bot.press(LEARNER, "💾 Bewaren")
            await bot.press(LEARNER, "Nu niet")
            # Six more, to fill two pages.
            for number in range(6):
                clock.advance(hours=1)
                await bot.say(LEARNER, "/reflect")
                await bot.press(LEARNER, "Nieuwe reflectie schrijven")
                await bot.say(
                    LEARNER,
                    f"Verhaal {number} over een moeilijk gesprek met een ouder op het werk.",
                )
                for _ in range(4):
                    await bot.say(LEARNER, LONG)
                await bot.press(LEARNER, "Planning")
                await bot.press(LEARNER, "Klaar")
                await bot.press(LEARNER, "Klaar")
                await bot.press(LEARNER, "💾 Bewaren")
                await bot.press(LEARNER, "Nu niet")
            await bot.say(LEARNER, "/reflect")
            sent = await bot.press(LEARNER, "Mijn reflecties")
            assert "pagina 1 van 2" in texts(sent)
            labels = [b["text"] for b in bot.last_buttons[LEARNER]]
            assert sum("Verhaal" in label for label in labels) == 5
            sent = await bot.press(LEARNER, "Volgende »")
            assert "pagina 2 van 2" in texts(sent)
            story = next(b["text"] for b in bot.last_buttons[LEARNER] if "Verhaal 0" in b["text"])
            await bot.press(LEARNER, story)
            await bot.press(LEARNER, "Een stap aanpassen")
            sent = await bot.press(LEARNER, "R · Resultaat")
            assert "Nu staat er:" in texts(sent)
            sent = await bot.say(
                LEARNER, "Ze bedankte me en kwam de week erna terug met haar zoon."
            )
            assert "Ze bedankte me" in texts(sent)
            await bot.press(LEARNER, "Verwijderen")
            sent = await bot.press(LEARNER, "Ja, verwijderen")
            assert "De reflectie is verwijderd." in texts(sent)
    finally:
        await again.close()
    remaining = await rows(runtime, Reflection)
    assert len(remaining) == 6 and all(r.status == "done" for r in remaining)
    assert not any((r.situation or "").startswith("Verhaal 0") for r in remaining)
