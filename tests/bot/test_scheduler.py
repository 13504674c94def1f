"""The outbox dispatcher on a real database: at most once, 429 rescheduled, blocked bot,
expiry, quiet hours at send time, a crash between claim and send, two dispatchers at once,
a restart, the job queue inside the real Application, the terminal and the report."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from bot.ratelimit import TELEGRAM, SendBudget
from bot.runtime import Runtime
from bot.scheduler import Dispatcher, Lease, SharedSchedule
from bot.telegram import TelegramSender
from flows import nudges
from flows import signals as S
from flows.messages import Event, Reply
from storage.db import create_engine
from storage.models import Group, Membership, OutboxMessage, Preferences, Signal, User
from storage.repositories import Planned, payload
from tests.conftest import POSTGRES_URL
from tests.fake_telegram import FakeTelegram, running_bot
from tests.fakes import FakeClock


class Recorder:
    """A Sender that remembers what it sent; optionally crashes (on every send, or on one
    text)."""

    def __init__(self, *, crash: bool = False, crash_on: str | None = None) -> None:
        self.sent: list[tuple[int, str]] = []
        self.crash = crash
        self.crash_on = crash_on

    async def send(self, user: User, reply: Reply) -> None:
        await asyncio.sleep(0)
        if self.crash or reply.text == self.crash_on:
            raise RuntimeError("the process died here")
        self.sent.append((user.id, reply.text))


async def people(runtime: Runtime) -> tuple[int, int]:
    async with runtime.uow() as uow:
        coach = await uow.users.add(
            User(channel="telegram", external_id="1", chat_id="1", language="en", role="coach")
        )
        learner = await uow.users.add(
            User(
                channel="telegram",
                external_id="42",
                chat_id="42",
                language="en",
                consent_version=1,
                status="active",
                display_name="Samira",
            )
        )
        group = await uow.groups.add(Group(name="A", coach_id=coach.id, join_code="j1"))
        await uow.memberships.add(Membership(group_id=group.id, learner_id=learner.id))
        await uow.commit()
        return coach.id, learner.id


async def queue(runtime: Runtime, user_id: int, key: str, due: datetime, **extra: object) -> None:
    async with runtime.uow() as uow:
        await uow.outbox.add(
            OutboxMessage(
                user_id=user_id,
                kind=str(extra.pop("kind", nudges.CHECKIN)),
                dedup_key=key,
                due_at=due,
                payload=payload("How is your goal going this week? Tell me in a few words."),
                **extra,  # type: ignore[arg-type]
            )
        )
        await uow.commit()


def dispatcher(runtime: Runtime, sender: object) -> Dispatcher:
    return Dispatcher(
        uow_factory=runtime.uow,
        sender=sender,  # type: ignore[arg-type]
        clock=runtime.engine.clock,
        translator=runtime.engine.translator,
    )


async def rows(runtime: Runtime) -> dict[str, OutboxMessage]:
    async with runtime.uow() as uow:
        found = {m.dedup_key: m for m in await uow.session.scalars(select(OutboxMessage))}
        uow.session.expunge_all()
        return found


async def test_crash_between_claim_and_send_leaves_it_unknown(
    runtime: Runtime, clock: FakeClock
) -> None:
    _, learner = await people(runtime)
    await queue(runtime, learner, "k1", clock.now)
    crashing = dispatcher(runtime, Recorder(crash=True))
    try:
        await crashing.run_once()
        raise AssertionError("the sender should have crashed")
    except RuntimeError:
        pass
    assert (await rows(runtime))["k1"].status == "claimed"
    clock.advance(minutes=10)
    sender = Recorder()
    restarted = dispatcher(runtime, sender)
    assert await restarted.recover() == 1
    await restarted.run_once()
    assert sender.sent == [] and (await rows(runtime))["k1"].status == "unknown"


async def test_one_crashing_send_keeps_the_others_outcomes(
    runtime: Runtime, clock: FakeClock
) -> None:
    coach, learner = await people(runtime)
    await queue(runtime, learner, "fine", clock.now)
    async with runtime.uow() as uow:
        await uow.outbox.add(
            OutboxMessage(
                user_id=coach,
                kind="notice",
                dedup_key="bad",
                due_at=clock.now,
                payload=payload("Welcome back! Your messages start again."),
            )
        )
        await uow.commit()
    sender = Recorder(crash_on="Welcome back! Your messages start again.")
    with pytest.raises(RuntimeError):
        await dispatcher(runtime, sender).run_once()
    found = await rows(runtime)
    assert (found["fine"].status, found["bad"].status) == ("sent", "claimed")


async def test_after_a_restart_due_messages_go_out_once(
    runtime: Runtime, clock: FakeClock
) -> None:
    _, learner = await people(runtime)
    await queue(runtime, learner, "a", clock.now - timedelta(minutes=1))
    first = Recorder()
    await dispatcher(runtime, first).run_once()
    await queue(runtime, learner, "b", clock.now + timedelta(minutes=1))
    await runtime.close()
    again = Runtime.create(runtime.settings, clock=clock)
    clock.advance(minutes=2)
    second = Recorder()
    d = dispatcher(again, second)
    await d.recover()
    await d.run_once()
    await d.run_once()
    await again.close()
    assert len(first.sent) == 1 and len(second.sent) == 1


async def test_two_dispatchers_at_once_send_nothing_twice(
    runtime: Runtime, clock: FakeClock
) -> None:
    await people(runtime)
    async with runtime.uow() as uow:
        for n in range(120):
            someone = await uow.users.add(
                User(channel="telegram", external_id=f"u{n}", chat_id=f"{100 + n}", language="en")
            )
            await uow.outbox.add(
                OutboxMessage(
                    user_id=someone.id,
                    kind="notice",
                    dedup_key=f"n{n}",
                    due_at=clock.now,
                    payload=payload("Welcome back! Your messages start again."),
                )
            )
        await uow.commit()
    a, b = Recorder(), Recorder()
    one, two = dispatcher(runtime, a), dispatcher(runtime, b)
    one.batch = two.batch = 25
    for _ in range(4):
        await asyncio.gather(one.run_once(), two.run_once(), one.run_once(), two.run_once())
    assert len(a.sent) + len(b.sent) == 120
    statuses = {m.status for m in (await rows(runtime)).values()}
    assert statuses == {"sent"}


async def test_expired_and_quiet_hours(runtime: Runtime, clock: FakeClock) -> None:
    _, learner = await people(runtime)
    await queue(
        runtime,
        learner,
        "late",
        clock.now - timedelta(hours=2),
        kind="session_reminder",
        expires_at=clock.now - timedelta(minutes=5),
    )
    clock.now = datetime(2026, 3, 3, 21, 30, tzinfo=UTC)  # 22:30 in Brussels
    await queue(runtime, learner, "night", clock.now)
    sender = Recorder()
    d = dispatcher(runtime, sender)
    await d.run_once()
    found = await rows(runtime)
    assert found["late"].status == "expired" and sender.sent == []
    assert found["night"].status == "pending"
    # 08:00 local, plus the learner's own place in the first hour after quiet hours.
    offset = nudges.spread_offset(learner, d.policy)
    assert found["night"].due_at == datetime(2026, 3, 4, 7, tzinfo=UTC) + offset
    assert timedelta(0) <= offset < timedelta(hours=1)
    clock.now = found["night"].due_at
    await d.run_once()
    assert len(sender.sent) == 1


async def test_rate_limit_blocked_bot_and_the_job_queue(
    runtime: Runtime, telegram: FakeTelegram, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # RetryAfter warns about its future type when it is built; opt in to that type now.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    coach, learner = await people(runtime)
    await queue(runtime, learner, "k", clock.now)
    async with running_bot(runtime, telegram) as bot:
        d = dispatcher(runtime, TelegramSender(bot.app.bot))
        telegram.fail("sendMessage", 429, "Too Many Requests: retry after 5", retry_after=5)
        await d.run_once()
        message = (await rows(runtime))["k"]
        assert message.status == "pending" and message.due_at == clock.now + timedelta(seconds=5)
        await d.run_once()
        assert telegram.sent() and all(c.params["chat_id"] == 42 for c in telegram.sent())
        assert len([c for c in telegram.calls if c.method == "sendMessage"]) == 1
        clock.advance(seconds=5)
        await d.run_once()
        assert (await rows(runtime))["k"].status == "sent"
        assert [c.text for c in telegram.sent()][-1].startswith("How is your goal going")

        await queue(runtime, learner, "k2", clock.now)
        telegram.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
        await d.run_once()
        async with runtime.uow() as uow:
            user = await uow.users.get(learner)
            signals = await uow.signals.of_user(learner)
            assert user is not None
            assert user.status == "unreachable"
            assert S.BLOCKED_BOT in [s.kind for s in signals]
        found = await rows(runtime)
        assert found["k2"].status == "failed"
        assert len([m for m in found.values() if m.kind == nudges.COACH_BLOCKED]) == 1
        notice = next(m for m in found.values() if m.kind == nudges.COACH_BLOCKED)
        assert notice.user_id == coach and notice.about_user_id == learner

        # It waits for the coach's daily digest: 09:00 by default, at the coach's offset.
        local = notice.due_at.astimezone(ZoneInfo("Europe/Brussels"))
        assert notice.due_at > clock.now and local.hour == 9
        clock.now = notice.due_at
        # The job queue job delivers the coach's notice inside the running Application.
        before = len(telegram.calls)
        await bot.app.start()
        try:
            for _ in range(200):
                if any(c.params.get("chat_id") == 1 for c in telegram.sent(before)):
                    break
                await asyncio.sleep(0.05)
        finally:
            await bot.app.stop()
        to_coach = [c for c in telegram.sent(before) if c.params.get("chat_id") == 1]
        assert len(to_coach) == 1
        assert to_coach[0].text.startswith("Samira has blocked Opstap")

        # Samira unblocks the bot and writes again: she is reachable again.
        await bot.say(42, "hello")
        async with runtime.uow() as uow:
            again = await uow.users.get(learner)
            assert again is not None
            assert again.status == "active"


async def test_planning_twice_on_the_database_gives_no_duplicates(
    runtime: Runtime, clock: FakeClock
) -> None:
    _, learner = await people(runtime)
    clock.now = datetime(2026, 3, 16, 6, tzinfo=UTC)  # a Monday
    async with runtime.uow() as uow:
        user = await uow.users.get(learner)
        assert user is not None
        user.last_seen_at = clock.now - timedelta(days=15)
        await uow.signals.add(Signal(user_id=learner, kind=S.PAUSED, at=clock.now))
        await uow.commit()
    policy = runtime.nudge_policy()
    from bot.scheduler import plan

    first = await plan(runtime.uow, clock, policy)
    second = await plan(runtime.uow, clock, policy)
    assert first.planned >= 3 and second.planned == 0
    found = await rows(runtime)
    kinds = sorted(m.kind for m in found.values())
    assert kinds == sorted([nudges.GOAL_PROMPT, nudges.INACTIVE_14, nudges.COACH_INACTIVE_14])
    # Silent for 15 days: "we miss you" takes Monday, the routine goal prompt Tuesday, each
    # at the learner's place in the hour around 18:00.
    prompt = found[f"goal_prompt:{learner}:2026-W12"].due_at
    missed = next(m for m in found.values() if m.kind == nudges.INACTIVE_14).due_at
    assert missed.date() == datetime(2026, 3, 16).date() and prompt - missed == timedelta(days=1)
    start = datetime(2026, 3, 16, 16, 30, tzinfo=UTC)
    assert start <= missed < start + timedelta(hours=1)
    async with runtime.uow() as uow:
        flags = [s for s in await uow.signals.of_user(learner) if s.kind == S.INACTIVE]
        # What the next round reads so that it does not build the coach's notice again.
        notified = await uow.scheduler.notices_about([learner], kinds=nudges.COACH_KINDS)
    assert len(flags) == 1
    notice = next(m for m in found.values() if m.kind == nudges.COACH_INACTIVE_14)
    assert notified == {learner: {notice.dedup_key}}


async def test_a_later_round_offers_the_database_no_key_it_already_holds(
    runtime: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The nudges of a silent learner and the coach's notice are planned once; the rounds of
    the next days do not build them again to have them refused by their unique keys."""
    _, learner = await people(runtime)
    clock.now = datetime(2026, 3, 16, 6, tzinfo=UTC)  # a Monday
    async with runtime.uow() as uow:
        user = await uow.users.get(learner)
        assert user is not None
        user.last_seen_at = clock.now - timedelta(days=15)
        await uow.commit()
    policy = runtime.nudge_policy()
    from bot.scheduler import plan
    from storage.repositories.scheduler import SqlSchedulerRepository

    offered: list[str] = []
    insert = SqlSchedulerRepository.insert_planned

    async def keep(self: SqlSchedulerRepository, messages: list[Planned]) -> int:
        offered.extend(m.dedup_key for m in messages)
        return await insert(self, messages)

    monkeypatch.setattr(SqlSchedulerRepository, "insert_planned", keep)
    await plan(runtime.uow, clock, policy)
    first = set(offered)
    assert {nudges.INACTIVE_14, nudges.COACH_INACTIVE_14} <= {k.split(":")[0] for k in first}
    for days in range(1, 5):
        offered.clear()
        clock.now = datetime(2026, 3, 16, 6, tzinfo=UTC) + timedelta(days=days)
        await plan(runtime.uow, clock, policy)
        assert not set(offered) & first, days
        first |= set(offered)


async def test_planning_reads_each_batch_by_its_learners_not_everyones_queue(
    runtime: Runtime, clock: FakeClock
) -> None:
    """SQLite has no statistics to choose an index by: a planning read that could use the
    (status, due_at) index would read every pending message of everyone for each batch, and
    planning would grow with the square of the learners."""
    if not runtime.settings.database_url.startswith("sqlite"):
        pytest.skip("the query plans of SQLite")
    await people(runtime)
    statements: list[tuple[str, object]] = []

    def keep(conn: object, cursor: object, statement: str, params: object, *rest: object) -> None:
        if statement.startswith("SELECT") and " outbox" in statement:
            statements.append((statement, params))

    engine = runtime.db.sync_engine
    event.listen(engine, "before_cursor_execute", keep)
    try:
        from bot.scheduler import plan

        await plan(runtime.uow, clock, runtime.nudge_policy())
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert statements
    async with runtime.db.connect() as connection:
        for statement, params in statements:
            result = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
            plans = " ".join(str(row[-1]) for row in result)
            assert "ix_outbox_status" not in plans and "SCAN outbox" not in plans, statement


def test_terminal_prints_due_messages_and_the_report(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "OPSTAP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}",
        "OPSTAP_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("OPSTAP_TELEGRAM_TOKEN", None)

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )

    assert run("chat", "--user", "ali", "--lang", "en").returncode == 0
    script = """
import asyncio
from datetime import UTC, datetime, timedelta
from bot.config import load_settings
from bot.runtime import Runtime
from flows import nudges
from storage.models import OutboxMessage, Preferences
from storage.repositories import Planned, payload

async def main():
    runtime = Runtime.create(load_settings())
    now = datetime.now(UTC)
    async with runtime.uow() as uow:
        user = await uow.users.by_external(channel="terminal", external_id="ali")
        # No quiet hours for Ali, so the message is due whatever the time of day.
        await uow.preferences.add(
            Preferences(user_id=user.id, quiet_start="00:00", quiet_end="00:00")
        )
        await uow.outbox.add(OutboxMessage(
            user_id=user.id, kind="notice", dedup_key="n", due_at=now,
            payload=payload("Time to choose this week's goal. One small step is enough.",
                            buttons=[["Set my goal", "goal"]])))
        later = now + timedelta(days=1)  # planned, not due yet
        await uow.outbox.add(nudges.message_for(
            kind=nudges.CHECKIN, user_id=user.id, key="c", due=later, now=now,
            policy=nudges.NudgePolicy(), meta={"week": "2026-W10"}))
        await uow.commit()
    await runtime.close()

asyncio.run(main())
"""
    setup = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert setup.returncode == 0, setup.stderr
    chat = run("chat", "--user", "ali")
    assert chat.returncode == 0, chat.stderr
    assert (
        "Time to choose this week's goal. One small step is enough.\n  [1] Set my goal\n--\n"
        in chat.stdout
    )
    report = run("nudge-report")
    assert report.returncode == 0, report.stderr
    assert report.stdout.splitlines()[0].split() == [
        "kind",
        "variant",
        "planned",
        "sent",
        "answered<48h",
        "answer",
        "rate",
    ]
    assert report.stdout.splitlines()[1].split()[0::2] == ["checkin", "1", "0"]
    holidays = run("holidays", "add", "2026-12-24", "2026-12-26", "--name", "winter")
    assert holidays.stdout.splitlines() == [
        "2026-12-24 added",
        "2026-12-25 added",
        "2026-12-26 added",
    ]
    listed = run("holidays", "list", "2026-12-01")
    assert "2026-12-25  winter" in listed.stdout


class Unsure:
    """A Sender whose sends time out: nobody knows whether they arrived."""

    def __init__(self) -> None:
        self.tries = 0

    async def send(self, user: User, reply: Reply) -> None:
        from bot.scheduler import OutcomeUnknown

        self.tries += 1
        raise OutcomeUnknown("timed out")


async def test_a_timeout_is_unknown_and_never_retried(runtime: Runtime, clock: FakeClock) -> None:
    _, learner = await people(runtime)
    await queue(runtime, learner, "t", clock.now)
    sender = Unsure()
    d = dispatcher(runtime, sender)
    await d.run_once()
    clock.advance(hours=1)
    await d.run_once()
    assert sender.tries == 1 and (await rows(runtime))["t"].status == "unknown"


async def test_holdout_is_held_and_its_activity_reported(
    runtime: Runtime, clock: FakeClock
) -> None:
    _, learner = await people(runtime)
    clock.now = datetime(2026, 3, 16, 6, tzinfo=UTC)  # a Monday
    async with runtime.uow() as uow:
        user = await uow.users.get(learner)
        assert user is not None
        user.last_seen_at = clock.now - timedelta(days=1)
        await uow.commit()
    from bot.scheduler import plan

    policy = nudges.NudgePolicy(holdout=0.99)
    assert (await plan(runtime.uow, clock, policy)).held == 1
    clock.now = datetime(2026, 3, 16, 17, 31, tzinfo=UTC)  # after the window
    sender = Recorder()
    d = dispatcher(runtime, sender)
    await d.run_once()
    assert sender.sent == []
    clock.advance(hours=20)
    await runtime.engine.handle(
        channel="telegram", external_id="42", event=Event(kind="text", text="hello")
    )
    async with runtime.uow() as uow:
        report = await uow.scheduler.report(kinds=nudges.NUDGE_KINDS)
    assert [(r.kind, r.variant, r.held, r.held_active) for r in report] == [
        (nudges.GOAL_PROMPT, "holdout", 1, 1)
    ]


async def test_a_prompt_made_pointless_is_cancelled_not_sent(
    runtime: Runtime, clock: FakeClock
) -> None:
    _, learner = await people(runtime)
    clock.now = datetime(2026, 3, 16, 6, tzinfo=UTC)  # a Monday
    async with runtime.uow() as uow:
        user = await uow.users.get(learner)
        assert user is not None
        user.last_seen_at = clock.now - timedelta(days=1)
        await uow.commit()
    from bot.scheduler import plan

    assert (await plan(runtime.uow, clock, runtime.nudge_policy())).planned == 1
    clock.now = datetime(2026, 3, 16, 12, tzinfo=UTC)
    async with runtime.uow() as uow:  # the learner set this week's goal before 18:00
        await uow.signals.add(
            Signal(user_id=learner, kind=S.GOAL_SET, at=clock.now, details={"week": "2026-W12"})
        )
        await uow.commit()
    clock.now = datetime(2026, 3, 16, 17, 31, tzinfo=UTC)  # after the window
    sender = Recorder()
    await dispatcher(runtime, sender).run_once()
    assert sender.sent == []
    assert [m.status for m in (await rows(runtime)).values()] == ["cancelled"]


async def test_scheduled_sends_are_not_retried_here_replies_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from telegram.error import RetryAfter

    monkeypatch.setenv("PTB_TIMEDELTA", "1")

    from bot.ratelimit import Limits, bulk
    from bot.telegram import OutboxRateLimiter

    limiter = OutboxRateLimiter(max_retries=2, limits=Limits(overall=1000.0))
    calls: list[int] = []

    async def refused(**_: object) -> bool:
        calls.append(1)
        raise RetryAfter(0)

    with bulk(), pytest.raises(RetryAfter):  # the outbox reschedules instead
        await limiter.process_request(refused, (), {}, "sendMessage", {"chat_id": 5}, None)
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(RetryAfter):  # a reply waits and tries again, twice
        await limiter.process_request(refused, (), {}, "sendMessage", {"chat_id": 6}, None)
    assert len(calls) == 3


async def test_a_coachs_notices_go_as_one_digest_and_one_message_per_chat_a_round(
    runtime: Runtime, clock: FakeClock
) -> None:
    coach, learner = await people(runtime)
    policy = nudges.NudgePolicy()
    async with runtime.uow() as uow:
        for n in range(12):
            someone = await uow.users.add(
                User(channel="telegram", external_id=f"l{n}", language="en", role="learner")
            )
            await uow.outbox.add(
                nudges.message_for(
                    kind=nudges.COACH_INACTIVE_14,
                    user_id=coach,
                    key=f"{nudges.COACH_INACTIVE_14}:{someone.id}:x",
                    due=clock.now,
                    now=clock.now,
                    policy=policy,
                    meta={"learner_id": someone.id},
                    buttons=nudges.coach_buttons(someone.id),
                    name=f"Learner {n}",
                )
            )
        await uow.commit()
    await queue(runtime, learner, "first", clock.now)
    await queue(runtime, learner, "second", clock.now)
    sent: list[tuple[int, Reply]] = []

    class Keep:
        async def send(self, user: User, reply: Reply) -> None:
            sent.append((user.id, reply))

    d = dispatcher(runtime, Keep())
    clock.now = datetime(2026, 3, 4, 10, tzinfo=UTC)  # outside quiet hours
    await d.run_once()
    assert sorted(user for user, _ in sent) == sorted([coach, learner])
    digest = next(reply for user, reply in sent if user == coach)
    assert digest.text.startswith("Some learners may need you:")
    assert digest.text.count("has not answered for two weeks") == nudges.DIGEST_SIZE
    assert "And 4 more learners: see /atrisk." in digest.text
    labels = [b.label for b in digest.flat_buttons]
    assert labels[: nudges.DIGEST_SIZE] == [f"Learner {n}" for n in range(nudges.DIGEST_SIZE)]
    assert labels[-1] == "Who needs attention"
    found = await rows(runtime)
    assert sum(m.status == "sent" for m in found.values() if m.user_id == coach) == 12
    assert {found["first"].status, found["second"].status} == {"sent", "pending"}
    await d.run_once()  # the learner's second message comes a round later
    assert (await rows(runtime))["second"].status == "sent" and len(sent) == 3


async def test_claims_left_by_a_dead_process_are_found_while_running(
    runtime: Runtime, clock: FakeClock
) -> None:
    """No restart and no explicit recover(): the lease check runs with every round."""
    coach, learner = await people(runtime)
    await queue(runtime, learner, "left", clock.now)
    with pytest.raises(RuntimeError):
        await dispatcher(runtime, Recorder(crash=True)).run_once()  # "the other process"
    running = dispatcher(runtime, Recorder())
    await running.run_once()
    assert (await rows(runtime))["left"].status == "claimed"  # its lease has not run out
    clock.advance(minutes=6)
    await queue(runtime, coach, "next", clock.now, kind="notice")
    result = await running.run_once()
    found = await rows(runtime)
    assert result["recovered"] == 1 and found["left"].status == "unknown"
    assert found["next"].status == "sent"  # and the round went on with the others


def test_a_round_is_never_larger_than_the_lease_can_send(runtime: Runtime) -> None:
    with pytest.raises(ValueError):
        Dispatcher(
            uow_factory=runtime.uow,
            sender=Recorder(),
            clock=runtime.engine.clock,
            translator=runtime.engine.translator,
            batch=10_000,  # more than 30 a second can send in half of the 5-minute lease
        )


async def test_daily_planning_catches_up_after_a_missed_moment(
    runtime: Runtime, clock: FakeClock
) -> None:
    """The host slept across 00:15: planning runs at the next look, once; not twice a day."""
    from bot.scheduler import Planner

    _, learner = await people(runtime)
    clock.now = datetime(2026, 3, 13, 10, tzinfo=UTC)  # Friday; the weekend is slept through
    planner = Planner(uow_factory=runtime.uow, clock=clock, policy=nudges.NudgePolicy())
    assert await planner.run_if_due() is not None  # at start
    clock.advance(hours=2)
    assert await planner.run_if_due() is None  # same day: nothing to do
    clock.now = datetime(2026, 3, 16, 10, 45, tzinfo=UTC)  # woke up Monday, 10:45 late
    result = await planner.run_if_due()
    assert result is not None and result.planned >= 1
    assert await planner.run_if_due() is None
    found = await rows(runtime)
    assert f"goal_prompt:{learner}:2026-W12" in found
    clock.now = datetime(2026, 3, 16, 23, 10, tzinfo=UTC)  # 00:10 Tuesday: not yet
    assert await planner.run_if_due() is None
    clock.now = datetime(2026, 3, 16, 23, 16, tzinfo=UTC)  # 00:16 Tuesday
    assert await planner.run_if_due() is not None


async def test_a_pause_holds_session_reminders_too(runtime: Runtime, clock: FakeClock) -> None:
    _, learner = await people(runtime)
    clock.now = datetime(2026, 3, 4, 10, tzinfo=UTC)
    async with runtime.uow() as uow:
        await uow.preferences.add(
            Preferences(user_id=learner, paused_until=clock.now + timedelta(weeks=4))
        )
        await uow.commit()
    await queue(
        runtime,
        learner,
        "session",
        clock.now,
        kind="session_reminder",
        expires_at=clock.now + timedelta(hours=20),
    )
    await queue(runtime, learner, "written", clock.now, kind="coach_message")
    sender = Recorder()
    await dispatcher(runtime, sender).run_once()
    clock.advance(minutes=1)
    await dispatcher(runtime, sender).run_once()
    found = await rows(runtime)
    assert found["session"].status in ("expired", "pending")
    assert found["session"].status == "expired" or found["session"].due_at > clock.now
    assert found["written"].status == "sent"  # what the coach wrote by hand still goes
    assert len(sender.sent) == 1


# -- the job queue without Telegram ------------------------------------------------------------
async def test_asyncio_jobs_repeat_survive_a_failing_run_and_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bot.scheduler import AsyncioJobs

    runs: list[str] = []

    async def flaky() -> None:
        runs.append("flaky")
        if len(runs) == 1:
            raise OSError("the disk said no")

    jobs = AsyncioJobs()
    jobs.every(0.01, flaky, first=0.0, name="flaky")
    async with jobs:
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(runs) >= 3:
                break
    count = len(runs)
    await asyncio.sleep(0.05)
    assert count >= 3 and len(runs) == count  # it went on after the failure, then stopped
    assert "the flaky job failed (OSError)" in caplog.text
    assert "the disk said no" not in caplog.text


async def test_asyncio_jobs_run_a_daily_job_once_at_its_time_not_at_start() -> None:
    from zoneinfo import ZoneInfo

    from bot.scheduler import AsyncioJobs

    zone = ZoneInfo("Europe/Brussels")
    now = datetime.now(zone)
    runs: list[str] = []

    async def job() -> None:
        runs.append("ran")

    jobs = AsyncioJobs(clock=lambda: datetime.now(UTC))
    jobs.daily((now + timedelta(seconds=0.3)).timetz(), job, name="soon")
    jobs.daily((now - timedelta(hours=1)).timetz(), job, name="passed before start")
    async with jobs:
        await asyncio.sleep(0.1)
        assert runs == []
        await asyncio.sleep(0.5)
    assert runs == ["ran"]
    assert jobs.names == ["soon", "passed before start"]


@pytest.mark.skipif(
    not (POSTGRES_URL or "").startswith("postgresql"), reason="SQLite needs no lease"
)
async def test_a_new_lease_holder_waits_a_second_before_it_sends(database_url: str) -> None:
    """The one before it may have sent its last messages just now (killed, or stopped):
    a process that takes the lease sends only after the cap's window went by."""
    engine = create_engine(database_url)
    first = Lease(engine, settle=0.3)
    second = Lease(engine, settle=0.3)
    try:
        assert not await first.held()  # taken, but not yet sending
        assert not await second.held()  # another process holds it
        await asyncio.sleep(0.35)
        assert await first.held() and not await second.held()
        await first.release()
        assert not await second.held()  # taken over: it waits too
        await asyncio.sleep(0.35)
        assert await second.held()
    finally:
        await first.release()
        await second.release()
        await engine.dispose()


async def test_what_people_wrote_goes_before_a_planned_backlog(
    runtime: Runtime, clock: FakeClock
) -> None:
    """A morning backlog of planned nudges is due first; a coach's text written after it
    still goes in the next round (claimed by the index on `scheduled`, not by kind)."""
    _, learner = await people(runtime)
    policy = nudges.NudgePolicy()
    async with runtime.uow() as uow:
        others = [
            await uow.users.add(
                User(channel="telegram", external_id=f"b{n}", chat_id=f"{200 + n}", language="en")
            )
            for n in range(5)
        ]
        await uow.scheduler.insert_planned(
            [
                nudges.planned_message(
                    kind=nudges.CHECKIN,
                    user_id=user.id,
                    key=f"backlog:{user.id}",
                    due=clock.now - timedelta(hours=1),
                    now=clock.now,
                    policy=policy,
                )
                for user in others
            ]
        )
        await uow.commit()
    await queue(runtime, learner, "written", clock.now, kind="coach_message")
    found = await rows(runtime)
    assert found["written"].scheduled is False
    assert all(found[f"backlog:{user.id}"].scheduled for user in others)
    sender = Recorder()
    first = dispatcher(runtime, sender)
    first.batch = 1
    await first.run_once()
    assert (await rows(runtime))["written"].status == "sent"


@pytest.mark.skipif(
    not (POSTGRES_URL or "").startswith("postgresql"), reason="SQLite writes one at a time"
)
async def test_two_claims_at_once_take_different_messages(
    runtime: Runtime, clock: FakeClock
) -> None:
    """Two dispatchers claiming at the same moment (a lease handover) lock different rows:
    the second skips what the first holds, in one statement each."""
    _, learner = await people(runtime)
    for n in range(10):
        await queue(runtime, learner, f"m{n}", clock.now - timedelta(minutes=n))
    async with runtime.uow() as one, runtime.uow() as two:
        first = await one.scheduler.claim_due(now=clock.now, limit=6, scheduled_last=True)
        second = await two.scheduler.claim_due(now=clock.now, limit=10, scheduled_last=True)
        assert len(first) == 6 and len(second) == 4
        assert not {m.id for m in first} & {m.id for m in second}


@pytest.mark.skipif(
    not (POSTGRES_URL or "").startswith("postgresql"), reason="SQLite runs one process"
)
async def test_two_processes_keep_one_overall_rate_together(schema: str) -> None:
    """Two workers replying at once, each with its own budget and engine, share the bot's
    one schedule in the database: together they keep to 30 a second."""
    engines = [create_engine(schema), create_engine(schema)]
    schedules = [SharedSchedule(engine, "telegram", TELEGRAM.interval) for engine in engines]
    budgets = [SendBudget(TELEGRAM, shared=shared) for shared in schedules]
    sent: list[float] = []

    async def reply(budget: SendBudget, chat: int) -> None:
        await budget.acquire(chat, scheduled=False)
        sent.append(asyncio.get_running_loop().time())

    try:
        started = asyncio.get_running_loop().time()
        await asyncio.gather(
            *(reply(budgets[n % 2], n) for n in range(60)),
        )
        assert len(sent) == 60
        # Alone, each budget would let its 30 go at once; together they take two seconds.
        assert max(sent) - started >= 59 * TELEGRAM.interval - 0.05
        sent.sort()
        assert max(sum(1 for t in sent if s <= t < s + 1.0) for s in sent) <= 31
    finally:
        for shared in schedules:
            await shared.close()
        for engine in engines:
            await engine.dispose()


@pytest.mark.skipif(
    not (POSTGRES_URL or "").startswith("postgresql"), reason="SQLite runs one process"
)
async def test_a_rate_limit_answer_in_one_process_holds_the_other_too(schema: str) -> None:
    engines = [create_engine(schema), create_engine(schema)]
    schedules = [SharedSchedule(engine, "telegram", TELEGRAM.interval) for engine in engines]
    try:
        assert await schedules[1](0.0) < 0.5  # the other worker sends at once
        assert await schedules[0](2.0) >= 1.9  # Telegram answered 429, retry after 2 s
        assert await schedules[1](0.0) >= 1.9  # and it waits as well
    finally:
        for shared in schedules:
            await shared.close()
        for engine in engines:
            await engine.dispose()


async def test_a_broken_shared_schedule_leaves_the_process_its_own_budget(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A database that does not answer must not stop the replies: they go on the
    process's own budget, and the log says so once."""
    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    shared = SharedSchedule(engine, "telegram", TELEGRAM.interval, timeout=1.0)
    try:
        assert await shared(0.0) == 0.0
        assert await shared(0.0) == 0.0
    finally:
        await shared.close()
        await engine.dispose()
    warnings = [r for r in caplog.records if "shared send schedule" in r.getMessage()]
    assert len(warnings) == 1


async def test_inserting_planned_messages_counts_only_the_new_keys(
    runtime: Runtime, clock: FakeClock
) -> None:
    _, learner = await people(runtime)
    policy = nudges.NudgePolicy()

    def planned(key: str) -> Planned:
        return nudges.planned_message(
            kind=nudges.CHECKIN, user_id=learner, key=key, due=clock.now, now=clock.now,
            policy=policy, meta={"week": "2026-W10"},
        )  # fmt: skip

    async with runtime.uow() as uow:
        assert await uow.scheduler.insert_planned([planned("a"), planned("b")]) == 2
        assert await uow.scheduler.insert_planned([planned("a"), planned("c")]) == 1
        assert await uow.scheduler.insert_planned([]) == 0
        await uow.commit()
    assert sorted(k for k in await rows(runtime) if len(k) == 1) == ["a", "b", "c"]
