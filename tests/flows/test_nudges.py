"""The nudge planner and the send-time checks: local time across daylight saving, quiet
hours, holidays, pauses, the weekly limit, the inactivity ladder and wording variants."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flows import nudges
from flows import signals as S
from flows.i18n import Translator
from flows.nudges import Calendar, NudgePolicy, next_allowed, plan_learner
from storage.models import Group, Membership, Preferences, User
from storage.repositories import LearnerInfo, SignalInfo
from tests.fakes import ChatDriver, FakeClock, FakeUnitOfWork, fake_engine

#: Exact times in these tests: no spreading over a window (tested on its own below).
POLICY = NudgePolicy(spread_minutes=0)
BRUSSELS = ZoneInfo("Europe/Brussels")


def learner(**prefs: object) -> LearnerInfo:
    seen = prefs.pop("last_seen_at", None)
    return LearnerInfo(
        id=7,
        language="nl",
        created_at=datetime(2026, 1, 5, tzinfo=UTC),
        consent_at=datetime(2026, 1, 5, tzinfo=UTC),
        last_seen_at=seen if isinstance(seen, datetime) else None,
        status="active",
        prefs=Preferences(user_id=7, **prefs),  # type: ignore[arg-type]
        display_name="Samira",
    )


def kinds(plan: nudges.Plan) -> dict[str, datetime]:
    return {m.kind: m.due_at for m in plan.messages}


def plan_at(
    now: datetime, who: LearnerInfo, signals: list[SignalInfo] | None = None, **kw: object
) -> nudges.Plan:
    return plan_learner(
        who,
        signals or [],
        now=now,
        calendar=kw.pop("calendar", Calendar()),  # type: ignore[arg-type]
        policy=POLICY,
        **kw,  # type: ignore[arg-type]
    )


def test_goal_prompt_keeps_local_time_across_daylight_saving() -> None:
    seen = {"last_seen_at": datetime(2026, 3, 22, 9, tzinfo=UTC)}
    before = plan_at(datetime(2026, 3, 23, 6, tzinfo=UTC), learner(**seen))
    after = plan_at(
        datetime(2026, 3, 30, 6, tzinfo=UTC),
        learner(last_seen_at=datetime(2026, 3, 29, 9, tzinfo=UTC)),
    )
    # 18:00 in Brussels: CET (UTC+1) before 29 March, CEST (UTC+2) after.
    assert kinds(before)[nudges.GOAL_PROMPT] == datetime(2026, 3, 23, 17, tzinfo=UTC)
    assert kinds(after)[nudges.GOAL_PROMPT] == datetime(2026, 3, 30, 16, tzinfo=UTC)
    autumn = plan_at(
        datetime(2026, 10, 26, 6, tzinfo=UTC),
        learner(last_seen_at=datetime(2026, 10, 25, 9, tzinfo=UTC)),
    )
    assert kinds(autumn)[nudges.GOAL_PROMPT] == datetime(2026, 10, 26, 17, tzinfo=UTC)


def test_wall_times_skipped_or_doubled_by_the_clock_change() -> None:
    brussels = ZoneInfo("Europe/Brussels")
    skipped = nudges.local_moment(date(2026, 3, 29), time(2, 30), brussels)
    assert skipped == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST, after the gap
    doubled = nudges.local_moment(date(2026, 10, 25), time(2, 30), brussels)
    assert doubled == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # the first 02:30


def test_quiet_hours_on_the_daylight_saving_nights() -> None:
    cal = Calendar()
    # 00:30 UTC on 29 March is 01:30 CET, in the quiet hours: wait until 08:00 CEST.
    assert next_allowed(datetime(2026, 3, 29, 0, 30, tzinfo=UTC), None, cal, POLICY) == datetime(
        2026, 3, 29, 6, tzinfo=UTC
    )
    # 25 October: 08:00 is CET again, 07:00 UTC.
    assert next_allowed(datetime(2026, 10, 24, 20, 30, tzinfo=UTC), None, cal, POLICY) == datetime(
        2026, 10, 25, 7, tzinfo=UTC
    )
    # Quiet hours the learner set: 22:00 to 07:00; 22:30 local waits until 07:00.
    prefs = Preferences(user_id=1, quiet_start="22:00", quiet_end="07:00")
    assert next_allowed(datetime(2026, 3, 3, 21, 30, tzinfo=UTC), prefs, cal, POLICY) == datetime(
        2026, 3, 4, 6, tzinfo=UTC
    )
    assert next_allowed(datetime(2026, 3, 3, 20, 30, tzinfo=UTC), prefs, cal, POLICY) == (
        datetime(2026, 3, 3, 20, 30, tzinfo=UTC)
    )


def test_public_and_programme_holidays_and_days_off_move_the_prompt() -> None:
    seen = datetime(2026, 4, 5, 9, tzinfo=UTC)
    # Easter Monday 6 April 2026 is a Belgian public holiday: the prompt moves to Tuesday.
    plan = plan_at(datetime(2026, 4, 6, 6, tzinfo=UTC), learner(last_seen_at=seen))
    assert kinds(plan)[nudges.GOAL_PROMPT] == datetime(2026, 4, 7, 16, tzinfo=UTC)
    # A programme holiday on the Tuesday and Wednesday off: Thursday, out of the horizon.
    cal = Calendar([date(2026, 4, 7)])
    plan = plan_at(
        datetime(2026, 4, 6, 6, tzinfo=UTC), learner(last_seen_at=seen, days_off=[2]), calendar=cal
    )
    assert kinds(plan)[nudges.GOAL_PROMPT] == datetime(2026, 4, 9, 16, tzinfo=UTC)


def test_first_working_day_after_a_long_holiday_brings_a_welcome_back() -> None:
    cal = Calendar([date(2026, 12, 21) + timedelta(days=n) for n in range(14)])
    assert cal.after_long_break(date(2027, 1, 4), length=5)
    assert not cal.after_long_break(date(2026, 3, 3), length=5)
    plan = plan_at(
        datetime(2027, 1, 4, 6, tzinfo=UTC),
        learner(last_seen_at=datetime(2027, 1, 3, 9, tzinfo=UTC), goal_weekday=3),
        calendar=cal,
    )
    assert nudges.WELCOME_BACK in kinds(plan)


def test_pause_plans_nothing_and_its_end_brings_a_welcome_back() -> None:
    now = datetime(2026, 3, 9, 6, tzinfo=UTC)
    seen = datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert (
        plan_at(now, learner(last_seen_at=seen, paused_until=now + timedelta(days=3))).messages
        == []
    )
    assert plan_at(now, learner(last_seen_at=seen, paused_indefinitely=True)).messages == []
    ended = plan_at(now, learner(last_seen_at=seen, paused_until=now - timedelta(days=1)))
    assert nudges.WELCOME_BACK in kinds(ended)


def test_checkin_lookback_and_reflection_follow_the_signals() -> None:
    seen = datetime(2026, 3, 2, 9, tzinfo=UTC)
    goal = SignalInfo(7, S.GOAL_SET, seen, {"week": "2026-W10", "goal_id": 1})
    wednesday = datetime(2026, 3, 4, 6, tzinfo=UTC)
    assert nudges.GOAL_PROMPT not in kinds(
        plan_at(datetime(2026, 3, 2, 6, tzinfo=UTC), learner(last_seen_at=seen), [goal])
    )
    plan = plan_at(wednesday, learner(last_seen_at=seen), [goal])
    assert set(kinds(plan)) == {nudges.CHECKIN}
    reached = SignalInfo(7, S.GOAL_REACHED, seen + timedelta(days=1), {"week": "2026-W10"})
    assert nudges.CHECKIN not in kinds(
        plan_at(wednesday, learner(last_seen_at=seen), [goal, reached])
    )
    no_time = SignalInfo(7, S.CHECKIN_NO_TIME, seen + timedelta(days=1), {"week": "2026-W10"})
    assert nudges.CHECKIN not in kinds(
        plan_at(wednesday, learner(last_seen_at=seen), [goal, no_time])
    )
    friday = datetime(2026, 3, 6, 6, tzinfo=UTC)
    assert nudges.LOOKBACK in kinds(plan_at(friday, learner(last_seen_at=seen), [goal]))
    # Two days after the goal was reached (3 March): a reflection reminder on 5 March.
    plan = plan_at(
        datetime(2026, 3, 5, 6, tzinfo=UTC), learner(last_seen_at=seen), [goal, reached]
    )
    assert plan.messages[0].payload["buttons"] == [["Write a reflection", "reflect"]]
    saved = SignalInfo(7, S.REFLECTION_SAVED, seen + timedelta(days=1, hours=2), {})
    later = plan_at(
        datetime(2026, 3, 5, 6, tzinfo=UTC), learner(last_seen_at=seen), [goal, reached, saved]
    )
    assert nudges.REFLECT not in kinds(later)


def test_a_late_goal_day_carries_the_check_in_into_the_next_week() -> None:
    seen = datetime(2026, 3, 6, 9, tzinfo=UTC)
    goal = SignalInfo(7, S.GOAL_SET, seen, {"week": "2026-W10", "goal_id": 1})
    who = learner(last_seen_at=seen, goal_weekday=4)  # goals on Friday
    sunday = plan_at(datetime(2026, 3, 8, 6, tzinfo=UTC), who, [goal])
    assert [(m.kind, m.payload["meta"]) for m in sunday.messages] == [
        (nudges.CHECKIN, {"week": "2026-W10"})
    ]
    tuesday = plan_at(datetime(2026, 3, 10, 6, tzinfo=UTC), who, [goal])
    assert [m.dedup_key for m in tuesday.messages] == ["lookback:7:2026-W10"]


def test_weekly_limit_and_a_lighter_pace_in_june() -> None:
    seen = datetime(2026, 3, 1, 9, tzinfo=UTC)
    monday = datetime(2026, 3, 9, 6, tzinfo=UTC)
    assert plan_at(monday, learner(last_seen_at=seen), counts={"2026-W11": 4}).messages == []
    assert plan_at(monday, learner(last_seen_at=seen), counts={"2026-W11": 3}).messages
    assert nudges.weekly_limit(Preferences(user_id=1), 6, POLICY) == 2
    assert nudges.weekly_limit(Preferences(user_id=1, pace="light"), 3, POLICY) == 2
    assert nudges.weekly_limit(Preferences(user_id=1, pace="light"), 12, POLICY) == 1


def test_variants_are_seeded_and_the_holdout_is_held() -> None:
    keys = [f"goal_prompt:{n}:2026-W10" for n in range(60)]
    first = [nudges.choose_variant(nudges.GOAL_PROMPT, n, k, POLICY) for n, k in enumerate(keys)]
    again = [nudges.choose_variant(nudges.GOAL_PROMPT, n, k, POLICY) for n, k in enumerate(keys)]
    assert first == again and set(first) == {"a", "b", "c"}
    policy = NudgePolicy(holdout=0.5)
    chosen = [nudges.choose_variant(nudges.GOAL_PROMPT, n, k, policy) for n, k in enumerate(keys)]
    assert 10 < chosen.count("holdout") < 50
    held = plan_learner(
        learner(last_seen_at=datetime(2026, 3, 8, tzinfo=UTC)),
        [],
        now=datetime(2026, 3, 9, 6, tzinfo=UTC),
        calendar=Calendar(),
        policy=NudgePolicy(holdout=0.5, seed="x"),
    )
    assert [(m.status == "held") == (m.variant == "holdout") for m in held.messages] == [True]


async def test_inactivity_ladder_flags_the_coach_once(tmp_path: Path) -> None:
    uow = FakeUnitOfWork()
    coach = await uow.users.add(User(channel="t", external_id="c", language="fr", role="coach"))
    group = await uow.groups.add(Group(name="A", coach_id=coach.id, join_code="j"))
    seen = datetime(2026, 3, 1, 9, tzinfo=UTC)
    samira = await uow.users.add(
        User(
            channel="t",
            external_id="s",
            language="nl",
            consent_version=1,
            status="active",
            display_name="Samira",
            last_seen_at=seen,
        )
    )
    await uow.memberships.add(Membership(group_id=group.id, learner_id=samira.id))

    async def run(day: int) -> list[str]:
        before = len(uow.outbox.rows)
        await nudges.run_planning(uow, now=datetime(2026, 3, day, 7, tzinfo=UTC), policy=POLICY)
        return [m.kind for m in uow.outbox.rows[before:]]

    assert nudges.INACTIVE_7 in await run(8)
    assert await run(8) == []  # planning twice plans nothing twice
    assert {nudges.INACTIVE_14, nudges.COACH_INACTIVE_14} <= set(await run(15))
    assert await run(16) == []
    at_21 = await run(22)  # a Sunday: Monday's goal prompt is planned too
    assert nudges.COACH_INACTIVE_21 in at_21 and nudges.INACTIVE_14 not in at_21
    flags = [s.details["days"] for s in uow.signals.rows if s.kind == S.INACTIVE]
    assert flags == [14, 21]
    notice = next(m for m in uow.outbox.rows if m.kind == nudges.COACH_INACTIVE_14)
    assert notice.user_id == coach.id and notice.payload["params"] == {"name": "Samira"}
    assert notice.payload["buttons"] == [
        ["Write a message", f"message {samira.id}"],
        ["Who needs attention", f"atrisk {samira.id}"],
    ]


def test_one_nudge_a_day_a_silent_learner_hears_we_miss_you_first() -> None:
    monday = datetime(2026, 3, 16, 6, tzinfo=UTC)
    who = learner(last_seen_at=monday - timedelta(days=7, hours=1))
    plan = plan_at(monday, who)
    due = {m.kind: m.due_at.astimezone(BRUSSELS).date() for m in plan.messages}
    assert due[nudges.INACTIVE_7] == date(2026, 3, 16)
    assert due[nudges.GOAL_PROMPT] == date(2026, 3, 17)
    # A learner who wrote yesterday gets the routine goal prompt on its day.
    active = plan_at(monday, learner(last_seen_at=monday - timedelta(days=1)))
    assert nudges.GOAL_PROMPT in kinds(active) and nudges.INACTIVE_7 not in kinds(active)


async def test_a_learner_whose_only_message_day_is_monday_hears_we_miss_you_first() -> None:
    """Days off Tuesday to Sunday, silent since 1 March, three weeks of daily planning: the
    first Monday a week after the silence brings "we miss you", not the routine goal prompt,
    and no Monday brings two messages."""
    uow = FakeUnitOfWork()
    coach = await uow.users.add(User(channel="t", external_id="c", language="fr", role="coach"))
    group = await uow.groups.add(Group(name="A", coach_id=coach.id, join_code="j"))
    samira = await uow.users.add(
        User(
            channel="t",
            external_id="s",
            language="nl",
            consent_version=1,
            status="active",
            display_name="Samira",
            last_seen_at=datetime(2026, 3, 1, 9, tzinfo=UTC),
        )
    )
    await uow.memberships.add(Membership(group_id=group.id, learner_id=samira.id))
    await uow.preferences.add(Preferences(user_id=samira.id, days_off=[1, 2, 3, 4, 5, 6]))
    for day in range(2, 24):  # 00:15 Brussels time, every day
        now = datetime(2026, 3, day, 23, 15, tzinfo=UTC) - timedelta(days=1)
        await nudges.run_planning(uow, now=now, policy=NudgePolicy())
    to_her = [m for m in uow.outbox.rows if m.user_id == samira.id]
    days = [m.due_at.astimezone(BRUSSELS).date() for m in to_her]
    assert all(d.weekday() == 0 for d in days) and len(days) == len(set(days))
    by_kind = {m.kind: m.due_at.astimezone(BRUSSELS).date() for m in to_her}
    assert by_kind[nudges.INACTIVE_7] == date(2026, 3, 9)
    assert by_kind[nudges.INACTIVE_14] == date(2026, 3, 16)


def test_nudges_are_spread_over_a_window_at_a_stable_offset_per_learner() -> None:
    policy = NudgePolicy()  # the default: a 60-minute window around the preferred time
    monday = datetime(2026, 3, 16, 6, tzinfo=UTC)
    due = []
    for uid in range(1, 401):
        who = replace(learner(last_seen_at=monday - timedelta(days=1)), id=uid)
        plan = plan_learner(who, [], now=monday, calendar=Calendar(), policy=policy)
        due.append(kinds(plan)[nudges.GOAL_PROMPT])
    # 18:00 Brussels is 17:00 UTC: all within half an hour either side, never all at once.
    earliest, latest = (datetime(2026, 3, 16, h, m, tzinfo=UTC) for h, m in ((16, 30), (17, 30)))
    assert all(earliest <= d < latest for d in due)
    per_second = Counter(due)
    assert max(per_second.values()) <= 3 and len(per_second) > 300
    again = plan_learner(
        replace(learner(last_seen_at=monday - timedelta(days=1)), id=1),
        [],
        now=monday,
        calendar=Calendar(),
        policy=policy,
    )
    assert kinds(again)[nudges.GOAL_PROMPT] == due[0]  # stable: the same offset every time


def test_spread_keeps_quiet_hours_and_moves_with_them() -> None:
    policy = NudgePolicy()
    cal = Calendar()
    prefs = Preferences(user_id=1, quiet_start="22:00", quiet_end="07:00")
    # 23:00 local (22:00 UTC): everyone waits for 07:00, each at their own offset after it.
    moments = {
        next_allowed(
            datetime(2026, 3, 3, 22, tzinfo=UTC),
            prefs,
            cal,
            policy,
            spread=nudges.spread_offset(uid, policy),
        )
        for uid in range(200)
    }
    start = datetime(2026, 3, 4, 6, tzinfo=UTC)
    assert all(m is not None and start <= m < start + timedelta(hours=1) for m in moments)
    assert len(moments) > 150
    # A preferred time inside the quiet hours never lands inside them.
    late = learner(
        last_seen_at=datetime(2026, 3, 15, 9, tzinfo=UTC),
        preferred_time="06:45",
        quiet_start="22:00",
        quiet_end="07:00",
    )
    for uid in range(50):
        plan = plan_learner(
            replace(late, id=uid),
            [],
            now=datetime(2026, 3, 16, 0, 15, tzinfo=UTC),
            calendar=cal,
            policy=policy,
        )
        local = kinds(plan)[nudges.GOAL_PROMPT].astimezone(BRUSSELS).time()
        assert time(7) <= local < time(8)


async def test_pause_and_resume_through_the_flow(tmp_path: Path) -> None:
    clock = FakeClock()
    engine, uow = fake_engine(tmp_path, clock=clock)
    chat = ChatDriver(engine, language="en")
    await chat.command("start")
    await chat.press("Yes, I agree")
    await chat.text("Samira")
    await chat.command("pause")
    await chat.press("2 weeks")
    assert "I will write again after" in chat.said
    prefs = await uow.preferences.get(1)
    assert prefs is not None and prefs.paused_until == clock.now + timedelta(weeks=2)
    assert uow.users.rows[1].status == "paused"
    await chat.command("pause")
    assert "paused until" in chat.said
    await chat.press("Start my messages again")
    assert prefs.paused_until is None and uow.users.rows[1].status == "active"
    # A pause that runs out ends by itself when the planner runs, with a welcome back.
    await chat.command("pause")
    await chat.press("1 week")
    clock.advance(days=8)
    await nudges.run_planning(uow, now=clock.now, policy=POLICY)
    assert uow.users.rows[1].status == "active"
    assert nudges.WELCOME_BACK in [m.kind for m in uow.outbox.rows]
    assert [s.kind for s in uow.signals.rows if s.kind in (S.PAUSED, S.RESUMED)] == [
        S.PAUSED,
        S.RESUMED,
        S.PAUSED,
        S.RESUMED,
    ]


async def test_settings_change_days_time_quiet_hours_and_pace(tmp_path: Path) -> None:
    engine, uow = fake_engine(tmp_path)
    chat = ChatDriver(engine, language="en")
    await chat.command("start")
    await chat.press("Yes, I agree")
    await chat.text("Samira")
    await chat.command("settings")
    await chat.press("Days off")
    await chat.press("Wednesday")
    await chat.press("Done")
    await chat.press("Time")
    await chat.text("23:15")
    assert "That time is in your quiet hours" in chat.said
    await chat.text("19:30")
    await chat.press("Quiet hours")
    await chat.text("nonsense")
    assert "Please type two times" in chat.said
    await chat.text("22:00-07:30")
    await chat.press("Pace")
    await chat.press("Light: up to 2 messages a week")
    assert "Days off: Wednesday" in chat.said and "Pace: light" in chat.said
    await chat.press("Language")
    assert "Choose your language." in chat.said
    prefs = await uow.preferences.get(1)
    assert prefs is not None
    assert (prefs.days_off, prefs.preferred_time, prefs.quiet_start, prefs.quiet_end) == (
        [2],
        "19:30",
        "22:00",
        "07:30",
    )
    assert prefs.pace == "light"


async def test_a_reply_after_a_nudge_counts_as_an_answer(tmp_path: Path) -> None:
    clock = FakeClock()
    engine, uow = fake_engine(tmp_path, clock=clock)
    chat = ChatDriver(engine, language="en")
    await chat.command("start")
    message = nudges.message_for(
        kind=nudges.CHECKIN, user_id=1, key="k", due=clock.now, now=clock.now, policy=POLICY
    )
    await uow.outbox.add(message)
    clock.advance(hours=1)
    await nudges.record_sent_many(uow, {message.id: None}, now=clock.now)
    assert any(s.kind == S.NUDGE_SENT for s in uow.signals.rows)
    clock.advance(hours=3)
    await chat.text("hello")
    assert message.answered_at == clock.now
    rows = await uow.scheduler.report(kinds=nudges.NUDGE_KINDS)
    assert [(r.kind, r.sent, r.answered) for r in rows] == [(nudges.CHECKIN, 1, 1)]


def test_render_translates_text_and_buttons() -> None:
    message = nudges.message_for(
        kind=nudges.COACH_INACTIVE_14,
        user_id=1,
        key="k",
        due=datetime(2026, 3, 3, tzinfo=UTC),
        now=datetime(2026, 3, 3, tzinfo=UTC),
        policy=POLICY,
        name="Samira",
    )
    reply = nudges.render(message, Translator("en"))
    assert reply.text.startswith("Samira has not answered for two weeks.")
    prompt = nudges.message_for(
        kind=nudges.GOAL_PROMPT,
        user_id=1,
        key="g",
        due=datetime(2026, 3, 3, tzinfo=UTC),
        now=datetime(2026, 3, 3, tzinfo=UTC),
        policy=POLICY,
    )
    reply = nudges.render(prompt, Translator("en"))
    assert [(b.label, b.data) for b in reply.flat_buttons] == [("Set my goal", "/goal")]


def test_a_coach_who_just_had_contact_is_not_told_again() -> None:
    monday = datetime(2026, 3, 16, 6, tzinfo=UTC)
    who = learner(last_seen_at=monday - timedelta(days=15))
    called = SignalInfo(7, S.COACH_CONTACT, monday - timedelta(days=2), {"how": "called"})
    assert nudges.COACH_INACTIVE_14 in kinds(plan_at(monday, who, coach_id=3))
    quiet = plan_at(monday, who, [called], coach_id=3)
    assert nudges.COACH_INACTIVE_14 not in kinds(quiet)
    assert nudges.INACTIVE_14 in kinds(quiet)  # the learner still hears from Opstap
    long_ago = SignalInfo(7, S.COACH_CONTACT, monday - timedelta(days=9), {"how": "called"})
    assert nudges.COACH_INACTIVE_14 in kinds(plan_at(monday, who, [long_ago], coach_id=3))


def test_a_coach_notice_already_planned_is_not_built_again() -> None:
    monday = datetime(2026, 3, 16, 6, tzinfo=UTC)
    who = learner(last_seen_at=monday - timedelta(days=15))
    first = plan_at(monday, who, coach_id=3)
    notice = next(m for m in first.messages if m.kind == nudges.COACH_INACTIVE_14)
    again = plan_at(monday + timedelta(days=1), who, coach_id=3, notified={notice.dedup_key})
    assert nudges.COACH_INACTIVE_14 not in kinds(again)
    assert nudges.INACTIVE_14 in kinds(again)  # the learner's own nudge is planned as before
