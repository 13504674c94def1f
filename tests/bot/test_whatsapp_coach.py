"""Both channels in one runtime: a coach on Telegram, a learner on WhatsApp. The learner joins
with the typed deep link, and the coach's ready-made reminder, personal message and feedback
reach them through the one outbox dispatcher (a sender per channel), in Turkish."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from bot.runtime import Runtime
from bot.scheduler import Dispatcher
from bot.telegram import TelegramSender
from bot.whatsapp import CHANNEL
from flows.i18n import Translator
from storage.models import Goal, Group, OutboxMessage, User
from tests.bot.test_coach_telegram import become_coach, invite
from tests.bot.whatsapp_harness import WhatsAppHarness, fake_graph, running_whatsapp
from tests.fake_telegram import FakeTelegram, running_bot
from tests.fake_whatsapp import Sent
from tests.fakes import FakeClock

COACH = 100
AYSE = "32470999000"
TR = Translator("tr")


def texts(sent: list[Sent]) -> str:
    return "\n".join(s.text for s in sent)


async def choose_containing(wa: WhatsAppHarness, wa_id: str, words: str) -> list[Sent]:
    last = next(s for s in reversed(wa.graph.sent) if s.to == wa_id and s.choices)
    title = next(
        c["title"]
        for c in last.choices
        if words in c["title"] or words in c.get("description", "")
    )
    return await wa.choose(wa_id, title)


async def test_a_telegram_coach_reaches_a_whatsapp_learner_in_her_language(
    runtime: Runtime, telegram: FakeTelegram, clock: FakeClock
) -> None:
    code = await invite(runtime, clock)
    graph = fake_graph(runtime)
    async with running_whatsapp(runtime, graph) as wa, running_bot(runtime, telegram) as bot:
        await become_coach(bot, COACH, code, "Els")
        await bot.say(COACH, "/newgroup")
        await bot.say(COACH, "Leergroep A")
        await bot.press(COACH, "Tuesday")
        await bot.press(COACH, "18:00")
        await bot.say(COACH, "Campus Brussel")
        async with runtime.sessionmaker() as session:
            group = (await session.scalars(select(Group))).one()

        # The learner joins on WhatsApp by typing the deep link's text.
        await wa.say(AYSE, f"/start join_{group.join_code}")
        await wa.choose(AYSE, "Türkçe")
        consent = graph.to(AYSE)[-1]
        await wa.choose(AYSE, consent.titles[0])
        sent = await wa.say(AYSE, "Ayşe")
        await choose_containing(wa, AYSE, TR._("my goals"))
        sent = await wa.choose(AYSE, TR._("Done"))
        assert "Leergroep A" in texts(sent)
        async with runtime.sessionmaker() as session:
            ayse = (await session.scalars(select(User).where(User.channel == CHANNEL))).one()
            session.add(Goal(learner_id=ayse.id, week="2026-W10", theme_id="communication",
                             text="Ekip toplantısının bir kısmını yönetmek"))  # fmt: skip
            await session.commit()

        # The coach's ready-made reminder, a personal message and feedback on the goal.
        await bot.say(COACH, f"/nudge {ayse.id}")
        await bot.press(COACH, "Set a small goal")
        await bot.say(COACH, f"/message {ayse.id}")
        await bot.say(COACH, "Zullen we even bellen?")
        sent = await bot.say(COACH, f"/feedback {ayse.id}")
        await bot.press(COACH, sent[-1].labels[0])  # "Answer: <the goal>"
        await bot.say(COACH, "Mooi doel!")

        dispatcher = Dispatcher(
            uow_factory=runtime.uow,
            sender=TelegramSender(bot.app.bot),
            clock=runtime.engine.clock,
            translator=runtime.engine.translator,
            policy=runtime.nudge_policy(),
            senders=runtime.senders,
        )
        start, calls = len(graph.sent), len(telegram.calls)
        result = await rounds(dispatcher)
        to_ayse = graph.to(AYSE, start)
        assert result["sent"] == 4
        assert [s.text for s in to_ayse] == [
            TR._(
                "Hello {name}! Your coach thinks of you. What small step will you take this week?",
                name="Ayşe",
            ),
            "Koçun Els sana yazdı:\n\nZullen we even bellen?",
            "Koçun Els “Ekip toplantısının bir kısmını yönetmek” hedefine cevap verdi: Mooi doel!",
        ]
        assert to_ayse[0].titles == [TR._("Set my goal")]  # its command button, as a reply button
        # The coach's notice that Ayşe joined went through Telegram, from the same dispatcher.
        assert [c.params["chat_id"] for c in telegram.sent(calls)] == [COACH]

        # Two days later the window is closed: the reminder goes as its template, the
        # personal message waits until Ayşe writes.
        clock.advance(days=2)
        await bot.say(COACH, f"/nudge {ayse.id}")
        await bot.press(COACH, "How are you?")
        await bot.say(COACH, f"/message {ayse.id}")
        await bot.say(COACH, "Alles goed?")
        start = len(graph.sent)
        result = await rounds(dispatcher)
        (template,) = graph.to(AYSE, start)
        assert template.payload["template"]["name"] == "opstap_coach_hello"
        assert template.payload["template"]["language"] == {"code": "tr"}
        assert result["waiting"] == 1
        clock.advance(minutes=5)
        await wa.say(AYSE, "Merhaba")
        start = len(graph.sent)
        await rounds(dispatcher)
        assert "Alles goed?" in texts(graph.to(AYSE, start))
    async with runtime.sessionmaker() as session:
        rows = await session.scalars(select(OutboxMessage).where(OutboxMessage.user_id == ayse.id))
        assert {(r.kind, r.status) for r in rows} == {
            ("coach_reminder", "sent"),
            ("coach_message", "sent"),
            ("coach_feedback", "sent"),
        }
    assert graph.refused == []


async def rounds(dispatcher: Dispatcher, most: int = 6) -> Counter[str]:
    """Dispatch rounds until one finds nothing (one message per recipient a round)."""
    total: Counter[str] = Counter()
    for _ in range(most):
        result = await dispatcher.run_once()
        if not result.counts:
            break
        total.update(result.counts)
    return total
