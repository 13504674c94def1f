"""/stats: per group, enrolled, active this week, goals reached, reflections, evidence, at
risk, left and why, with charts (weekly activity; the funnel from joined to still taking part).
Counts come from signals, so they work without the other features' tables. The same numbers
feed `opstap report` for coordinators."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import ClassVar

from flows import signals
from flows.charts import Bar, Chart, chart_file
from flows.coach.access import refuse
from flows.coach.choice import next_page
from flows.coach.risk import AT_RISK, RISK_KINDS, WINDOW, assess
from flows.engine import COACH, COORDINATOR, Context, Flow
from flows.i18n import N_
from flows.messages import Event, OutFile, parse_id
from storage.models import Group
from storage.uow import UnitOfWork

WEEKS = 8
ACTIVITY = (
    signals.GOAL_SET,
    signals.GOAL_REACHED,
    signals.GOAL_PARTLY,
    signals.GOAL_MISSED,
    signals.CHECKIN_NO_TIME,
    signals.CHECKIN_STUCK,
    signals.REFLECTION_SAVED,
    signals.EVIDENCE_ADDED,
)
FUNNEL = (
    ("joined", N_("joined")),
    (signals.GOAL_SET, N_("set a goal")),
    (signals.GOAL_REACHED, N_("reached a goal")),
    (signals.REFLECTION_SAVED, N_("wrote a reflection")),
    (signals.EVIDENCE_ADDED, N_("added evidence")),
    ("staying", N_("still taking part")),
)


@dataclass
class GroupStats:
    """The numbers of one group."""

    group: Group
    enrolled: int = 0
    members: int = 0
    active_week: int = 0
    goals_reached: int = 0
    reflections: int = 0
    evidence: int = 0
    at_risk: int = 0
    left: int = 0
    left_reasons: Counter[str] = field(default_factory=Counter)
    weekly: list[tuple[str, int]] = field(default_factory=list)
    #: The same weeks, each named by its Monday (for the chart's labels).
    weekly_by_monday: list[tuple[date, int]] = field(default_factory=list)
    funnel: list[tuple[str, int]] = field(default_factory=list)


async def group_stats(uow: UnitOfWork, group: Group, *, now: datetime) -> GroupStats:
    """Computes the statistics of a group from memberships and signals."""
    stats = GroupStats(group=group)
    everyone = await uow.coaching.members(group.id, include_left=True)
    stats.enrolled = len(everyone)
    current = [(m, u) for m, u in everyone if m.left_at is None]
    stats.members = len(current)
    week_ago = now - timedelta(days=7)
    stats.active_week = sum(1 for _, u in current if u.last_seen_at and u.last_seen_at >= week_ago)
    counts = await uow.coaching.signal_counts(group_id=group.id)
    stats.goals_reached = counts.get(signals.GOAL_REACHED, 0)
    stats.reflections = counts.get(signals.REFLECTION_SAVED, 0)
    stats.evidence = counts.get(signals.EVIDENCE_ADDED, 0)
    facts = await uow.coaching.risk_facts(  # (only this group's: not all the coach's)
        coach_id=group.coach_id,
        since=now - WINDOW,
        kinds=RISK_KINDS,
        learner_ids={u.id for _, u in current},
    )
    stats.at_risk = sum(
        1 for f in facts if f.group_id == group.id and assess(f, now=now).score >= AT_RISK
    )
    gone = [m for m, _ in everyone if m.left_at is not None]
    stats.left = len(gone)
    stats.left_reasons = Counter(m.left_reason or "none" for m in gone)
    times = await uow.coaching.signal_times(group_id=group.id, kinds=ACTIVITY)
    start = now - timedelta(weeks=WEEKS)
    buckets = Counter(f"W{at.isocalendar().week:02d}" for at in times if at >= start)
    mondays = [
        (now - timedelta(weeks=WEEKS - 1 - i, days=now.weekday())).date() for i in range(WEEKS)
    ]
    stats.weekly = [
        (label, buckets.get(label, 0))
        for label in (f"W{monday.isocalendar().week:02d}" for monday in mondays)
    ]
    stats.weekly_by_monday = [
        (monday, value) for monday, (_, value) in zip(mondays, stats.weekly, strict=True)
    ]
    for key, _ in FUNNEL:
        if key == "joined":
            value = stats.enrolled
        elif key == "staying":
            value = stats.members
        else:
            value = await uow.coaching.learners_with(group_id=group.id, kind=key)
        stats.funnel.append((key, value))
    return stats


#: Groups per page of the overview a coach with several groups gets.
GROUP_PAGE = 10


class Stats(Flow):
    """Shows the numbers of the coach's groups (a coordinator: of all groups) with charts:
    a single group's at once; with several, one overview (ten groups a page) whose buttons
    open a group's numbers and charts, so that a coordinator of many groups is not sent three
    messages for each of them."""

    name = "stats"
    commands: ClassVar = {"stats": N_("Numbers and charts per group")}
    menu: ClassVar = {"stats": N_("Numbers")}
    roles = frozenset({COACH, COORDINATOR})

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """The only group's numbers and charts, or the overview of several."""
        groups = await self._groups(ctx)
        if not groups:
            ctx.say(ctx._("There are no groups yet."))
            await ctx.finish()
        elif len(groups) == 1:
            await self._show(ctx, groups[0])
            await ctx.finish()
        else:
            await ctx.begin(self, "group")

    async def _groups(self, ctx: Context) -> list[Group]:
        if ctx.user.role == COORDINATOR:
            return await ctx.uow.coaching.all_groups()
        return await ctx.uow.groups.of_coach(ctx.user.id)

    async def ask_group(self, ctx: Context) -> None:
        """A line for each group of the page (in the group now, active this week, at risk)
        and a button to each, "More" when there are more."""
        groups = await self._groups(ctx)
        page = ctx.data.get("page", 0)
        start = page * GROUP_PAGE if page * GROUP_PAGE < len(groups) else 0
        shown = groups[start : start + GROUP_PAGE]
        lines = []
        for group in shown:
            stats = await group_stats(ctx.uow, group, now=ctx.now)
            lines.append(
                "• "
                + ctx._(
                    "{group}: {members} in the group, {active} active in the last 7 days,"
                    " {at_risk} at risk",
                    group=group.name,
                    members=stats.members,
                    active=stats.active_week,
                    at_risk=stats.at_risk,
                )
            )
        lines.append("")
        lines.append(ctx._("Tap a group to see its numbers and charts."))
        buttons = [[ctx.button(group.name, f"g:{group.id}")] for group in shown]
        if len(groups) > start + GROUP_PAGE:
            buttons.append([ctx.button(ctx._("More"), "more")])
        ctx.say("\n".join(lines), buttons=buttons)

    async def on_group(self, ctx: Context, event: Event) -> None:
        """The chosen group's numbers and charts, if it is one of the user's groups."""
        if await next_page(ctx, event):
            return
        value = event.value or ""
        if not value.startswith("g:"):
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        group_id = parse_id(value[2:])
        group = next((g for g in await self._groups(ctx) if g.id == group_id), None)
        if group is None:
            await refuse(ctx, "stats", group_id=group_id)
            await ctx.finish()
            return
        await self._show(ctx, group)
        await ctx.finish()

    async def _show(self, ctx: Context, group: Group) -> None:
        """One message and two charts."""
        from flows.coach.leaving import REASONS

        stats = await group_stats(ctx.uow, group, now=ctx.now)
        lines = [
            group.name,
            ctx._("Enrolled: {n}", n=stats.enrolled),
            ctx._("In the group now: {n}", n=stats.members),
            ctx._("Learners active in the last 7 days: {n}", n=stats.active_week),
            ctx._("Actions this week: {n}", n=stats.weekly[-1][1] if stats.weekly else 0),
            ctx._("Goals reached: {n}", n=stats.goals_reached),
            ctx._("Reflections: {n}", n=stats.reflections),
            ctx._("Evidence: {n}", n=stats.evidence),
            ctx._("At risk: {n}", n=stats.at_risk),
            ctx._("Left: {n}", n=stats.left),
        ]
        for reason, count in stats.left_reasons.most_common():
            label = REASONS.get(reason)
            name = ctx._(label) if label else reason
            lines.append("  - " + ctx._("{label}: {n}", label=name, n=count))
        funnel_words = dict(FUNNEL)
        lines.append(ctx._("From joining to taking part:"))
        lines += [
            f"  {index}. " + ctx._("{label}: {n}", label=ctx._(funnel_words[key]), n=value)
            for index, (key, value) in enumerate(stats.funnel, start=1)
        ]
        ctx.say("\n".join(lines))
        weekly = Chart(
            title=ctx._("Actions per week in {group}", group=group.name),
            axis=ctx._("actions (goals, check-ins, reflections, evidence)"),
            language=ctx.user.language,
            rtl=ctx.t.rtl,
            horizontal=False,
            maximum=max([v for _, v in stats.weekly] + [1]),
            bars=[Bar(ctx.t.day_month(monday), value) for monday, value in stats.weekly_by_monday],
        )
        ctx.say(
            ctx._("Actions per week in {group}, the last 8 weeks.", group=group.name),
            file=OutFile(await chart_file(ctx.files, weekly, owner_id=ctx.user.id), kind="photo"),
        )
        funnel = Chart(
            title=ctx._("From joining to taking part in {group}", group=group.name),
            axis=ctx._("learners"),
            language=ctx.user.language,
            rtl=ctx.t.rtl,
            maximum=max(stats.enrolled, 1),
            bars=[Bar(ctx._(funnel_words[key]), value) for key, value in stats.funnel],
        )
        ctx.say(
            ctx._("From joining to taking part in {group}", group=group.name),
            file=OutFile(await chart_file(ctx.files, funnel, owner_id=ctx.user.id), kind="photo"),
        )


def report_rows(stats: GroupStats) -> list[tuple[str, str]]:
    """The CSV rows (metric, value) of a group, for `opstap report`."""
    rows = [
        ("group", stats.group.name),
        ("enrolled", str(stats.enrolled)),
        ("in_group", str(stats.members)),
        ("active_this_week", str(stats.active_week)),
        ("goals_reached", str(stats.goals_reached)),
        ("reflections", str(stats.reflections)),
        ("evidence", str(stats.evidence)),
        ("at_risk", str(stats.at_risk)),
        ("left", str(stats.left)),
    ]
    rows += [(f"left_reason:{r}", str(c)) for r, c in sorted(stats.left_reasons.items())]
    rows += [(f"week:{label}", str(v)) for label, v in stats.weekly]
    rows += [(f"funnel:{key}", str(v)) for key, v in stats.funnel]
    return rows
