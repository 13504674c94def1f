"""A coach and learners through the real python-telegram-bot Application on the fake Bot API,
on the real database: invitation, a group with its QR code, joining, the risk view from
hand-made histories, relays both ways, and refusals for another coach and a learner."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import zxingcpp
from PIL import Image
from sqlalchemy import select

from bot.runtime import Runtime
from flows import signals
from flows.coach import create_invite
from storage.models import AccessLog, Group, OutboxMessage, Signal, User
from tests.fake_telegram import BotHarness, FakeTelegram, running_bot
from tests.fakes import FakeClock

COACH, AMAL, BRAM, OTHER_COACH = 100, 200, 300, 400


async def invite(runtime: Runtime, clock: FakeClock) -> str:
    async with runtime.uow() as uow:
        code = await create_invite(uow, now=clock(), name="Els")
        await uow.commit()
    return code


async def become_coach(bot: BotHarness, user_id: int, code: str, name: str) -> None:
    await bot.say(user_id, f"/start coach_{code}")
    await bot.press(user_id, "English")
    await bot.press(user_id, "Yes, I agree")
    sent = await bot.say(user_id, name)
    assert "Start with /newgroup" in sent[0].text


async def join(bot: BotHarness, user_id: int, code: str, name: str) -> None:
    await bot.say(user_id, f"/start join_{code}")
    await bot.press(user_id, "English")
    await bot.press(user_id, "Yes, I agree")
    sent = await bot.say(user_id, name)
    assert "What may your coach see?" in sent[-1].text
    await bot.press(user_id, "⬜ my goals")  # shares goals and evidence only
    await bot.press(user_id, "⬜ my evidence")
    sent = await bot.press(user_id, "Done")
    assert "Welcome to Leergroep A!" in sent[0].text


async def users(runtime: Runtime) -> dict[str, User]:
    async with runtime.sessionmaker() as session:
        return {u.display_name or "": u for u in await session.scalars(select(User))}


async def test_a_coach_and_learners_through_telegram(
    runtime: Runtime, telegram: FakeTelegram, clock: FakeClock
) -> None:
    code = await invite(runtime, clock)
    async with running_bot(runtime, telegram) as bot:
        await become_coach(bot, COACH, code, "Els")
        scoped = [c for c in telegram.calls if c.method == "setMyCommands" and "scope" in c.params]
        assert scoped[-1].params["scope"] == {"type": "chat", "chat_id": COACH}
        commands = {c["command"] for c in scoped[-1].params["commands"]}
        assert {"atrisk", "newgroup", "stats"} <= commands

        await bot.say(COACH, "/newgroup")
        await bot.say(COACH, "Leergroep A")
        await bot.press(COACH, "Tuesday")
        await bot.press(COACH, "18:00")
        sent = await bot.say(COACH, "Campus Brussel")
        photo = next(c for c in sent if c.method == "sendPhoto")
        (decoded,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(photo.files["photo"])))
        async with runtime.sessionmaker() as session:
            group = (await session.scalars(select(Group))).one()
        link = f"https://t.me/opstap_test_bot?start=join_{group.join_code}"
        assert decoded.text == link and link in photo.text
        pdf = next(c for c in sent if c.method == "sendDocument")
        assert pdf.files["document"].startswith(b"%PDF")  # the flyer as a page to print

        await join(bot, AMAL, group.join_code, "Amal")
        await join(bot, BRAM, group.join_code, "Bram")
        people = await users(runtime)
        amal, bram = people["Amal"], people["Bram"]

        # Hand-made histories: Amal silent 12 days with two missed goals; Bram said "no time".
        clock.advance(days=12)
        async with runtime.uow() as uow:
            for kind, days_ago, details in (
                (signals.GOAL_REACHED, 11, {}),
                (signals.GOAL_MISSED, 8, {}),
                (signals.GOAL_MISSED, 1, {}),
                (signals.BARRIER, 12, {"barrier": "shifts"}),
            ):
                at = clock() - timedelta(days=days_ago)
                await uow.signals.add(Signal(user_id=amal.id, kind=kind, at=at, details=details))
            await uow.signals.add(
                Signal(user_id=bram.id, kind=signals.CHECKIN_NO_TIME, at=clock(), details={})
            )
            await uow.commit()
        await bot.say(BRAM, "/help")  # Bram was here today

        sent = await bot.say(COACH, "/atrisk")
        text = sent[0].text
        assert text.index("1. Amal") < text.index("2. Bram")
        assert "no reply for 12 days" in text and "2 goals missed in a row" in text
        assert "intake: works shifts" in text and "said: no time this week" in text

        # Relay: the coach writes from the risk view, the learner replies.
        await bot.press(COACH, "1. Amal")
        await bot.press(COACH, "Write a message")
        sent = await bot.say(COACH, "Zullen we even bellen?")
        assert "Sent." in sent[0].text
        await bot.say(AMAL, "/reply")
        sent = await bot.say(AMAL, "Ja, morgen om 10u.")
        assert sent[0].text == "Sent to your coach."
        async with runtime.sessionmaker() as session:
            outbox = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        to_amal = next(m for m in outbox if m.kind == "coach_message")
        to_coach = next(m for m in outbox if m.kind == "learner_message")
        assert to_amal.user_id == amal.id and to_amal.payload["params"]["coach"] == "Els"
        assert to_coach.user_id == people["Els"].id
        assert to_coach.payload["params"]["text"] == "Ja, morgen om 10u."

        # The coach looks at Amal: logged. Reflections are not shared, so no feedback there.
        sent = await bot.say(COACH, f"/learner {amal.id}")
        assert "Shares with you: goals, evidence" in "\n".join(c.text for c in sent)

        # A second coach and a learner try the coach commands on this group.
        await become_coach(bot, OTHER_COACH, await invite(runtime, clock), "Piet")
        for command in (
            f"/learner {amal.id}",
            f"/feedback {amal.id}",
            f"/message {amal.id}",
            f"/atrisk {amal.id}",
            f"/nudge {amal.id}",
            f"/invite {group.id}",
            f"/session {group.id}",
            f"/prompt {group.id}",
        ):
            sent = await bot.say(OTHER_COACH, command)
            assert "You can only do this for your own groups" in sent[0].text, command
        for command in ("/atrisk", "/learner", "/message", "/groups", "/stats", "/prompt"):
            sent = await bot.say(OTHER_COACH, command)
            seen = "\n".join(c.text + " ".join(c.labels) for c in sent)
            assert "Amal" not in seen and "Leergroep A" not in seen, command
        learner_commands = {name for name, _ in runtime.engine.commands_for("learner")}
        coach_commands = [
            name
            for name, _ in runtime.engine.commands_for("coach")
            if name not in learner_commands
        ]
        assert len(coach_commands) >= 12
        for command in coach_commands:
            sent = await bot.say(BRAM, f"/{command} {amal.id}")
            assert "not available to you" in sent[0].text, command
    async with runtime.sessionmaker() as session:
        log = list(await session.scalars(select(AccessLog).order_by(AccessLog.id)))
    allowed = [(e.coach_id, e.what) for e in log if e.allowed]
    refused = [(e.coach_id, e.what, e.learner_id) for e in log if not e.allowed]
    els, piet = people["Els"].id, (await users(runtime))["Piet"].id
    assert (els, "view") in allowed
    assert len(refused) == 8 and all(coach == piet for coach, _, _ in refused)
    assert (piet, "view", amal.id) in refused


async def test_sessions_attendance_prompt_and_stats_through_telegram(
    runtime: Runtime, telegram: FakeTelegram, clock: FakeClock
) -> None:
    code = await invite(runtime, clock)
    async with running_bot(runtime, telegram) as bot:
        await become_coach(bot, COACH, code, "Els")
        await bot.say(COACH, "/newgroup")
        await bot.say(COACH, "Leergroep A")
        await bot.press(COACH, "Thursday")
        await bot.say(COACH, "18.30")
        await bot.press(COACH, "Skip")
        async with runtime.sessionmaker() as session:
            group = (await session.scalars(select(Group))).one()
        await join(bot, AMAL, group.join_code, "Amal")
        await join(bot, BRAM, group.join_code, "Bram")

        await bot.say(COACH, "/session")
        await bot.press(COACH, "Plan sessions")
        await bot.say(COACH, "05-03-2026")  # a Thursday; the clock says Tuesday 3 March
        await bot.press(COACH, "Every week")
        sent = await bot.say(COACH, "3")
        assert "Planned 3 sessions" in sent[0].text

        clock.advance(days=2, hours=10)  # Thursday evening, after the first session
        await bot.say(COACH, "/session")
        await bot.press(COACH, "Take attendance")
        await bot.press(COACH, "✅ Bram")
        sent = await bot.press(COACH, "Save")
        assert "1 learner was absent" in sent[0].text

        await bot.say(COACH, "/prompt")
        await bot.press(COACH, "New question")
        await bot.say(COACH, "Wat ging goed deze week?")
        await bot.press(COACH, "➕ English")
        await bot.say(COACH, "What went well this week?")
        sent = await bot.press(COACH, "Send to the group")
        assert "Sent to 2 learners" in sent[0].text
        sent = await bot.say(AMAL, "/answer")
        assert "What went well this week?" in sent[0].text
        await bot.say(AMAL, "Ik leidde het teamoverleg.")

        sent = await bot.say(COACH, "/stats")
        assert sum(1 for c in sent if c.method == "sendPhoto") == 2
        text = sent[0].text
        assert "Enrolled: 2" in text and "In the group now: 2" in text
    async with runtime.sessionmaker() as session:
        outbox = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        kinds = {(s.user_id, s.kind) for s in await session.scalars(select(Signal))}
    people = await users(runtime)
    reminders = [m for m in outbox if m.kind == "session_reminder"]
    # 3 sessions x 2 learners x (the evening before, that morning); 18:30 in Brussels is 17:30 UTC.
    assert len(reminders) == 12 and len({m.dedup_key for m in reminders}) == 12
    first = min(m.expires_at for m in reminders if m.expires_at is not None)
    assert first == datetime(2026, 3, 5, 17, 30, tzinfo=UTC)
    missed = [m for m in outbox if m.kind == "session_missed"]
    assert [m.user_id for m in missed] == [people["Bram"].id]
    assert missed[0].due_at == datetime(2026, 3, 6, 9, 0, tzinfo=UTC)  # 10:00 in Brussels
    assert (people["Bram"].id, signals.SESSION_ABSENT) in kinds
    assert (people["Amal"].id, signals.SESSION_PRESENT) in kinds
    prompts = [m for m in outbox if m.kind == "group_prompt"]
    assert {m.payload["params"]["question"] for m in prompts} == {"What went well this week?"}
    answer = next(m for m in outbox if m.kind == "prompt_answer")
    assert answer.user_id == people["Els"].id
