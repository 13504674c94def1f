"""Who is slipping away, and why: a transparent score from signals, each part with a reason in
words, and one tap per learner to act (reminder, personal message, "I called them", snooze).

| what | weight |
|---|---|
| blocked the bot (status "unreachable", set with the BLOCKED_BOT signal) | 5 |
| no reply for 14 days or more / 7 to 13 days | 4 / 2 |
| goals missed in a row (last 28 days, since a goal was last (partly) reached) | 2 each, max 6 |
| missed the last session (the last attendance was an absence) | 3 |
| asked for the coach, and no contact since | 3 |
| said "no time" in a check-in (last 14 days) | 2 |
| said "stuck" in a check-in (last 14 days) | 2 |
| each barrier named in the intake | 1 each, at most 3 |
| paused | 1 |
| the coach had contact in the last 7 days | -2 |

Learners at 3 or more count as "at risk". Snoozed learners go to the end of the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import ClassVar

from flows import signals
from flows.coach.access import coached, record
from flows.engine import COACH, Context, Flow
from flows.i18n import N_, Translator
from flows.messages import Event, Reply, parse_id
from storage.models import Signal
from storage.repositories import LearnerFacts, RiskRules
from storage.uow import UnitOfWork

WINDOW = timedelta(days=28)
RECENT = timedelta(days=14)
AT_RISK = 3
PAGE = 8
SNOOZE = timedelta(days=7)

#: The signal kinds the risk view reads (besides goals missed in a row and barriers).
RISK_KINDS = (
    signals.SESSION_ABSENT,
    signals.SESSION_PRESENT,
    signals.ASKED_FOR_COACH,
    signals.CHECKIN_NO_TIME,
    signals.CHECKIN_STUCK,
    signals.COACH_CONTACT,
)

WEIGHTS = {
    "blocked": 5,
    "silent_long": 4,
    "silent": 2,
    "goal_missed": 2,
    "goal_missed_max": 6,
    "session_absent": 3,
    "asked_for_coach": 3,
    "no_time": 2,
    "stuck": 2,
    "barrier": 1,
    "barrier_max": 3,
    "paused": 1,
    "recent_contact": -2,
}

BARRIER_LABELS = {
    "time": N_("little time"),
    "shifts": N_("works shifts"),
    "work_family": N_("work and family are hard to combine"),
    "distance": N_("lives far away"),
    "no_support_home": N_("no support at home"),
    "no_support_employer": N_("no support from the employer"),
    "cost": N_("the cost"),
    "admission": N_("admission rules"),
    "language": N_("Dutch is hard"),
    "health": N_("health"),
    "fear": N_("afraid to fail"),
    "school_memories": N_("bad memories of school"),
    "digital": N_("apps are hard"),
}

#: Ready-made reminders a coach can send; each is translated into the learner's language.
REMINDERS: dict[str, tuple[str, str, list[list[str]]]] = {
    "goal": (
        N_("Set a small goal"),
        N_("Hello {name}! Your coach thinks of you. What small step will you take this week?"),
        [[N_("Set my goal"), "goal"]],
    ),
    "reflect": (
        N_("Write a reflection"),
        N_(
            "Hello {name}! Your coach would like to read how your week went. "
            "Take five minutes for a short reflection?"
        ),
        [[N_("Write a reflection"), "reflect"]],
    ),
    "session": (
        N_("Come to the session"),
        N_("Hello {name}! We hope to see you at the next group session. You are welcome."),
        [],
    ),
    "hello": (
        N_("How are you?"),
        N_("Hello {name}! Your coach asks how you are. Send a short message back?"),
        [[N_("Reply to my coach"), "reply"]],
    ),
}


@dataclass(frozen=True)
class Reason:
    """One part of a risk score: which rule, its weight, and the number or barrier it names."""

    rule: str
    weight: int
    n: int = 0
    barrier: str = ""

    def text(self, t: Translator) -> str:
        """The reason in words, in the coach's language."""
        if self.rule == "silent":
            return t.n_("no reply for {n} day", "no reply for {n} days", self.n, n=self.n)
        if self.rule == "goal_missed":
            return t.n_("{n} goal missed", "{n} goals missed in a row", self.n, n=self.n)
        if self.rule == "barrier":
            return t._("intake: {barrier}", barrier=t._(BARRIER_LABELS[self.barrier]))
        return t._(REASON_WORDS[self.rule])


REASON_WORDS = {
    "blocked": N_("blocked the bot"),
    "session_absent": N_("missed the last session"),
    "asked_for_coach": N_("asked for you"),
    "no_time": N_("said: no time this week"),
    "stuck": N_("said: I am stuck"),
    "paused": N_("paused"),
}


@dataclass(frozen=True)
class Risk:
    """A learner's risk: the score, its reasons, and whether the coach snoozed them."""

    facts: LearnerFacts
    score: int
    reasons: list[Reason]
    snoozed: bool

    def why(self, t: Translator) -> list[str]:
        """The reasons in words."""
        return [reason.text(t) for reason in self.reasons]


def assess(facts: LearnerFacts, *, now: datetime) -> Risk:
    """Scores one learner from their facts, keeping each reason (words come later)."""
    reasons: list[Reason] = []
    last = facts.last
    if facts.status == "unreachable":
        reasons.append(Reason("blocked", WEIGHTS["blocked"]))
    if facts.last_seen_at is not None:
        days = (now - facts.last_seen_at).days
        if days >= 14:
            reasons.append(Reason("silent", WEIGHTS["silent_long"], n=days))
        elif days >= 7:
            reasons.append(Reason("silent", WEIGHTS["silent"], n=days))
    if facts.missed_in_a_row:
        n = facts.missed_in_a_row
        weight = min(WEIGHTS["goal_missed"] * n, WEIGHTS["goal_missed_max"])
        reasons.append(Reason("goal_missed", weight, n=n))
    absent = last.get(signals.SESSION_ABSENT)
    present = last.get(signals.SESSION_PRESENT)
    if absent is not None and (present is None or absent > present):
        reasons.append(Reason("session_absent", WEIGHTS["session_absent"]))
    contact = last.get(signals.COACH_CONTACT)
    asked = last.get(signals.ASKED_FOR_COACH)
    if asked is not None and (contact is None or contact < asked):
        reasons.append(Reason("asked_for_coach", WEIGHTS["asked_for_coach"]))
    if _recent(last.get(signals.CHECKIN_NO_TIME), now):
        reasons.append(Reason("no_time", WEIGHTS["no_time"]))
    if _recent(last.get(signals.CHECKIN_STUCK), now):
        reasons.append(Reason("stuck", WEIGHTS["stuck"]))
    counted = 0
    for barrier in facts.barriers:
        if barrier not in BARRIER_LABELS:
            continue
        weight = WEIGHTS["barrier"] if counted < WEIGHTS["barrier_max"] else 0
        counted += 1
        reasons.append(Reason("barrier", weight, barrier=barrier))
    if facts.status == "paused":
        reasons.append(Reason("paused", WEIGHTS["paused"]))
    score = sum(reason.weight for reason in reasons)
    if contact is not None and now - contact < timedelta(days=7):
        score += WEIGHTS["recent_contact"]
    snoozed = facts.snoozed_until is not None and facts.snoozed_until > now
    return Risk(facts=facts, score=max(score, 0), reasons=reasons, snoozed=snoozed)


def _recent(when: datetime | None, now: datetime) -> bool:
    """Whether `when` lies within the last 14 days."""
    return when is not None and now - when <= RECENT


def order(risks: list[Risk]) -> list[Risk]:
    """Highest risk first; snoozed learners last; then the longest silent first."""
    epoch = datetime.min.replace(tzinfo=None)

    def key(risk: Risk) -> tuple[bool, int, datetime, int]:
        """Snoozed last, highest score first, longest silent first."""
        seen = risk.facts.last_seen_at
        return (
            risk.snoozed,
            -risk.score,
            seen.replace(tzinfo=None) if seen else epoch,
            risk.facts.learner_id,
        )

    return sorted(risks, key=key)


#: The rules above as data, for the database's ordering (`CoachingRepository.risk_page`).
RULES = RiskRules(
    weights=WEIGHTS,
    barriers=tuple(BARRIER_LABELS),
    silent=timedelta(days=7),
    silent_long=timedelta(days=14),
    recent=RECENT,
    contact=timedelta(days=7),
    window=WINDOW,
)


async def risk_page(
    ctx: Context, *, page: int, uow: UnitOfWork | None = None
) -> tuple[list[Risk], bool]:
    """One page of the coach's active learners, ordered by risk, and whether more follow
    (read in `uow`, by default the event's)."""
    facts, more = await (uow or ctx.uow).coaching.risk_page(
        coach_id=ctx.user.id, now=ctx.now, rules=RULES, offset=page * PAGE, limit=PAGE
    )
    return [assess(f, now=ctx.now) for f in facts], more


def last_contact(ctx: Context, facts: LearnerFacts) -> str:
    """When the learner was last heard from, and the coach's last contact."""
    seen = ctx.t.date(facts.last_seen_at) if facts.last_seen_at else ctx._("never")
    line = ctx._("last seen: {date}", date=seen)
    contact = facts.last.get(signals.COACH_CONTACT)
    if contact is not None:
        line += "; " + ctx._("your last contact: {date}", date=ctx.t.date(contact))
    return line


async def coach_contact(ctx: Context, learner_id: int, how: str) -> None:
    """Records a coach contact on the learner's timeline."""
    await ctx.uow.signals.add(
        Signal(
            user_id=learner_id,
            kind=signals.COACH_CONTACT,
            at=ctx.now,
            details={"how": how, "coach_id": ctx.user.id},
        )
    )


class AtRisk(Flow):
    """/atrisk: the coach's learners by risk, with reasons, and actions per learner."""

    name = "atrisk"
    commands: ClassVar = {
        "atrisk": N_("Who needs attention, and why"),
        "nudge": N_("Send a learner a ready-made reminder"),
    }
    menu: ClassVar = {"atrisk": N_("Who needs attention")}
    roles = frozenset({COACH})

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Shows the first page of the list, or the actions for one learner."""
        learner_id = parse_id(args)
        if learner_id is None:
            await ctx.begin(self, "list", data={"page": 0})
            return
        found = await coached(ctx, learner_id, action="atrisk")
        if found is None:
            await ctx.finish()
            return
        step = "reminder" if command == "nudge" else "actions"
        await ctx.begin(self, step, data={"page": 0, "learner_id": found.learner.id})

    async def ask_list(self, ctx: Context) -> None:
        """One page: each learner with score, reasons and last contact; a button each.

        The list is read after the event's transaction, in a read-only unit of work: on
        SQLite the query holds no write lock, so no learner's update waits for it. It then
        sees this event's contacts and snoozes, committed."""
        if not await ctx.uow.coaching.has_learners(coach_id=ctx.user.id):
            ctx.say(ctx._("No learners in your groups yet. Send them /invite."))
            await ctx.finish(menu=False)
            return
        ctx.after_commit(
            partial(self.list_page, ctx, ctx.data.get("page", 0)),
            if_lost=ctx._("I was interrupted while I made the list. Please send /atrisk again."),
        )

    async def list_page(self, ctx: Context, page: int) -> list[Reply]:
        """The page's message; the access log records each learner shown."""
        async with ctx.engine.reader() as reader:
            shown, more = await risk_page(ctx, page=page, uow=reader)
            if not shown and page:  # the list got shorter since the last page
                page = 0
                shown, more = await risk_page(ctx, page=page, uow=reader)
        if not shown:  # their last learner left meanwhile
            return [ctx.message(ctx._("No learners in your groups yet. Send them /invite."))]
        lines = [ctx._("Your learners, who needs attention first:")]
        buttons = []
        for index, risk in enumerate(shown, start=page * PAGE + 1):
            name = risk.facts.name or "?"
            why = ", ".join(risk.why(ctx.t)) if risk.reasons else ctx._("all fine")
            if risk.snoozed:
                why = ctx._("snoozed") + "; " + why
            lines.append(f"{index}. {name} ({risk.facts.group_name}) - {why}")
            lines.append("   " + last_contact(ctx, risk.facts))
            buttons.append([ctx.button(f"{index}. {name}", f"l:{risk.facts.learner_id}")])
        if more:
            buttons.append([ctx.button(ctx._("More"), "more")])
        async with ctx.engine.uow_factory() as uow:  # a short write: the rows only
            for risk in shown:
                await record(
                    ctx,
                    "atrisk_list",
                    learner_id=risk.facts.learner_id,
                    group_id=risk.facts.group_id,
                    uow=uow,
                )
            await uow.commit()
        return [ctx.message("\n".join(lines), buttons=buttons)]

    async def on_list(self, ctx: Context, event: Event) -> None:
        """Shows the next page, or the actions for the chosen learner."""
        value = event.value or ""
        if value == "more":
            ctx.data["page"] = ctx.data.get("page", 0) + 1
            await ctx.go("list")
        elif value.startswith("l:"):
            await self._pick(ctx, parse_id(value[2:]))
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    async def _pick(self, ctx: Context, learner_id: int | None) -> None:
        """Opens the actions for a learner, after the access check."""
        found = await coached(ctx, learner_id, action="atrisk")
        if found is None:
            await ctx.finish()
            return
        ctx.data["learner_id"] = found.learner.id
        await ctx.go("actions")

    async def ask_actions(self, ctx: Context) -> None:
        """Offers one-tap actions for the learner."""
        learner = await ctx.uow.users.get(ctx.data["learner_id"])
        assert learner is not None
        learner_id = learner.id
        ctx.say(
            ctx._("What do you do for {name}?", name=learner.display_name or "?"),
            buttons=[
                [ctx.button(ctx._("Send a reminder"), "remind")],
                [ctx.command_button(ctx._("Write a message"), f"message {learner_id}")],
                [
                    ctx.button(ctx._("I called them"), "called"),
                    ctx.button(ctx._("I met them"), "met"),
                ],
                [ctx.button(ctx._("Snooze for a week"), "snooze")],
                [ctx.command_button(ctx._("Open profile"), f"learner {learner_id}")],
                [ctx.way_out_button()],
            ],
        )

    async def on_actions(self, ctx: Context, event: Event) -> None:
        """Logs a contact, snoozes, or goes to the reminders."""
        found = await coached(ctx, ctx.data.get("learner_id"), action="atrisk_action")
        if found is None:
            await ctx.finish()
            return
        name = found.learner.display_name or "?"
        if event.value in ("called", "met"):
            await coach_contact(ctx, found.learner.id, event.value)
            ctx.say(ctx._("Noted: you had contact with {name}.", name=name))
        elif event.value == "snooze":
            await ctx.uow.coaching.snooze(
                learner_id=found.learner.id, coach_id=ctx.user.id, until=ctx.now + SNOOZE
            )
            ctx.say(ctx._("{name} moves to the end of the list for a week.", name=name))
        elif event.value == "remind":
            await ctx.go("reminder")
            return
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        ctx.data["page"] = 0
        await ctx.go("list")

    async def ask_reminder(self, ctx: Context) -> None:
        """Offers the ready-made reminders."""
        ctx.say(
            ctx._("Which reminder? It is sent in the learner's own language."),
            buttons=[
                *[
                    [ctx.button(ctx._(label), f"r:{key}")]
                    for key, (label, _, _) in REMINDERS.items()
                ],
                [ctx.way_out_button()],
            ],
        )

    async def on_reminder(self, ctx: Context, event: Event) -> None:
        """Queues the chosen reminder for the learner, in their language."""
        key = (event.value or "").removeprefix("r:")
        if key not in REMINDERS:
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        found = await coached(ctx, ctx.data.get("learner_id"), action="reminder")
        if found is None:
            await ctx.finish()
            return
        _, message, buttons = REMINDERS[key]
        await ctx.notify(
            found.learner.id,
            message,
            kind="coach_reminder",
            buttons=buttons,
            name=found.learner.display_name or "",
        )
        await coach_contact(ctx, found.learner.id, "reminder")
        ctx.say(ctx._("Sent to {name}.", name=found.learner.display_name or "?"))
        ctx.data["page"] = 0
        await ctx.go("list")
