"""A coach's journey end to end: the real python-telegram-bot Application on the fake Bot API,
the real database, the real planner and outbox dispatcher with the Telegram sender, and a clock
moved hour by hour over two weeks. A Dutch coach, learners in French, Dutch and Turkish (one
shares nothing), nudges at the right local times and never at night, a learner silent for 15
days at the top of /atrisk, a ready-made reminder in the learner's language and the reply,
attendance with a next-day "we missed you", /stats equal to what happened, /stop with a
reason, and feedback on a goal that the learner reads beside it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.runtime import Runtime
from bot.scheduler import Dispatcher, plan
from bot.telegram import TelegramSender
from flows import signals
from flows.coach import create_invite
from storage.models import Feedback, Goal, Group, Membership, OutboxMessage, Signal, User
from tests.fake_telegram import BotHarness, Call, FakeTelegram, running_bot
from tests.fakes import FakeClock

COACH, AMAL, BRAM, CAN = 100, 200, 300, 400
BRUSSELS = ZoneInfo("Europe/Brussels")


def texts(sent: list[Call]) -> str:
    return "\n".join(call.text for call in sent)


async def press_at(bot: BotHarness, user_id: int, index: int) -> list[Call]:
    """Presses the button at this position of the user's last keyboard."""
    data = bot.last_buttons[user_id][index]["callback_data"]
    return await bot.feed(bot.telegram.press(user_id, data))


async def rows(runtime: Runtime, model: type) -> list:  # type: ignore[type-arg]
    async with runtime.sessionmaker() as session:
        return list(await session.scalars(select(model).order_by(model.id)))  # type: ignore[attr-defined]


async def join(bot: BotHarness, user_id: int, code: str, language: str, name: str) -> None:
    """Joins through the group link; everyone but Can shares goals and reflections."""
    await bot.say(user_id, f"/start join_{code}")
    await bot.press(user_id, language)
    await press_at(bot, user_id, 0)  # yes, I agree
    await bot.say(user_id, name)
    if user_id != CAN:
        await press_at(bot, user_id, 0)  # goals
        await press_at(bot, user_id, 1)  # reflections
    sent = await press_at(bot, user_id, -1)  # done
    assert "Leergroep A" in sent[0].text


async def set_goal(bot: BotHarness, user_id: int, step: str) -> list[Call]:
    """/goal: the first theme, its first goal, the first weekday, a first step, sure at 4."""
    await bot.say(user_id, "/goal")
    await press_at(bot, user_id, 0)
    await press_at(bot, user_id, 0)
    await press_at(bot, user_id, 0)
    await bot.say(user_id, step)
    return await press_at(bot, user_id, 3)


async def test_a_coach_with_three_learners_over_two_weeks(
    runtime: Runtime, telegram: FakeTelegram, clock: FakeClock
) -> None:
    async with runtime.uow() as uow:  # what `opstap coach-invite` does
        code = await create_invite(uow, now=clock(), name="Els")
        await uow.commit()
    policy = runtime.nudge_policy()
    async with running_bot(runtime, telegram) as bot:
        dispatcher = Dispatcher(
            uow_factory=runtime.uow,
            sender=TelegramSender(bot.app.bot),
            clock=clock,
            translator=runtime.engine.translator,
            policy=policy,
        )
        # The coach, in Dutch, and a group with its link.
        await bot.say(COACH, f"/start coach_{code}")
        await bot.press(COACH, "Nederlands")
        await bot.press(COACH, "Ja, akkoord")
        sent = await bot.say(COACH, "Els")
        assert "Begin met /newgroup" in sent[0].text
        await bot.say(COACH, "/newgroup")
        await bot.say(COACH, "Leergroep A")
        await bot.press(COACH, "Donderdag")
        await bot.press(COACH, "18:00")
        sent = await bot.say(COACH, "Campus Brussel")
        assert "Leergroep A · donderdag · 18:00 · Campus Brussel" in texts(sent)
        (group,) = await rows(runtime, Group)
        assert f"https://t.me/opstap_test_bot?start=join_{group.join_code}" in texts(sent)
        assert any(c.method == "sendPhoto" for c in sent)

        # Three learners in three languages; Can shares nothing.
        for user_id, language, name in (
            (AMAL, "Français", "Amal"),
            (BRAM, "Nederlands", "Bram"),
            (CAN, "Türkçe", "Can"),
        ):
            await join(bot, user_id, group.join_code, language, name)
        people = {u.display_name: u for u in await rows(runtime, User)}
        amal, bram, can, els = people["Amal"], people["Bram"], people["Can"], people["Els"]
        assert (amal.language, bram.language, can.language, els.language) == (
            "fr",
            "nl",
            "tr",
            "nl",
        )
        shares = {
            m.learner_id: (m.share_goals, m.share_reflections, m.share_evidence)
            for m in await rows(runtime, Membership)
        }
        assert shares == {
            amal.id: (True, True, False),
            bram.id: (True, True, False),
            can.id: (False, False, False),
        }
        joined = [m for m in await rows(runtime, OutboxMessage) if m.kind == "group_joined"]
        assert all(m.user_id == els.id for m in joined)

        # Goals, on Tuesday 3 March.
        for user_id, step in ((AMAL, "Parler avec mon chef"), (BRAM, "Vraag het aan Lies")):
            sent = await set_goal(bot, user_id, step)
        goals = await rows(runtime, Goal)
        assert [g.learner_id for g in goals] == [amal.id, bram.id]

        # Two weeks, hour by hour: the planner at start and daily at 00:15, the dispatcher
        # every hour. Bram and Can answer what they get by pressing its first button; Amal
        # stays silent after today.
        await plan(runtime.uow, clock, policy)
        received: list[tuple[datetime, int, Call]] = []
        start = clock()
        while clock() < start + timedelta(days=15):
            clock.advance(hours=1)
            local = clock().astimezone(BRUSSELS)
            if local.hour == 0:
                clock.advance(minutes=15)
                await plan(runtime.uow, clock, policy)
            before = len(telegram.calls)
            await dispatcher.run_once()
            for call in telegram.sent(before):
                received.append((clock(), int(call.params["chat_id"]), call))
            for call in telegram.sent(before):
                chat = int(call.params["chat_id"])
                if chat in (BRAM, CAN) and call.buttons:
                    data = call.buttons[0]["callback_data"]
                    assert data.startswith("/")  # a command button
                    answer = await bot.feed(telegram.press(chat, data))
                    assert answer and "/" not in answer[0].text[:1]
                    await bot.say(chat, "/cancel")

        # Never at night: every message arrived between 08:00 and 21:00 in Brussels.
        assert received
        for when, _, _ in received:
            assert 8 <= when.astimezone(BRUSSELS).hour < 21, when
        to = {uid: [c.text for _, chat, c in received if chat == uid] for uid in (AMAL, BRAM, CAN)}
        assert len([t for t in to[AMAL] if t]) >= 5 and to[BRAM] and to[CAN]
        # Can set no goal: the goal prompt comes on Monday at the preferred 18:00, in Turkish.
        when, _, first = next(r for r in received if r[1] == CAN)
        local = when.astimezone(BRUSSELS)
        assert (local.date().isoformat(), local.hour) == ("2026-03-09", 18)
        assert first.text == "Bu haftanın hedefini seçme zamanı. Küçük bir adım yeter."
        # At most one nudge a day for each learner.
        days = [(chat, when.astimezone(BRUSSELS).date()) for when, chat, _ in received]
        learner_days = [d for d in days if d[0] != COACH]
        assert len(learner_days) == len(set(learner_days))
        notices = [c for _, chat, c in received if chat == COACH and "twee weken" in c.text]
        assert [c.text.split()[0] for c in notices] == ["Amal"]
        assert notices[0].labels == ["Schrijf een bericht", "Wie aandacht nodig heeft"]
        flags = [s for s in await rows(runtime, Signal) if s.kind == signals.INACTIVE]
        assert [(s.user_id, s.details["days"]) for s in flags] == [(amal.id, 14)]

        # /atrisk: Amal first, with the reason.
        sent = await bot.say(COACH, "/atrisk")
        text = sent[0].text
        assert text.index("1. Amal") < text.index("2. Bram") and "15 dagen geen antwoord" in text
        assert sent[0].labels == ["1. Amal", "2. Bram", "3. Can"]

        # A ready-made reminder, in French for Amal; she answers, the coach gets it.
        await bot.press(COACH, "1. Amal")
        sent = await bot.press(COACH, "Stuur een herinnering")
        assert "eigen taal" in sent[0].text
        sent = await bot.press(COACH, "Hoe gaat het?")
        assert sent[0].text == "Verstuurd naar Amal."
        assert "jouw laatste contact: 18 mrt 2026" in sent[1].text.split("\n")[2]
        before = len(telegram.calls)
        await dispatcher.run_once()
        (reminder,) = telegram.sent(before)
        assert reminder.params["chat_id"] == AMAL
        assert reminder.text == (
            "Bonjour Amal ! Ton coach demande comment tu vas. Tu lui envoies un petit message ?"
        )
        assert reminder.labels == ["Répondre à mon coach"]
        bot.last_buttons[AMAL] = reminder.buttons
        await bot.press(AMAL, "Répondre à mon coach")
        sent = await bot.say(AMAL, "Désolée, mon fils était malade.")
        assert "coach" in sent[0].text
        before = len(telegram.calls)
        await dispatcher.run_once()
        (relayed,) = telegram.sent(before)
        assert relayed.params["chat_id"] == COACH
        assert "Amal" in relayed.text and "Désolée, mon fils était malade." in relayed.text
        contacts = [s for s in await rows(runtime, Signal) if s.kind == signals.COACH_CONTACT]
        assert [(s.user_id, s.details["how"]) for s in contacts] == [(amal.id, "reminder")]

        # The notice's button with an argument runs `/message <id>`: a personal message.
        bot.last_buttons[COACH] = notices[0].buttons
        assert notices[0].buttons[0]["callback_data"] == f"/message {amal.id}"
        sent = await bot.press(COACH, "Schrijf een bericht")
        assert "Amal" in sent[0].text
        await bot.say(COACH, "Beterschap voor je zoon!")
        before = len(telegram.calls)
        await dispatcher.run_once()
        (personal,) = telegram.sent(before)
        assert personal.params["chat_id"] == AMAL and "Beterschap voor je zoon!" in personal.text
        assert "Els" in personal.text

        # Thursday 19 March: the session, taken attendance; Amal missed it.
        sent = await bot.say(COACH, "/session")
        await bot.press(COACH, "Bijeenkomsten plannen")
        await bot.say(COACH, "19-03-2026")
        sent = await press_at(bot, COACH, 0)  # once
        assert "1 bijeenkomst gepland" in sent[0].text
        reminders = [m for m in await rows(runtime, OutboxMessage) if m.kind == "session_reminder"]
        assert sorted(m.user_id for m in reminders) == sorted([amal.id, bram.id, can.id] * 2)
        clock.now = datetime(2026, 3, 19, 19, 30, tzinfo=UTC)  # 20:30, after the session
        await bot.say(COACH, "/session")
        await bot.press(COACH, "Aanwezigheden noteren")
        await bot.press(COACH, "✅ Amal")
        sent = await bot.press(COACH, "Opslaan")
        assert "1 lerende was afwezig" in sent[0].text
        before = len(telegram.calls)
        await dispatcher.run_once()  # nothing at night
        assert telegram.sent(before) == []
        clock.now = datetime(2026, 3, 20, 9, 5, tzinfo=UTC)  # Friday, 10:05 in Brussels
        await dispatcher.run_once()
        missed = [c for c in telegram.sent(before) if c.params["chat_id"] == AMAL]
        assert len(missed) == 1
        assert missed[0].text.startswith("Tu nous as manqué hier au groupe, Amal.")
        assert missed[0].labels == ["Répondre à mon coach"]
        kinds = [(s.user_id, s.kind) for s in await rows(runtime, Signal)]
        assert (amal.id, signals.SESSION_ABSENT) in kinds
        assert (bram.id, signals.SESSION_PRESENT) in kinds

        # /stats: the numbers of what happened, and two charts.
        sent = await bot.say(COACH, "/stats")
        text = sent[0].text
        assert "Ingeschreven: 3" in text and "Nu in de leergroep: 3" in text
        assert "koos een leerdoel: 2" in text and "haalde een leerdoel: 0" in text
        assert "Gestopt: 0" in text
        assert sum(1 for c in sent if c.method == "sendPhoto") == 2

        # Can stops, with a reason; the coach reads it in Dutch, in one message.
        await bot.say(CAN, "/stop")
        await press_at(bot, CAN, 0)  # yes, I stop
        sent = await press_at(bot, CAN, 0)  # work and family take too much time
        assert "/start" in sent[-1].text
        before = len(telegram.calls)
        await dispatcher.run_once()
        (left,) = telegram.sent(before)
        assert left.params["chat_id"] == COACH
        assert left.text == (
            "Can is gestopt met de leergroep Leergroep A. "
            "De reden: “Werk en gezin vragen te veel tijd”"
        )
        sent = await bot.say(COACH, "/stats")
        assert "Nu in de leergroep: 2" in sent[0].text and "Gestopt: 1" in sent[0].text

        # Feedback on Amal's goal: she reads it in French, beside her goal.
        sent = await bot.say(COACH, f"/feedback {amal.id}")
        assert "Deelt met jou: leerdoelen, reflecties" in sent[0].text
        assert "week van 2 mrt 2026 · Sociale kaart · Demander" in sent[1].text
        await press_at(bot, COACH, 0)
        await bot.say(COACH, "Goed plan! Wie ga je eerst vragen?")
        before = len(telegram.calls)
        await dispatcher.run_once()
        (notice,) = telegram.sent(before)
        assert notice.params["chat_id"] == AMAL and notice.labels == ["Mon objectif"]
        assert "Goed plan! Wie ga je eerst vragen?" in notice.text and "Els" in notice.text
        bot.last_buttons[AMAL] = notice.buttons
        sent = await bot.press(AMAL, "Mon objectif")  # her goal, the feedback beside it
        assert "🎯 Demander à un collègue" in sent[0].text
        assert "💬 Ton coach : Goed plan! Wie ga je eerst vragen?" in sent[0].text
        (feedback,) = await rows(runtime, Feedback)
        assert (feedback.learner_id, feedback.coach_id, feedback.item_type) == (
            amal.id,
            els.id,
            "goal",
        )
        assert feedback.item_id == goals[0].id
