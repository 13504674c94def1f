"""The planner's look ahead (`next_planning_day`, and `plan_ahead` as the rounds call it) gives
the same day as planning every day ahead in full would, for generated learners: their
preferences, pauses, signals, what earlier rounds planned, holidays and coaches. The reference
below is that plain way, kept as the judge of the quick one."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows import nudges
from flows import signals as S
from flows.nudges import Calendar, NudgePolicy, Plan, plan_learner
from storage.repositories import LearnerInfo, LearnerPrefs, SignalInfo

START = datetime(2026, 3, 2, 23, 15, tzinfo=UTC)  # 00:15 on Tuesday 3 March in Brussels
CALENDARS = {
    "none": Calendar(),
    # Easter holidays as a college sets them, and a long weekend.
    "easter": Calendar(
        [date(2026, 3, 30) + timedelta(days=n) for n in range(12)]
        + [date(2026, 3, 13), date(2026, 3, 16)]
    ),
}


def reference_day(
    learner: LearnerInfo,
    signals: Sequence[SignalInfo],
    plan: Plan,
    *,
    now: datetime,
    calendar: Calendar,
    policy: NudgePolicy,
    coach_id: int | None = None,
    coach_prefs: LearnerPrefs | None = None,
    counts: Mapping[str, int] | None = None,
    planned: Mapping[str, datetime | None] | None = None,
    notified: Collection[str] = (),
) -> date:
    """Plans each day ahead in full, with what the round read and planned, as the rounds of
    those days would see it; the first that gives anything."""
    tz = nudges.time_zone(learner.prefs, policy)
    known_signals = [*signals, *plan.signals]
    known_planned: dict[str, datetime | None] = dict(planned or {})
    known_counts: dict[str, int] = defaultdict(int, counts or {})
    known_notified = set(notified)
    for message in plan.messages:
        if message.kind in nudges.COACH_KINDS:
            known_notified.add(message.dedup_key)
            continue
        live = message.status != "held"
        known_planned[message.dedup_key] = message.due_at if live else None
        if live:
            known_counts[nudges.iso_week(message.due_at.astimezone(tz).date())] += 1
    programme = ZoneInfo(policy.timezone)
    local = now.astimezone(programme)
    moment = local.time().replace(microsecond=0)
    for ahead in range(1, nudges.LOOKAHEAD_DAYS + 1):
        day = local.date() + timedelta(days=ahead)
        at = nudges.local_moment(day, moment, programme)
        recent, lingering = at - timedelta(days=1), at - nudges.LINGER
        trial = plan_learner(
            learner,
            [s for s in known_signals if s.at >= at - nudges.HISTORY],
            now=at,
            calendar=calendar,
            policy=policy,
            coach_id=coach_id,
            coach_prefs=coach_prefs,
            counts=known_counts,
            planned={
                key: due
                for key, due in known_planned.items()
                if due is None
                or due >= (lingering if key.split(":", 1)[0] in nudges.LINGERING else recent)
            },
            notified=known_notified,
        )
        if trial.messages or trial.signals:
            return day
    return local.date() + timedelta(days=nudges.LOOKAHEAD_DAYS + 1)


WEEKS = [nudges.iso_week((START + timedelta(days=7 * n)).date()) for n in range(-4, 3)]


@st.composite
def situations(draw: st.DrawFn) -> dict[str, object]:
    now = START + timedelta(
        days=draw(st.integers(0, 40)), minutes=draw(st.sampled_from([0, 205, 530, 1095, 1415]))
    )
    pause = draw(st.sampled_from(["none", "until", "indefinitely"]))
    prefs = LearnerPrefs(
        user_id=7,
        goal_weekday=draw(st.integers(0, 6)),
        preferred_time=draw(st.sampled_from(["08:30", "12:00", "18:00", "20:45", "07:00"])),
        quiet_start=draw(st.sampled_from(["21:00", "22:30", "13:00"])),
        quiet_end=draw(st.sampled_from(["08:00", "07:00", "14:00"])),
        days_off=tuple(draw(st.sets(st.integers(0, 6), max_size=3))),
        pace=draw(st.sampled_from(["normal", "light"])),
        paused_until=(
            now + timedelta(hours=draw(st.integers(-100, 200))) if pause == "until" else None
        ),
        paused_indefinitely=pause == "indefinitely",
        timezone=draw(st.sampled_from([None, "Europe/Istanbul", "UTC"])),
    )
    created = now - timedelta(days=draw(st.integers(1, 90)))
    seen = draw(st.one_of(st.none(), st.integers(0, 40 * 24)))
    learner = LearnerInfo(
        id=7,
        language="nl",
        created_at=created,
        consent_at=created,
        last_seen_at=None if seen is None else now - timedelta(hours=seen),
        status="active",
        prefs=prefs,
        display_name="Samira",
    )
    signals = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(nudges.PLANNING_SIGNALS))
        at = now - timedelta(hours=draw(st.integers(0, 30 * 24)))
        details: dict[str, object] = {"week": nudges.iso_week(at.date())}
        if kind == S.INACTIVE:
            details = {"days": draw(st.sampled_from([14, 21]))}
        signals.append(SignalInfo(7, kind, at, details))
    signals.sort(key=lambda s: s.at)
    policy = NudgePolicy(
        spread_minutes=draw(st.sampled_from([0, 60])),
        holdout=draw(st.sampled_from([0.0, 0.0, 0.5])),
        long_break_days=draw(st.sampled_from([0, 5])),
    )
    calendar = CALENDARS[draw(st.sampled_from(sorted(CALENDARS)))]
    coach_id = draw(st.sampled_from([None, 900]))
    coach_prefs = draw(st.sampled_from([None, LearnerPrefs(user_id=900, preferred_time="07:30")]))
    # What earlier rounds planned: a round some days before, as the planner would have.
    earlier = now - timedelta(days=draw(st.integers(1, 6)))
    before = plan_learner(
        learner, signals, now=earlier, calendar=calendar, policy=policy, coach_id=coach_id
    )
    planned: dict[str, datetime | None] = {}
    notified: set[str] = set()
    for message in before.messages:
        if message.kind in nudges.COACH_KINDS:
            notified.add(message.dedup_key)
        elif draw(st.booleans()):
            cancelled = draw(st.integers(0, 4)) == 0 or message.status == "held"
            planned[message.dedup_key] = None if cancelled else message.due_at
    counts = {week: draw(st.integers(0, 5)) for week in draw(st.sets(st.sampled_from(WEEKS)))}
    return {
        "learner": learner,
        "signals": signals,
        "now": now,
        "calendar": calendar,
        "policy": policy,
        "coach_id": coach_id,
        "coach_prefs": coach_prefs,
        "counts": counts,
        "planned": planned,
        "notified": notified,
    }


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(situations())
def test_the_look_ahead_finds_the_day_planning_every_day_would(
    situation: dict[str, object],
) -> None:
    learner = situation.pop("learner")
    signals = situation.pop("signals")
    assert isinstance(learner, LearnerInfo) and isinstance(signals, list)
    plan = plan_learner(learner, signals, **situation)  # type: ignore[arg-type]
    quick = nudges.next_planning_day(learner, signals, plan, **situation)  # type: ignore[arg-type]
    plain = reference_day(learner, signals, plan, **situation)  # type: ignore[arg-type]
    assert quick == plain
    # The rounds' own call, which works out the facts and the silence once for both.
    assert nudges.plan_ahead(learner, signals, **situation) == (plan, quick)  # type: ignore[arg-type]
