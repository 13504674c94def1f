"""Nudge policy: which learner hears what and when, and whether a message may go out now.

The planner is pure logic over signals, preferences and users: `plan_learner` decides for one
learner, `run_planning` runs it over every learner in batches (set-based reads, one bulk insert
per batch). Every planned message carries a dedup key per learner, kind and period, so planning
twice plans nothing twice. Each round also finds every learner's next planning day by planning
the days ahead (`next_planning_day`; `plan_ahead` does both for a round); the daily rounds read
only the learners whose day came or whose data changed since (storage's `PlanningState`), the
first round of a process all of them. Times are computed in the learner's local wall time
(their own time zone, or the programme's) and stored in UTC.

At send time the dispatcher asks `decide` whether a claimed message may go now: it may have
expired, become pointless (the goal was set meanwhile) or fall in quiet hours, a day off, a
holiday or a pause (then it is deferred, never sent at night). `record_sent_many`,
`record_blocked` and friends store what happened.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

import holidays

from flows import signals as S
from flows.i18n import N_, Translator
from flows.messages import Button, Origin, Reply
from storage.models import OutboxMessage, Preferences, Signal, User
from storage.repositories import LearnerInfo, LearnerPrefs, Planned, SignalInfo, payload
from storage.uow import UnitOfWork

# -- kinds ------------------------------------------------------------------------------------
GOAL_PROMPT = "goal_prompt"
CHECKIN = "checkin"
LOOKBACK = "lookback"
REFLECT = "reflect_reminder"
INACTIVE_7 = "inactive_7"
INACTIVE_14 = "inactive_14"
WELCOME_BACK = "welcome_back"
COACH_INACTIVE_14 = "coach_inactive_14"
COACH_INACTIVE_21 = "coach_inactive_21"
COACH_BLOCKED = "coach_blocked"

#: Nudges to learners, in order of priority when the weekly limit is reached.
NUDGE_KINDS: tuple[str, ...] = (
    WELCOME_BACK,
    GOAL_PROMPT,
    INACTIVE_14,
    INACTIVE_7,
    REFLECT,
    CHECKIN,
    LOOKBACK,
)
#: The same for a learner who has been silent for a week or more: being missed comes first.
SILENT_ORDER: tuple[str, ...] = (
    WELCOME_BACK,
    INACTIVE_14,
    INACTIVE_7,
    GOAL_PROMPT,
    REFLECT,
    CHECKIN,
    LOOKBACK,
)
_RANK = {kind: n for n, kind in enumerate(NUDGE_KINDS)}
_SILENT_RANK = {kind: n for n, kind in enumerate(SILENT_ORDER)}
#: Notices to a coach about a learner; they go as one digest per coach and day.
COACH_KINDS: tuple[str, ...] = (COACH_INACTIVE_14, COACH_INACTIVE_21, COACH_BLOCKED)

#: Several wordings per kind, so the weekly message is not the same text every week.
VARIANTS: dict[str, dict[str, str]] = {
    GOAL_PROMPT: {
        "a": N_("A new week! What is one small thing you want to learn or try at work?"),
        "b": N_("Time to choose this week's goal. One small step is enough."),
        "c": N_("What will you practise at work this week? Choose one small goal."),
    },
    CHECKIN: {
        "a": N_("How is your goal going this week? Tell me in a few words."),
        "b": N_("Halfway through the week! Did you already work on your goal?"),
    },
    LOOKBACK: {
        "a": N_("The week is almost over. How did your goal go?"),
        "b": N_("Time to look back: did you reach this week's goal?"),
    },
    REFLECT: {
        "a": N_("Well done on reaching your goal! Do you want to write a short reflection?"),
        "b": N_("You reached your goal. What did you learn? A short reflection helps you."),
    },
    INACTIVE_7: {
        "a": N_(
            "I have not heard from you for a week. Is everything OK? One small step is enough."
        ),
        "b": N_(
            "Hello! Do you have five minutes for your learning this week? One small step is"
            " enough."
        ),
    },
    INACTIVE_14: {
        "a": N_("It has been two weeks. Busy times happen. Do you want to go on, or pause?"),
        "b": N_("Your learning group is still there for you. Shall we start with one small goal?"),
    },
    WELCOME_BACK: {
        "a": N_("Welcome back! Nice to see you again. Shall we choose a small goal?"),
        "b": N_("Good to have you back! Let us start again with one small step."),
    },
    COACH_INACTIVE_14: {
        "a": N_(
            "{name} has not answered for two weeks. Maybe send them a short personal message?"
        ),
    },
    COACH_INACTIVE_21: {
        "a": N_(
            "{name} has not answered for three weeks. Please call them, or ask their employer"
            " for help."
        ),
    },
    COACH_BLOCKED: {
        "a": N_(
            "{name} has blocked Opstap, so my messages no longer reach them. Please contact"
            " them another way."
        ),
    },
}

_SORTED_VARIANTS = {kind: sorted(wordings) for kind, wordings in VARIANTS.items()}

#: Wordings no longer planned, kept in the catalogs so that rows already queued with them are
#: still sent in the learner's language.
RETIRED = (N_("I miss you! Do you have five minutes for your learning this week?"),)

SET_GOAL = [N_("Set my goal"), "goal"]
BUTTONS: dict[str, list[list[str]]] = {
    GOAL_PROMPT: [SET_GOAL],
    CHECKIN: [[N_("Check in"), "checkin"]],
    LOOKBACK: [[N_("Look back"), "goal"]],
    REFLECT: [[N_("Write a reflection"), "reflect"]],
    INACTIVE_7: [SET_GOAL],
    INACTIVE_14: [SET_GOAL, [N_("Pause for a while"), "pause"]],
    WELCOME_BACK: [SET_GOAL],
}


def coach_buttons(learner_id: int) -> list[list[str]]:
    """A coach notice's buttons: write to the learner, or open their one-tap actions."""
    return [
        [N_("Write a message"), f"message {learner_id}"],
        [N_("Who needs attention"), f"atrisk {learner_id}"],
    ]


LOOKBACK_SIGNALS = (S.GOAL_REACHED, S.GOAL_PARTLY, S.GOAL_MISSED)
#: A check-in the learner already did this week (the goals flow records these two answers).
CHECKIN_SIGNALS = (S.CHECKIN_NO_TIME, S.CHECKIN_STUCK)
#: Signals the planner reads, and how far back.
PLANNING_SIGNALS = (
    S.GOAL_SET,
    S.GOAL_REACHED,
    S.GOAL_PARTLY,
    S.GOAL_MISSED,
    S.REFLECTION_SAVED,
    S.INACTIVE,
    S.COACH_CONTACT,
    *CHECKIN_SIGNALS,
)
#: A coach who had contact this recently is not told again that the learner is silent.
COACH_CONTACT_QUIET = timedelta(days=7)
HISTORY = timedelta(days=21)
#: Nudges whose key comes back day after day until the learner acts (the inactivity ladder, a
#: reflection after a reached goal): planning reads their keys this far back, so that it does
#: not build them again every day.
LINGERING = (INACTIVE_7, INACTIVE_14, REFLECT)
LINGER = timedelta(days=14)
#: How many days ahead the planner looks for a learner's next planning day; a learner with
#: nothing in sight then is read again the day after.
LOOKAHEAD_DAYS = 8
HOLDOUT = "holdout"
BATCH = 2000  # learners per planning batch (and per transaction in the bot)


@dataclass(frozen=True)
class NudgePolicy:
    """The knobs of the scheduler."""

    timezone: str = "Europe/Brussels"
    weekly_limit: int = 4  # nudges per learner per week, normal pace
    light_limit: int = 2  # at a light pace
    busy_months: frozenset[int] = frozenset({6, 12})  # June and December: half as many
    holdout: float = 0.0  # share of learners per kind who get no nudge (for comparison)
    seed: str = "opstap"
    horizon_days: int = 2  # today and tomorrow; the planner runs daily
    country: str = "BE"
    long_break_days: int = 5  # a break this long (with holidays in it) earns a welcome back
    #: A learner's nudges fall in a window this long around their preferred time, at a stable
    #: offset per learner, so that thousands of learners are not all due in the same second.
    spread_minutes: int = 60
    #: Coach notices come as one digest a day, at the coach's preferred time (this one when
    #: they set none), spread over this many minutes between coaches.
    digest_time: str = "09:00"
    digest_spread_minutes: int = 30


def fingerprint(policy: NudgePolicy) -> str:
    """What the learners' planning days depend on besides their data: the policy, the code
    of the planner and of what it reads (as loaded by this process), and the public
    holidays it knows. A round that finds another fingerprint than the last round's reads
    every learner again."""
    return hashlib.sha256(f"{policy!r} {_CODE}".encode()).hexdigest()


def _code_digest(*names: str) -> str:
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256(holidays.__version__.encode())
    for name in names:
        digest.update((root / name).read_bytes())
    return digest.hexdigest()


#: The code whose change may move a learner's planning day, read when it was imported (an
#: upgrade on disk under a running process does not change what that process runs).
_CODE = _code_digest("flows/nudges.py", "flows/signals.py", "storage/repositories/scheduler.py")


# -- time -------------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def parse_hhmm(value: str) -> time | None:
    """ "18:30" -> time(18, 30); None when it is not a time of day."""
    hours, sep, minutes = value.strip().replace(".", ":").partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2:
        return None
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        return None
    return time(h, m)


@lru_cache(maxsize=8192)
def local_moment(day: date, at: time, tz: ZoneInfo) -> datetime:
    """A wall-clock time on a local day, in UTC. A time the spring clock change skips is read
    with the offset before the change, so it lands after the gap (02:30 -> 03:30); a time
    that occurs twice in autumn is the first one. (Cached: learners share a few times.)"""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


@lru_cache(maxsize=4096)
def iso_week(day: date) -> str:
    """The ISO week of a day ("2026-W10"); cached, as the planner asks for the same few weeks
    for every learner."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def in_quiet_hours(at: time, start: time, end: time) -> bool:
    """Whether a local time of day falls in the quiet hours (which may span midnight)."""
    if start == end:
        return False
    if start < end:
        return start <= at < end
    return at >= start or at < end


class Calendar:
    """Belgian public holidays (the `holidays` package) and programme holidays."""

    def __init__(self, programme_days: Iterable[date] = (), *, country: str = "BE") -> None:
        self.public = holidays.country_holidays(country)
        self.programme = frozenset(programme_days)
        self._cache: dict[date, bool] = {}
        self._breaks: dict[tuple[date, int], bool] = {}
        self._ended: dict[tuple[date, int, int] | None, frozenset[date]] = {}

    def is_holiday(self, day: date) -> bool:
        known = self._cache.get(day)
        if known is None:
            known = self._cache[day] = day in self.programme or day in self.public
        return known

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and not self.is_holiday(day)

    def after_long_break(self, day: date, *, length: int) -> bool:
        """Whether `day` is the first working day after at least `length` days off that hold
        at least one holiday (a long weekend is not enough)."""
        known = self._breaks.get((day, length))
        if known is None:
            known = self._breaks[(day, length)] = self._after_long_break(day, length)
        return known

    def breaks_ended(self, days: Sequence[_Day], length: int) -> frozenset[date]:
        """Those of a horizon's days that are `after_long_break` (none when `length` is 0);
        cached per horizon (the planner asks for the same few for every learner)."""
        key = (days[0].day, len(days), length) if days else None
        known = self._ended.get(key)
        if known is None:
            known = self._ended[key] = frozenset(
                slot.day
                for slot in days
                if length and self.after_long_break(slot.day, length=length)
            )
        return known

    def _after_long_break(self, day: date, length: int) -> bool:
        if not self.is_working_day(day):
            return False
        previous = [day - timedelta(days=n) for n in range(1, length + 1)]
        if any(self.is_working_day(d) for d in previous):
            return False
        return sum(self.is_holiday(d) for d in previous) >= 2


async def load_calendar(uow: UnitOfWork, *, around: date, country: str = "BE") -> Calendar:
    """The calendar with the programme holidays of the weeks around a day."""
    rows = await uow.scheduler.holidays(
        start=around - timedelta(days=45), end=around + timedelta(days=45)
    )
    return Calendar([row.day for row in rows], country=country)


def time_zone(prefs: Preferences | LearnerPrefs | None, policy: NudgePolicy) -> ZoneInfo:
    return ZoneInfo((prefs.timezone if prefs else None) or policy.timezone)


def paused(prefs: Preferences | LearnerPrefs | None, at: datetime) -> bool:
    if prefs is None:
        return False
    return prefs.paused_indefinitely or (
        prefs.paused_until is not None and at < prefs.paused_until
    )


def spread_offset(user_id: int, policy: NudgePolicy, *, minutes: int | None = None) -> timedelta:
    """A recipient's stable place in the sending window: whole seconds in [0, minutes)."""
    window = policy.spread_minutes if minutes is None else minutes
    return _offset(policy.seed, user_id, window)


@lru_cache(maxsize=2**17)
def _offset(seed: str, user_id: int, minutes: int) -> timedelta:
    """(Cached: every daily round asks it again for every learner.)"""
    return timedelta(seconds=int(_unit(seed, "spread", user_id) * minutes * 60))


def next_allowed(
    when: datetime,
    prefs: Preferences | LearnerPrefs | None,
    calendar: Calendar,
    policy: NudgePolicy,
    *,
    days_off: bool = True,
    latest: date | None = None,
    spread: timedelta = timedelta(0),
    pauses: bool | None = None,
) -> datetime | None:
    """The first moment at or after `when` outside quiet hours, days off, holidays and pauses
    (`days_off=False` checks quiet hours only, for coaches; `pauses` whether a pause holds it,
    by default as `days_off`); None when it is after `latest`
    (a local date) or the learner paused without an end. Where it has to move to the end of
    quiet hours, of a pause or of a day off, it adds `spread` (the recipient's offset), so
    that those who wait for the same moment do not all get it in the same second."""
    prefs = prefs or LearnerPrefs(user_id=0)
    tz = time_zone(prefs, policy)
    quiet_start = parse_hhmm(prefs.quiet_start) or time(21)
    quiet_end = parse_hhmm(prefs.quiet_end) or time(8)
    preferred = parse_hhmm(prefs.preferred_time) or time(18)
    moment = when
    held_by_pause = days_off if pauses is None else pauses
    for _ in range(60):
        if held_by_pause and paused(prefs, moment):
            if prefs.paused_indefinitely or prefs.paused_until is None:
                return None
            moment = prefs.paused_until + spread
            continue
        local = moment.astimezone(tz)
        if latest is not None and local.date() > latest:
            return None
        day = local.date()
        if days_off and (day.weekday() in prefs.days_off or calendar.is_holiday(day)):
            target = (
                preferred if not in_quiet_hours(preferred, quiet_start, quiet_end) else quiet_end
            )
            moment = local_moment(day + timedelta(days=1), target, tz) + spread
            continue
        if in_quiet_hours(local.time(), quiet_start, quiet_end):
            if quiet_start > quiet_end and local.time() >= quiet_start:
                day += timedelta(days=1)
            moment = local_moment(day, quiet_end, tz)
            later = (moment + spread).astimezone(tz).time()
            if not in_quiet_hours(later, quiet_start, quiet_end):
                moment += spread  # (quiet hours that end and start again within the window)
            continue
        return moment
    return None


def digest_moment(
    now: datetime,
    coach_id: int,
    prefs: Preferences | LearnerPrefs | None,
    calendar: Calendar,
    policy: NudgePolicy,
) -> datetime:
    """When a coach's next daily digest goes: their preferred time (or the policy's digest
    time), at a stable offset per coach, outside their quiet hours; today if still ahead."""
    tz = time_zone(prefs, policy)
    at = (parse_hhmm(prefs.preferred_time) if prefs is not None else None) or (
        parse_hhmm(policy.digest_time) or time(9)
    )
    offset = spread_offset(coach_id, policy, minutes=policy.digest_spread_minutes)
    day = now.astimezone(tz).date()
    moment = local_moment(day, at, tz) + offset
    if moment < now:
        moment = local_moment(day + timedelta(days=1), at, tz) + offset
    return next_allowed(moment, prefs, calendar, policy, days_off=False, spread=offset) or moment


def weekly_limit(prefs: Preferences | LearnerPrefs, month: int, policy: NudgePolicy) -> int:
    """At most 4 nudges a week (2 at a light pace), half as many in June and December."""
    limit = policy.light_limit if prefs.pace == "light" else policy.weekly_limit
    if month in policy.busy_months:
        limit = max(1, limit // 2)
    return limit


def _unit(*parts: object) -> float:
    """A reproducible number in [0, 1) from its parts."""
    return _unit_of(":".join(map(str, parts)))


def _unit_of(text: str) -> float:
    """`_unit` of parts already joined with ":"."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def held_out(kind: str, user_id: int, policy: NudgePolicy) -> bool:
    """Whether the learner is in the holdout group of a kind of nudge (gets none of it)."""
    return (
        policy.holdout > 0
        and kind in NUDGE_KINDS
        and _unit(policy.seed, kind, user_id) < (policy.holdout)
    )


def choose_variant(kind: str, user_id: int, dedup_key: str, policy: NudgePolicy) -> str:
    """A seeded random wording, or the holdout group (a learner stays in it per kind)."""
    if held_out(kind, user_id, policy):
        return HOLDOUT
    variants = _SORTED_VARIANTS[kind]
    return variants[int(_unit_of(f"{policy.seed}:{dedup_key}") * len(variants))]


# -- planning ---------------------------------------------------------------------------------
@dataclass
class Plan:
    """What planning one learner gives: outbox rows and the signals that go with them."""

    messages: list[Planned] = field(default_factory=list)
    signals: list[SignalInfo] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _GoalWeek:
    """The week a goal was set in (its check-in or look back may fall in the next one)."""

    week: str
    end: date  # six days after the goal day
    meta: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Day:
    """A day of the planning horizon, as seen by learners with one goal weekday."""

    day: date
    week: str
    sunday: date
    meta: dict[str, Any]  # {"week": week}
    goal_day: bool
    checkin: _GoalWeek | None  # the goal week whose check-in falls on this day
    lookback: _GoalWeek | None  # the one whose look back does


@lru_cache(maxsize=1024)
def _horizon(today: date, days: int, goal_weekday: int) -> tuple[_Day, ...]:
    """The days a round plans for, the same for every learner with this goal weekday: the
    check-in comes two days and the look back four days after the goal day, which may be in
    the next ISO week; both belong to the week the goal was set in. (Cached: the meta dicts
    are shared and must not be changed.)"""
    horizon = []
    for offset in range(days):
        day = today + timedelta(days=offset)
        monday = day - timedelta(days=day.weekday())
        checkin = lookback = None
        for goal_monday in (monday, monday - timedelta(days=7)):
            goal_date = goal_monday + timedelta(days=goal_weekday)
            goal = _GoalWeek(
                iso_week(goal_monday),
                goal_date + timedelta(days=6),
                {"week": iso_week(goal_monday)},
            )
            if day == goal_date + timedelta(days=2):
                checkin = goal
            if day == goal_date + timedelta(days=4):
                lookback = goal
        week = iso_week(day)
        horizon.append(
            _Day(
                day=day,
                week=week,
                sunday=monday + timedelta(days=6),
                meta={"week": week},
                goal_day=day.weekday() == goal_weekday,
                checkin=checkin,
                lookback=lookback,
            )
        )
    return tuple(horizon)


@dataclass
class _Candidate:
    kind: str
    key: str
    day: date
    latest: date
    meta: dict[str, Any]


def planned_message(
    *,
    kind: str,
    user_id: int,
    key: str,
    due: datetime,
    now: datetime,
    policy: NudgePolicy,
    expires_at: datetime | None = None,
    meta: Mapping[str, Any] | None = None,
    buttons: list[list[str]] | None = None,
    **params: Any,
) -> Planned:
    """An outbox row for a nudge or a coach notice, with its wording chosen (and its command
    buttons: the kind's own unless `buttons` is given)."""
    variant = choose_variant(kind, user_id, key, policy)
    source = VARIANTS[kind]["a" if variant == HOLDOUT else variant]
    body = payload(source, buttons=BUTTONS.get(kind) if buttons is None else buttons, **params)
    body["meta"] = dict(meta or {})
    return Planned(
        user_id=user_id,
        kind=kind,
        dedup_key=key,
        due_at=due,
        payload=body,
        expires_at=expires_at,
        status="held" if variant == HOLDOUT else "pending",
        variant=variant,
        created_at=now,
    )


def message_for(**arguments: Any) -> OutboxMessage:
    """Like `planned_message`, as a model to add through `uow.outbox`."""
    return planned_message(**arguments).model()


@dataclass(frozen=True, slots=True)
class _Facts:
    """What a learner's signals tell the planner, read once for every day it plans."""

    weeks_set: frozenset[Any]
    weeks_looked_back: frozenset[Any]
    weeks_followed_up: frozenset[Any]  # reached, looked back at or checked in on
    saved: datetime | None  # when a reflection was last saved
    reached: tuple[datetime, ...]  # when a goal was reached
    contact: datetime | None  # when a coach last had contact
    flags: dict[Any, datetime]  # the inactivity flags: days -> when it was last recorded

    @classmethod
    def of(cls, signals: Sequence[SignalInfo]) -> _Facts:
        if not signals:
            return _NO_FACTS
        weeks_set: set[Any] = set()
        looked_back: set[Any] = set()
        followed_up: set[Any] = set()
        saved: datetime | None = None
        reached: list[datetime] = []
        contact: datetime | None = None
        flags: dict[Any, datetime] = {}
        for s in signals:
            kind, at = s.kind, s.at
            if kind == S.GOAL_SET:
                weeks_set.add(s.details.get("week"))
            elif kind == S.REFLECTION_SAVED:
                saved = at if saved is None else max(saved, at)
            elif kind == S.COACH_CONTACT:
                contact = at if contact is None else max(contact, at)
            elif kind == S.INACTIVE:
                days = s.details.get("days")
                flags[days] = max(flags[days], at) if days in flags else at
            if kind == S.GOAL_REACHED:
                reached.append(at)
            if kind in LOOKBACK_SIGNALS:
                looked_back.add(s.details.get("week"))
                followed_up.add(s.details.get("week"))
            elif kind in CHECKIN_SIGNALS:
                followed_up.add(s.details.get("week"))
        return cls(
            frozenset(weeks_set),
            frozenset(looked_back),
            frozenset(followed_up),
            saved,
            tuple(reached),
            contact,
            flags,
        )


#: The facts of a learner with no signals (flags is never changed: facts are read only).
_NO_FACTS = _Facts(frozenset(), frozenset(), frozenset(), None, (), None, {})


def plan_learner(
    learner: LearnerInfo,
    signals: Sequence[SignalInfo],
    *,
    now: datetime,
    calendar: Calendar,
    policy: NudgePolicy,
    coach_id: int | None = None,
    coach_prefs: LearnerPrefs | None = None,
    counts: Mapping[str, int] | None = None,
    planned: Mapping[str, datetime | None] | None = None,
    notified: Collection[str] = (),
) -> Plan:
    """Plans the nudges of one learner for today and tomorrow (local days).

    `counts` holds the nudges already planned per ISO week ("2026-W10"), for the weekly limit;
    `coach_prefs` the coach's own preferences (their digest time), when they set any;
    `planned` the nudges already planned (dedup key: due time, or None for one no longer to
    go), so that a later round does not build them again nor give a day that already has its
    message a second one; `notified` the keys of the
    coach notices about this learner already planned, which are not built again.
    """
    return _plan(
        learner,
        _Facts.of(signals),
        _Quiet.of(learner, time_zone(learner.prefs, policy), policy),
        now=now,
        calendar=calendar,
        policy=policy,
        coach_id=coach_id,
        coach_prefs=coach_prefs,
        counts=counts or {},
        planned=planned or {},
        notified=notified,
    )


def _slot_candidates(
    uid: int, facts: _Facts, slots: Sequence[_Day], calendar: Calendar, policy: NudgePolicy
) -> list[_Candidate]:
    """The nudges that belong to days: the goal prompt, the check-in, the look back and the
    welcome back after holidays."""
    candidates: list[_Candidate] = []
    weeks_set = facts.weeks_set
    welcome = calendar.breaks_ended(slots, policy.long_break_days)
    for slot in slots:
        if slot.goal_day and slot.week not in weeks_set:
            candidates.append(
                _Candidate(
                    GOAL_PROMPT,
                    f"{GOAL_PROMPT}:{uid}:{slot.week}",
                    slot.day,
                    slot.sunday,
                    slot.meta,
                )
            )
        if (
            slot.checkin is not None
            and slot.checkin.week in weeks_set
            and slot.checkin.week not in facts.weeks_followed_up
        ):
            goal = slot.checkin
            candidates.append(
                _Candidate(CHECKIN, f"{CHECKIN}:{uid}:{goal.week}", slot.day, goal.end, goal.meta)
            )
        if (
            slot.lookback is not None
            and slot.lookback.week in weeks_set
            and slot.lookback.week not in facts.weeks_looked_back
        ):
            goal = slot.lookback
            candidates.append(
                _Candidate(
                    LOOKBACK, f"{LOOKBACK}:{uid}:{goal.week}", slot.day, goal.end, goal.meta
                )
            )
        if slot.day in welcome:
            candidates.append(
                _Candidate(
                    WELCOME_BACK,
                    f"{WELCOME_BACK}:{uid}:holiday:{slot.day.isoformat()}",
                    slot.day,
                    slot.day + timedelta(days=2),
                    {"reason": "holiday"},
                )
            )
    return candidates


def _dated_candidates(
    uid: int,
    prefs: LearnerPrefs | Preferences,
    facts: _Facts,
    *,
    now: datetime,
    today: date,
    tz: ZoneInfo,
    policy: NudgePolicy,
) -> list[_Candidate]:
    """The nudges that follow an event: a reflection after a reached goal, a welcome back
    after a pause."""
    candidates: list[_Candidate] = []
    # A reflection two days after a reached goal, unless one was saved since.
    for reached_at in facts.reached:
        target = reached_at.astimezone(tz).date() + timedelta(days=2)
        if (facts.saved is not None and facts.saved > reached_at) or not (
            today - timedelta(days=2) <= target < today + timedelta(days=policy.horizon_days)
        ):
            continue
        candidates.append(
            _Candidate(
                REFLECT,
                f"{REFLECT}:{uid}:{reached_at.astimezone(tz).date().isoformat()}",
                max(target, today),
                max(target, today) + timedelta(days=2),
                {"since": reached_at.isoformat()},
            )
        )

    # Welcome back after a pause that ran out (who resumes by /pause is welcomed there).
    if prefs.paused_until is not None and timedelta(0) <= now - prefs.paused_until <= timedelta(
        days=3
    ):
        ended = prefs.paused_until.astimezone(tz).date()
        candidates.append(
            _Candidate(
                WELCOME_BACK,
                f"{WELCOME_BACK}:{uid}:pause:{ended.isoformat()}",
                max(ended, today),
                max(ended, today) + timedelta(days=2),
                {"reason": "pause"},
            )
        )
    return candidates


@dataclass(frozen=True, slots=True)
class _Quiet:
    """What is the same on every day a look ahead plans for a learner: since when they have
    been silent, and their place in the sending window."""

    uid: int
    last: datetime
    last_day: date
    place: timedelta  # `spread_offset`
    early: timedelta  # how much of the window comes before their preferred time
    #: The ladder's dedup keys by kind and its nudges' meta, made when first asked for (a
    #: look ahead asks daily; most learners never get that far).
    made: dict[str, Any]

    def key(self, kind: str) -> str:
        key = self.made.get(kind)
        if key is None:
            key = self.made[kind] = f"{kind}:{self.uid}:{self.last_day.isoformat()}"
        return key

    def meta(self) -> dict[str, Any]:
        """{"since": last}, shared by the ladder's nudges (not to be changed)."""
        meta = self.made.get("meta")
        if meta is None:
            meta = self.made["meta"] = {"since": self.last.isoformat()}
        return meta

    @classmethod
    def of(cls, learner: LearnerInfo, tz: ZoneInfo, policy: NudgePolicy) -> _Quiet:
        last = learner.last_seen_at or learner.consent_at or learner.created_at
        return cls(
            learner.id,
            last,
            last.astimezone(tz).date(),
            spread_offset(learner.id, policy),
            _half(policy.spread_minutes),
            {},
        )


@lru_cache(maxsize=16)
def _half(minutes: int) -> timedelta:
    return timedelta(minutes=minutes) / 2


class _Silence(NamedTuple):
    """The inactivity ladder on one day: 7 days a nudge, 14 another one and the coach, 21 the
    coach again."""

    quiet_days: int
    candidate: _Candidate | None = None  # the learner's nudge
    notice: tuple[str, str] | None = None  # (kind, key) of a notice the coach is to get
    flag: int | None = None  # the days of an inactivity signal not recorded yet


#: The ladder with nothing new on it, for the first two months of a silence (made once).
_SILENCE = tuple(_Silence(days) for days in range(64))
_LADDER_WAIT = timedelta(days=3)  # how long a ladder nudge may wait for its moment


def _nothing(quiet_days: int) -> _Silence:
    return _SILENCE[quiet_days] if 0 <= quiet_days < len(_SILENCE) else _Silence(quiet_days)


def _silence(
    quiet: _Quiet,
    facts: _Facts,
    *,
    now: datetime,
    today: date,
    coach_id: int | None,
    notified: Collection[str],
    planned: Collection[str],
) -> _Silence:
    """The ladder on `today`: its nudge when not `planned` yet, its notice when the coach was
    not `notified`, its signal when not recorded."""
    quiet_days = (today - quiet.last_day).days
    if quiet_days < 7:
        return _nothing(quiet_days)
    if quiet_days < 14:
        key = quiet.key(INACTIVE_7)
        if key in planned:
            return _nothing(quiet_days)
        return _Silence(
            quiet_days, _Candidate(INACTIVE_7, key, today, today + _LADDER_WAIT, quiet.meta())
        )
    days = 21 if quiet_days >= 21 else 14
    ladder: _Candidate | None = None
    if days == 14 and (nudge := quiet.key(INACTIVE_14)) not in planned:
        ladder = _Candidate(INACTIVE_14, nudge, today, today + _LADDER_WAIT, quiet.meta())
    kind = COACH_INACTIVE_21 if days == 21 else COACH_INACTIVE_14
    key = quiet.key(kind)
    contacted = facts.contact is not None and now - facts.contact < COACH_CONTACT_QUIET
    notice = (
        (kind, key) if coach_id is not None and not contacted and key not in notified else None
    )
    flagged = days in facts.flags and facts.flags[days] >= quiet.last
    if ladder is None and notice is None and flagged:
        return _nothing(quiet_days)
    return _Silence(quiet_days, ladder, notice, None if flagged else days)


def _days_taken(planned: Mapping[str, datetime | None], tz: ZoneInfo) -> frozenset[date]:
    """The local days that have their message."""
    return frozenset(due.astimezone(tz).date() for due in planned.values() if due is not None)


class _Nudge(NamedTuple):
    """A nudge the planner decided on: what and when."""

    candidate: _Candidate
    due: datetime


def _decisions(
    learner: LearnerInfo,
    facts: _Facts,
    quiet: _Quiet,
    slots: Iterable[_Candidate],
    *,
    now: datetime,
    today: date,
    tz: ZoneInfo,
    calendar: Calendar,
    policy: NudgePolicy,
    coach_id: int | None,
    counts: Mapping[str, int],
    planned: Mapping[str, datetime | None],
    notified: Collection[str],
    taken: Collection[date] | None = None,
) -> Iterator[_Silence | _Nudge]:
    """What planning a learner's day gives, one decision at a time (the look ahead asks only
    for the first): the inactivity ladder's notice and signal, then the nudges. `slots` are
    the day's own candidates (`_slot_candidates`); `taken` the local days of `planned`'s
    due times, when the caller knows them."""
    prefs = learner.prefs
    uid = learner.id
    candidates = list(slots)
    if facts.reached or prefs.paused_until is not None:  # (the events dated candidates follow)
        candidates += _dated_candidates(
            uid, prefs, facts, now=now, today=today, tz=tz, policy=policy
        )
    silence = _silence(
        quiet,
        facts,
        now=now,
        today=today,
        coach_id=coach_id,
        notified=notified,
        planned=planned,
    )
    if silence.candidate is not None:
        candidates.append(silence.candidate)
    if silence.notice is not None or silence.flag is not None:
        yield silence
    fresh = [c for c in candidates if c.key not in planned]
    if not fresh:
        return

    # Times, the weekly limit and the wording. Each learner has a stable place in a window
    # around their preferred time; a learner who has gone silent hears "we miss you" before a
    # routine prompt when both want the one message of a day.
    preferred = parse_hhmm(prefs.preferred_time) or time(18)
    place, early = quiet.place, quiet.early
    used: dict[str, int] = defaultdict(int, counts)
    order = _SILENT_RANK if silence.quiet_days >= 7 else _RANK
    seen: set[str] = set()  # the keys of this round (those planned before are not fresh)
    taken_before = _days_taken(planned, tz) if taken is None else taken
    taken_now: set[date] = set()  # the days this round gave a message
    for candidate in sorted(fresh, key=lambda c: (order[c.kind], c.day)):
        if candidate.key in seen:
            continue
        seen.add(candidate.key)
        # One nudge a day: a later candidate for a day already taken moves to its next day.
        due: datetime | None = None
        day = candidate.day
        while day <= candidate.latest:
            wanted = local_moment(day, preferred, tz) - early + place
            start = wanted if wanted >= now else now + place  # late: spread from now on
            due = next_allowed(
                start, prefs, calendar, policy, latest=candidate.latest, spread=place
            )
            if due is None or (
                (local := due.astimezone(tz).date()) not in taken_before and local not in taken_now
            ):
                break
            day, due = due.astimezone(tz).date() + timedelta(days=1), None
        if due is None:
            continue
        local_day = due.astimezone(tz).date()
        week = iso_week(local_day)
        if used[week] >= weekly_limit(prefs, local_day.month, policy):
            continue
        if not held_out(candidate.kind, uid, policy):
            used[week] += 1
        taken_now.add(local_day)
        yield _Nudge(candidate, due)


def _plan(
    learner: LearnerInfo,
    facts: _Facts,
    quiet: _Quiet,
    *,
    now: datetime,
    calendar: Calendar,
    policy: NudgePolicy,
    coach_id: int | None,
    coach_prefs: LearnerPrefs | None,
    counts: Mapping[str, int],
    planned: Mapping[str, datetime | None],
    notified: Collection[str],
) -> Plan:
    """`plan_learner` from the learner's facts and silence: its decisions as outbox rows and
    signals."""
    plan = Plan()
    prefs = learner.prefs
    if paused(prefs, now):
        return plan
    tz = time_zone(prefs, policy)
    today = now.astimezone(tz).date()
    uid = learner.id
    goal_day = min(max(prefs.goal_weekday, 0), 6)
    slots = _slot_candidates(
        uid, facts, _horizon(today, policy.horizon_days, goal_day), calendar, policy
    )
    for decision in _decisions(
        learner,
        facts,
        quiet,
        slots,
        now=now,
        today=today,
        tz=tz,
        calendar=calendar,
        policy=policy,
        coach_id=coach_id,
        counts=counts,
        planned=planned,
        notified=notified,
    ):
        if isinstance(decision, _Nudge):
            plan.messages.append(
                planned_message(
                    kind=decision.candidate.kind,
                    user_id=uid,
                    key=decision.candidate.key,
                    due=decision.due,
                    now=now,
                    policy=policy,
                    expires_at=decision.due + timedelta(days=2),
                    meta=decision.candidate.meta,
                )
            )
            continue
        if decision.notice is not None and coach_id is not None:
            kind, key = decision.notice
            plan.messages.append(
                planned_message(
                    kind=kind,
                    user_id=coach_id,
                    key=key,
                    due=digest_moment(now, coach_id, coach_prefs, calendar, policy),
                    now=now,
                    policy=policy,
                    meta={"learner_id": uid},
                    buttons=coach_buttons(uid),
                    name=learner.display_name or f"#{uid}",
                )
            )
        if decision.flag is not None:
            plan.signals.append(SignalInfo(uid, S.INACTIVE, now, {"days": decision.flag}))
    return plan


@dataclass
class PlanningResult:
    learners: int = 0
    planned: int = 0
    held: int = 0
    signals: int = 0


class _Round(NamedTuple):
    """A daily round the look ahead plans: its programme day, the moment it runs, how far
    back its reads look, and its local day in the programme's time zone."""

    day: date
    at: datetime
    recent: datetime  # planned nudges due from here on count
    lingering: datetime  # the lingering kinds' from here on
    history: datetime  # signals from here on
    today: date


@lru_cache(maxsize=64)
def _rounds_ahead(day: date, moment: time, programme: ZoneInfo) -> tuple[_Round, ...]:
    """The LOOKAHEAD_DAYS rounds after the one on `day` (programme time) at `moment`; the same
    for every learner of a round (cached)."""
    rounds = []
    for ahead in range(1, LOOKAHEAD_DAYS + 1):
        later = day + timedelta(days=ahead)
        at = local_moment(later, moment, programme)
        rounds.append(
            _Round(
                later,
                at,
                at - timedelta(days=1),
                at - LINGER,
                at - HISTORY,
                at.astimezone(programme).date(),
            )
        )
    return tuple(rounds)


def next_planning_day(
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
    """The first programme day after this round's whose round can give the learner anything,
    found by planning the days ahead (at this round's time of day) with what the round read
    and what it planned (`plan`); the day after LOOKAHEAD_DAYS when none can. As long as
    nothing it read changes (the triggers of `PlanningState` watch that), the rounds before
    that day would give this learner nothing, so they need not read them.

    Each day ahead is planned only as far as its first decision, from what stays the same
    from day to day worked out once (tests/flows/test_planning_lookahead.py checks it against
    planning every day in full). `coach_prefs` is not needed for that (it only times a
    coach's digest) and is taken for the same call as `plan_learner`."""
    return _look_ahead(
        learner,
        signals,
        plan,
        _Quiet.of(learner, time_zone(learner.prefs, policy), policy),
        None,
        now=now,
        calendar=calendar,
        policy=policy,
        coach_id=coach_id,
        counts=counts,
        planned=planned,
        notified=notified,
    )


def plan_ahead(
    learner: LearnerInfo,
    signals: Sequence[SignalInfo],
    *,
    now: datetime,
    calendar: Calendar,
    policy: NudgePolicy,
    coach_id: int | None = None,
    coach_prefs: LearnerPrefs | None = None,
    counts: Mapping[str, int] | None = None,
    planned: Mapping[str, datetime | None] | None = None,
    notified: Collection[str] = (),
) -> tuple[Plan, date]:
    """`plan_learner` and then `next_planning_day`, with what both work out from the
    learner's signals and silence worked out once (a round does this for every learner)."""
    facts = _Facts.of(signals)
    quiet = _Quiet.of(learner, time_zone(learner.prefs, policy), policy)
    plan = _plan(
        learner,
        facts,
        quiet,
        now=now,
        calendar=calendar,
        policy=policy,
        coach_id=coach_id,
        coach_prefs=coach_prefs,
        counts=counts or {},
        planned=planned or {},
        notified=notified,
    )
    day = _look_ahead(
        learner,
        signals,
        plan,
        quiet,
        None if plan.signals else facts,  # (the facts of what the look ahead knows)
        now=now,
        calendar=calendar,
        policy=policy,
        coach_id=coach_id,
        counts=counts,
        planned=planned,
        notified=notified,
    )
    return plan, day


def _look_ahead(
    learner: LearnerInfo,
    signals: Sequence[SignalInfo],
    plan: Plan,
    quiet: _Quiet,
    known_facts: _Facts | None,
    *,
    now: datetime,
    calendar: Calendar,
    policy: NudgePolicy,
    coach_id: int | None,
    counts: Mapping[str, int] | None,
    planned: Mapping[str, datetime | None] | None,
    notified: Collection[str],
) -> date:
    """`next_planning_day` with the learner's silence, and the facts of the signals it knows
    (the round's and the plan's) when the caller has them."""
    tz = time_zone(learner.prefs, policy)
    known_signals = [*signals, *plan.signals]
    known_planned: dict[str, datetime | None] = dict(planned or {})
    known_counts: dict[str, int] = defaultdict(int, counts or {})
    known_notified = set(notified)
    for message in plan.messages:
        if message.kind in COACH_KINDS:
            known_notified.add(message.dedup_key)
            continue
        live = message.status != "held"
        known_planned[message.dedup_key] = message.due_at if live else None
        if live:
            known_counts[iso_week(message.due_at.astimezone(tz).date())] += 1
    programme = ZoneInfo(policy.timezone)
    local = now.astimezone(programme)
    moment = local.time().replace(microsecond=0)
    oldest_signal = min((s.at for s in known_signals), default=None)
    # The nudges to go: key, due time, local day, whether their kind lingers.
    to_go = [
        (key, due, due.astimezone(tz).date(), key.split(":", 1)[0] in LINGERING)
        for key, due in known_planned.items()
        if due is not None
    ]
    oldest_due = min((due for _, due, _, _ in to_go), default=None)
    prefs, horizon = learner.prefs, policy.horizon_days
    may_pause = prefs.paused_indefinitely or prefs.paused_until is not None
    all_taken = frozenset(day for _, _, day, _ in to_go)
    rounds = _rounds_ahead(local.date(), moment, programme)
    # The days' own candidates for all the days ahead, by the facts in view (the signals in
    # view only shrink as the days go by: their number tells them apart), in the order of
    # their days.
    slots = _horizon(
        rounds[0].at.astimezone(tz).date(),
        LOOKAHEAD_DAYS + horizon + 1,
        min(max(prefs.goal_weekday, 0), 6),
    )
    facts: dict[int, tuple[_Facts, list[_Candidate], list[date]]] = {}
    for ahead in rounds:
        at = ahead.at
        if may_pause and paused(prefs, at):
            continue  # (that round gives nothing)
        # What that round's reads would find (most of the time, all of it).
        seen_signals: Sequence[SignalInfo] = known_signals
        if oldest_signal is not None and oldest_signal < ahead.history:
            seen_signals = [s for s in known_signals if s.at >= ahead.history]
        found = facts.get(len(seen_signals))
        if found is None:
            known = (
                known_facts
                if known_facts is not None and seen_signals is known_signals
                else _Facts.of(seen_signals)
            )
            candidates = _slot_candidates(learner.id, known, slots, calendar, policy)
            found = (known, candidates, [c.day for c in candidates])
            facts[len(seen_signals)] = found
        seen, ahead_slots, slot_days = found
        seen_planned: Mapping[str, datetime | None] = known_planned
        taken: Collection[date] = all_taken
        if oldest_due is not None and oldest_due < ahead.recent:
            seen_planned = {key: None for key, due in known_planned.items() if due is None}
            taken = set()
            for key, due, local_day, lingers in to_go:
                if due >= (ahead.lingering if lingers else ahead.recent):
                    seen_planned[key] = due
                    taken.add(local_day)
        today = ahead.today if tz is programme else at.astimezone(tz).date()
        decisions = _decisions(
            learner,
            seen,
            quiet,
            ahead_slots[
                bisect_left(slot_days, today) : bisect_left(
                    slot_days, today + timedelta(days=horizon)
                )
            ],
            now=at,
            today=today,
            tz=tz,
            calendar=calendar,
            policy=policy,
            coach_id=coach_id,
            counts=known_counts,
            planned=seen_planned,
            notified=known_notified,
            taken=taken,
        )
        if next(decisions, None) is not None:
            return ahead.day
    return local.date() + timedelta(days=LOOKAHEAD_DAYS + 1)


@dataclass(frozen=True)
class PlanningRound:
    """What one planning round shares between its batches. A full round reads every
    learner; the others only those whose planning day came (`PlanningState`)."""

    now: datetime
    policy: NudgePolicy
    calendar: Calendar
    weeks: tuple[tuple[str, datetime, datetime], ...]
    today: date  # in the programme's time zone
    full: bool = False


async def start_planning(
    uow: UnitOfWork, *, now: datetime, policy: NudgePolicy, full: bool = False
) -> PlanningRound:
    """Ends pauses that ran out (RESUMED signals) and loads the calendar for a round."""
    tz = ZoneInfo(policy.timezone)
    today = now.astimezone(tz).date()
    calendar = await load_calendar(uow, around=today, country=policy.country)
    ended = await uow.scheduler.end_pauses(now=now)
    await uow.scheduler.add_signals(
        [SignalInfo(user_id, S.RESUMED, now, {"pause": "ended"}) for user_id in ended]
    )
    monday = today - timedelta(days=today.weekday())
    weeks = tuple(
        (
            iso_week(monday + timedelta(weeks=n)),
            local_moment(monday + timedelta(weeks=n), time(0), tz),
            local_moment(monday + timedelta(weeks=n + 1), time(0), tz),
        )
        for n in range(2)
    )
    return PlanningRound(
        now=now, policy=policy, calendar=calendar, weeks=weeks, today=today, full=full
    )


async def plan_batch(
    uow: UnitOfWork, state: PlanningRound, result: PlanningResult, *, after_id: int, size: int
) -> int | None:
    """Plans for the next `size` learners after `after_id` whose planning day came (all of
    them in a full round), with set-based reads and one bulk insert, and records each one's
    next planning day; returns the last id, or None when there are no more learners."""
    now, policy = state.now, state.policy
    learners = await uow.scheduler.learners(
        after_id=after_id, limit=size, due_on=None if state.full else state.today
    )
    if not learners:
        return None
    ids = [learner.id for learner in learners]
    by_user: dict[int, list[SignalInfo]] = defaultdict(list)
    for info in await uow.scheduler.signals_of(ids, since=now - HISTORY, kinds=PLANNING_SIGNALS):
        by_user[info.user_id].append(info)
    coaches = await uow.scheduler.coaches_of(ids)
    coach_prefs = await uow.scheduler.preferences_of(set(coaches.values()))
    already = await uow.scheduler.planned_nudges(
        ids,
        start=now - timedelta(days=1),
        kinds=NUDGE_KINDS,
        lingering=LINGERING,
        lingering_since=now - LINGER,
    )
    notified = await uow.scheduler.notices_about(ids, kinds=COACH_KINDS)
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for week, start, end in state.weeks:
        found = await uow.scheduler.nudge_counts(ids, start=start, end=end, kinds=NUDGE_KINDS)
        for user_id, count in found.items():
            counts[user_id][week] = count
    messages: list[Planned] = []
    new_signals: list[SignalInfo] = []
    days: list[tuple[int, date, int]] = []
    for learner in learners:
        inputs: dict[str, Any] = {
            "now": now,
            "calendar": state.calendar,
            "policy": policy,
            "coach_id": coaches.get(learner.id),
            "coach_prefs": coach_prefs.get(coaches.get(learner.id, 0)),
            "counts": counts.get(learner.id),
            "planned": already.get(learner.id),
            "notified": notified.get(learner.id, ()),
        }
        plan, day = plan_ahead(learner, by_user.get(learner.id, ()), **inputs)
        messages += plan.messages
        new_signals += plan.signals
        # Each signal added below counts once in the version (its trigger).
        version = learner.planning_version + len(plan.signals)
        days.append((learner.id, day, version))
    await uow.scheduler.add_signals(new_signals)
    held = await uow.scheduler.insert_planned([m for m in messages if m.status == "held"])
    sent = await uow.scheduler.insert_planned([m for m in messages if m.status != "held"])
    await uow.scheduler.set_planning_days(days)
    result.signals += len(new_signals)
    result.learners += len(learners)
    result.planned += held + sent
    result.held += held
    return learners[-1].id


async def run_planning(
    uow: UnitOfWork,
    *,
    now: datetime,
    policy: NudgePolicy,
    batch: int = BATCH,
    full: bool = True,
) -> PlanningResult:
    """Plans for every reachable learner (without `full`, for those due) in one unit of
    work; the caller commits. (The bot commits batch by batch instead: see
    bot/scheduler.py.)"""
    result = PlanningResult()
    state = await start_planning(uow, now=now, policy=policy, full=full)
    after: int | None = 0
    while after is not None:
        after = await plan_batch(uow, state, result, after_id=after, size=batch)
    return result


# -- sending ----------------------------------------------------------------------------------
def render(message: OutboxMessage, translator: Translator) -> Reply:
    """The message in the recipient's language, with its command buttons."""
    body = message.payload
    params = {
        key: translator._(value["msgid"])
        if isinstance(value, dict) and "msgid" in value
        else value
        for key, value in (body.get("params") or {}).items()
    }
    text = translator._(body["message"], **params)
    rows = tuple(
        (Button(translator._(label), f"/{command}"),)
        for label, command in body.get("buttons") or []
    )
    meta = body.get("meta") or {}
    origin = Origin(message.kind, body["message"], template_only=bool(meta.get("template_only")))
    return Reply(text=text, buttons=rows, rtl=translator.rtl, origin=origin)


#: A coach digest names at most this many learners, each with a button; it points to
#: /atrisk for the others.
DIGEST_SIZE = 8


def render_digest(messages: Sequence[OutboxMessage], translator: Translator) -> Reply:
    """Several coach notices as one message: a line and a button per learner (in the order
    given), and where there are more than DIGEST_SIZE, how many more there are."""
    shown = list(messages)[:DIGEST_SIZE]
    lines = [translator._("Some learners may need you:")]
    lines += [f"• {render(message, translator).text}" for message in shown]
    more = len(messages) - len(shown)
    if more:
        lines.append(
            translator.n_(
                "And {count} more learner: see /atrisk.",
                "And {count} more learners: see /atrisk.",
                more,
            )
        )
    rows: list[tuple[Button, ...]] = []
    for message in shown:
        learner_id = (message.payload.get("meta") or {}).get("learner_id")
        name = (message.payload.get("params") or {}).get("name")
        if isinstance(learner_id, int) and isinstance(name, str):
            rows.append((Button(name, f"/atrisk {learner_id}"),))
    rows.append(
        (
            Button(
                translator._("Who needs attention"),
                "/atrisk",
                short=translator._("Needs attention"),
            ),
        )
    )
    return Reply(text="\n".join(lines), buttons=tuple(rows), rtl=translator.rtl)


def translated(source: str) -> dict[str, str]:
    """A message parameter that is itself an English source string, translated when sent."""
    return {"msgid": source}


Verdict = Literal["send", "defer", "expire", "cancel", "skip"]


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    until: datetime | None = None
    reason: str = ""


def decide(
    message: OutboxMessage,
    user: User | None,
    prefs: Preferences | None,
    signals: Sequence[SignalInfo] = (),
    *,
    now: datetime,
    calendar: Calendar,
    policy: NudgePolicy,
) -> Decision:
    """Whether a claimed message goes out now, later, or never."""
    if user is None or user.status in ("left", "unreachable"):
        return Decision("skip", reason=f"recipient {'gone' if user is None else user.status}")
    if message.expires_at is not None and message.expires_at <= now:
        return Decision("expire", reason="expired before it could be sent")
    if message.kind in NUDGE_KINDS and not still_relevant(message, user, signals):
        return Decision("cancel", reason="no longer needed")
    learner_nudge = message.kind in NUDGE_KINDS
    # A pause holds every scheduled message to the learner (session reminders too), not only
    # the nudges; what a coach or a learner writes by hand is passed on.
    held_by_pause = learner_nudge or message.kind in PAUSE_HOLDS
    when = next_allowed(
        now,
        prefs,
        calendar,
        policy,
        days_off=learner_nudge,
        pauses=held_by_pause,
        spread=spread_offset(user.id, policy),
    )
    if when is None:
        if held_by_pause and prefs is not None and prefs.paused_indefinitely:
            return Decision("cancel", reason="paused")
        return Decision("defer", until=now + timedelta(days=1))
    if when > now:
        if message.expires_at is not None and when >= message.expires_at:
            return Decision("expire", reason="would be late after quiet hours")
        return Decision("defer", until=when)
    return Decision("send")


#: Scheduled messages to a learner, besides nudges, that a pause holds (or, for a pause
#: without an end, cancels): the reminders of a group session and a coach's ready-made
#: reminder. Messages a person wrote (a coach's own text, a group prompt) still go.
PAUSE_HOLDS = frozenset({"session_reminder", "coach_reminder"})

#: Signals that can make a planned nudge pointless, and how far back they matter.
RELEVANCE_SIGNALS = (S.GOAL_SET, *LOOKBACK_SIGNALS, *CHECKIN_SIGNALS, S.REFLECTION_SAVED)
RELEVANCE_WINDOW = timedelta(days=8)


def still_relevant(message: OutboxMessage, user: User, signals: Sequence[SignalInfo]) -> bool:
    """Whether a nudge still makes sense: the goal may have been set since it was planned.
    `signals` are the learner's RELEVANCE_SIGNALS since RELEVANCE_WINDOW before it was made."""
    meta = message.payload.get("meta") or {}
    week = meta.get("week")
    kinds: tuple[str, ...] = ()
    if message.kind == GOAL_PROMPT:
        kinds = (S.GOAL_SET,)
    elif message.kind == CHECKIN:
        kinds = (*LOOKBACK_SIGNALS, *CHECKIN_SIGNALS)
    elif message.kind == LOOKBACK:
        kinds = LOOKBACK_SIGNALS
    if kinds:
        return not any(s.kind in kinds and s.details.get("week") == week for s in signals)
    since = meta.get("since")
    if message.kind == REFLECT and since:
        start = datetime.fromisoformat(since)
        return not any(s.kind == S.REFLECTION_SAVED and s.at > start for s in signals)
    if message.kind in (INACTIVE_7, INACTIVE_14) and since:
        return user.last_seen_at is None or user.last_seen_at <= datetime.fromisoformat(since)
    return True


async def record_sent_many(
    uow: UnitOfWork, refs: Mapping[int, str | None], *, now: datetime
) -> int:
    """Messages went out (by outbox id, with the channel's message id): nudges count for the
    answer window and the coach's timeline. A few statements for a whole dispatcher round;
    returns how many were recorded."""
    sent = await uow.scheduler.mark_sent(refs, now=now)
    nudged = [row for row in sent if row.kind in NUDGE_KINDS]
    if nudged:
        await uow.scheduler.mark_nudged([row.user_id for row in nudged], now=now)
        await uow.scheduler.add_signals(
            [
                SignalInfo(
                    row.user_id, S.NUDGE_SENT, now, {"kind": row.kind, "variant": row.variant}
                )
                for row in nudged
            ]
        )
    return len(sent)


async def record_blocked(
    uow: UnitOfWork, message: OutboxMessage, user: User, *, now: datetime, policy: NudgePolicy
) -> bool:
    """The learner blocked the bot: unreachable, a BLOCKED_BOT signal, the coach is told.
    Returns whether a coach was told."""
    message.status, message.error = "failed", "blocked by the user"
    return await mark_unreachable(uow, user, now=now, policy=policy)


async def mark_unreachable(
    uow: UnitOfWork, user: User, *, now: datetime, policy: NudgePolicy
) -> bool:
    """The user cannot be reached (blocked the bot): unreachable, a BLOCKED_BOT signal, and
    their coach is told. Returns whether a coach was told."""
    if user.status == "unreachable":
        return False
    user.status = "unreachable"
    await uow.signals.add(Signal(user_id=user.id, kind=S.BLOCKED_BOT, at=now))
    coach_id = await uow.memberships.coach_id_for(user.id)
    if coach_id is None or coach_id == user.id:
        return False
    key = f"{COACH_BLOCKED}:{user.id}:{now.date().isoformat()}"
    coach_prefs = await uow.preferences.get(coach_id)
    calendar = Calendar(country=policy.country)
    added = await uow.outbox.add(
        message_for(
            kind=COACH_BLOCKED,
            user_id=coach_id,
            key=key,
            due=digest_moment(now, coach_id, coach_prefs, calendar, policy),
            now=now,
            policy=policy,
            meta={"learner_id": user.id},
            buttons=coach_buttons(user.id),
            name=user.display_name or f"#{user.id}",
        )
    )
    return added is not None
