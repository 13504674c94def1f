"""Group sessions: /session plans dates (repeating), reminders go straight into the outbox
(the evening before and that morning, expiring when the session starts), the coach takes
attendance with buttons, and someone absent gets a warm message the next day."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from flows import parsing, signals
from flows.coach.choice import GroupChoice
from flows.engine import COACH, Context, Flow
from flows.i18n import N_
from flows.messages import Event, parse_id
from storage.models import Group, GroupSession, Signal, User

MAX_SESSIONS = 20
EVENING_BEFORE = time(18, 0)
MORNING = time(8, 0)
MISSED_AT = time(10, 0)


def parse_date(text: str, *, today: date | None = None) -> datetime | None:
    """A date as people type it (flows/parsing.py: 17-03-2026, 17/03, 17 maart...), as a naive
    midnight, or None."""
    day = parsing.parse_date(text, today=today or date.today())
    return datetime.combine(day, time()) if day else None


def local(ctx: Context, day: datetime, at: time) -> datetime:
    """`day` at the local time `at` in the programme time zone, as aware UTC-comparable."""
    zone = ZoneInfo(ctx.config.timezone)
    return datetime.combine(day.date(), at, tzinfo=zone)


async def plan_reminders(ctx: Context, session: GroupSession, learner: User, group: Group) -> None:
    """Queues the two reminders of one session for one learner; each once (dedup keys)."""
    zone = ZoneInfo(ctx.config.timezone)
    start = session.starts_at.astimezone(zone)
    moments = (
        ("eve", local(ctx, start - timedelta(days=1), EVENING_BEFORE)),
        ("morning", local(ctx, start, MORNING)),
    )
    for label, due in moments:
        if due <= ctx.now or due >= session.starts_at:
            continue
        if group.place:
            message = (
                N_("Reminder: tomorrow at {time} your group {group} meets. Place: {place}")
                if label == "eve"
                else N_("Today at {time} your group {group} meets. Place: {place}. See you there!")
            )
        else:  # no place to name: no "Place: -"
            message = (
                N_("Reminder: tomorrow at {time} your group {group} meets.")
                if label == "eve"
                else N_("Today at {time} your group {group} meets. See you there!")
            )
        await ctx.notify(
            learner.id,
            message,
            kind="session_reminder",
            scheduled=True,  # after what people wrote
            dedup_key=f"session:{session.id}:{learner.id}:{label}",
            due_at=due,
            expires_in=session.starts_at - due,
            time=start.strftime("%H:%M"),
            group=group.name,
            place=group.place or "",
        )


async def plan_reminders_for(ctx: Context, *, group: Group, learner: User) -> None:
    """Plans the reminders of every future session of a group for a learner who joined."""
    for session in await ctx.uow.sessions.of_group(group.id):
        if session.starts_at > ctx.now:
            await plan_reminders(ctx, session, learner, group)


class Sessions(GroupChoice, Flow):
    """Plans session dates and takes attendance."""

    name = "session"
    commands: ClassVar = {"session": N_("Plan sessions and take attendance")}
    menu: ClassVar = {"session": N_("Sessions")}
    roles = frozenset({COACH})
    action = "session"

    async def with_group(self, ctx: Context, group: Group) -> None:
        """Shows the sessions of the group and what the coach can do."""
        await ctx.begin(self, "menu", data={"group_id": group.id})

    async def ask_menu(self, ctx: Context) -> None:
        """Lists the coming sessions; offers planning and attendance."""
        zone = ZoneInfo(ctx.config.timezone)
        sessions = await ctx.uow.sessions.of_group(ctx.data["group_id"])
        coming = [s for s in sessions if s.starts_at > ctx.now][:5]
        lines = [ctx._("Coming sessions:")] if coming else [ctx._("No sessions planned.")]
        lines += [
            "• " + ctx.t.date(s.starts_at) + " " + s.starts_at.astimezone(zone).strftime("%H:%M")
            for s in coming
        ]
        ctx.say(
            "\n".join(lines),
            buttons=[
                [ctx.button(ctx._("Plan sessions"), "plan")],
                [ctx.button(ctx._("Take attendance"), "attendance")],
            ],
        )

    async def on_menu(self, ctx: Context, event: Event) -> None:
        """Starts planning, or the attendance of the last past session."""
        if event.value == "plan":
            await ctx.go("date")
        elif event.value == "attendance":
            sessions = await ctx.uow.sessions.of_group(ctx.data["group_id"])
            past = [s for s in sessions if s.starts_at <= ctx.now and s.attendance_at is None]
            if not past:
                ctx.say(ctx._("There is no past session without attendance."))
                await ctx.finish()
                return
            ctx.data["session_id"] = past[-1].id
            members = await ctx.uow.coaching.members(ctx.data["group_id"])
            ctx.data["present"] = [user.id for _, user in members]
            await ctx.go("attendance")
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    async def ask_date(self, ctx: Context) -> None:
        """Asks the date of the first session; offers the next meeting day of the group."""
        group = await ctx.uow.groups.get(ctx.data["group_id"])
        rows = []
        if group is not None and group.session_weekday is not None:
            today = ctx.now.astimezone(ZoneInfo(ctx.config.timezone)).date()
            ahead = (group.session_weekday - today.weekday() - 1) % 7 + 1
            day = today + timedelta(days=ahead)
            label = f"{ctx.t.weekday_label(group.session_weekday)} {ctx.t.date(day)}"
            rows.append([ctx.button(label, f"d:{day.isoformat()}")])
        ctx.say(
            ctx._("On which date is the first session? Type it like 17-03-2026."),
            buttons=[*rows, [ctx.way_out_button()]],
        )

    async def on_date(self, ctx: Context, event: Event) -> None:
        """Keeps the date (at the group's time) and asks how often."""
        value = event.value or ""
        day = parse_date(value[2:] if value.startswith("d:") else event.text, today=ctx.now.date())
        if day is None:
            await ctx.invalid(ctx._("Please type the date like 17-03-2026."))
            return
        group = await ctx.uow.groups.get(ctx.data["group_id"])
        assert group is not None
        hour, minute = (int(x) for x in (group.session_time or "18:00").split(":"))
        start = local(ctx, day, time(hour, minute))
        if start <= ctx.now:
            await ctx.invalid(ctx._("That date has passed. Please type a date in the future."))
            return
        ctx.data["start"] = start.isoformat()
        await ctx.go("repeat")

    async def ask_repeat(self, ctx: Context) -> None:
        """Asks how often the sessions repeat."""
        ctx.say(
            ctx._("How often?"),
            buttons=[
                [ctx.button(ctx._("Only once"), "0")],
                [ctx.button(ctx._("Every week"), "7")],
                [ctx.button(ctx._("Every 2 weeks"), "14")],
                [ctx.way_out_button()],
            ],
        )

    async def on_repeat(self, ctx: Context, event: Event) -> None:
        """Plans a single session, or asks how many."""
        if event.value not in ("0", "7", "14"):
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        ctx.data["every"] = int(event.value)
        if event.value == "0":
            await self._plan(ctx, count=1)
            return
        await ctx.go("count")

    async def ask_count(self, ctx: Context) -> None:
        """Asks how many sessions to plan."""
        counts = [ctx.button(str(n), str(n)) for n in (4, 6, 8, 10)]
        ctx.say(
            ctx._("How many sessions? Tap or type a number."),
            buttons=[counts, [ctx.way_out_button()]],
        )

    async def on_count(self, ctx: Context, event: Event) -> None:
        """Plans the number of sessions given."""
        text = event.value or event.text.strip()
        if not text.isdigit() or not 1 <= int(text) <= MAX_SESSIONS:
            await ctx.invalid(ctx._("Please give a number from 1 to {limit}.", limit=MAX_SESSIONS))
            return
        await self._plan(ctx, count=int(text))

    async def _plan(self, ctx: Context, *, count: int) -> None:
        """Stores the sessions and queues every member's reminders."""
        group = await ctx.uow.groups.get(ctx.data["group_id"])
        assert group is not None
        zone = ZoneInfo(ctx.config.timezone)
        first = datetime.fromisoformat(ctx.data["start"]).astimezone(zone)
        members = await ctx.uow.coaching.members(group.id)
        for index in range(count):
            day = first + timedelta(days=ctx.data["every"] * index)
            start = datetime.combine(day.date(), first.timetz())  # same local time
            session = await ctx.uow.sessions.add(GroupSession(group_id=group.id, starts_at=start))
            for _, learner in members:
                await plan_reminders(ctx, session, learner, group)
        ctx.say(
            ctx.n_(
                "Planned {n} session. Learners get a reminder the day before and that morning.",
                "Planned {n} sessions. Learners get a reminder the day before and that morning.",
                count,
                n=count,
            )
        )
        await ctx.finish()

    async def ask_attendance(self, ctx: Context) -> None:
        """One toggle per member: present or absent."""
        session = await ctx.uow.sessions.get(ctx.data["session_id"])
        assert session is not None
        members = await ctx.uow.coaching.members(ctx.data["group_id"])
        rows = [
            [
                ctx.button(
                    ("✅ " if user.id in ctx.data["present"] else "❌ ")
                    + (user.display_name or "?"),
                    f"p:{user.id}",
                )
            ]
            for _, user in members
        ]
        ctx.say(
            ctx._("Who was there on {date}? Tap to switch.", date=ctx.t.date(session.starts_at)),
            buttons=[*rows, [ctx.button(ctx._("Save"), "save")]],
        )

    async def on_attendance(self, ctx: Context, event: Event) -> None:
        """Toggles one learner, or stores the attendance and plans the messages."""
        value = event.value or ""
        if value.startswith("p:"):
            learner_id = parse_id(value[2:])
            present = ctx.data["present"]
            if learner_id in present:
                present.remove(learner_id)
            elif learner_id is not None:
                present.append(learner_id)
            ctx.save()
            await ctx.repeat(replace=True)
            return
        if value != "save":
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        session = await ctx.uow.sessions.get(ctx.data["session_id"])
        group = await ctx.uow.groups.get(ctx.data["group_id"])
        assert session is not None and group is not None
        zone = ZoneInfo(ctx.config.timezone)
        next_day = session.starts_at.astimezone(zone) + timedelta(days=1)
        late = ctx.now.astimezone(zone).date() > next_day.date()
        absent = 0
        for _, learner in await ctx.uow.coaching.members(group.id):
            here = learner.id in ctx.data["present"]
            await ctx.uow.signals.add(
                Signal(
                    user_id=learner.id,
                    kind=signals.SESSION_PRESENT if here else signals.SESSION_ABSENT,
                    at=ctx.now,
                    details={"session_id": session.id},
                )
            )
            if not here:
                absent += 1
                await ctx.notify(
                    learner.id,
                    N_(
                        "We missed you at the group yesterday, {name}. Everything all right? "
                        "The next time you are very welcome. You can always write to your "
                        "coach with /reply."
                    )
                    if not late
                    # Attendance taken days later: "yesterday" would be wrong by then.
                    else N_(
                        "We missed you at the last group session, {name}. Everything all "
                        "right? The next time you are very welcome. You can always write to "
                        "your coach with /reply."
                    ),
                    kind="session_missed",
                    buttons=[[N_("Reply to my coach"), "reply"]],
                    dedup_key=f"missed:{session.id}:{learner.id}",
                    due_at=max(local(ctx, next_day, MISSED_AT), ctx.now),
                    expires_in=timedelta(days=2),
                    name=learner.display_name or "",
                )
        session.attendance_at = ctx.now
        ctx.say(
            ctx.n_(
                "Saved. {n} learner was absent and gets a warm message tomorrow.",
                "Saved. {n} learners were absent and get a warm message tomorrow.",
                absent,
                n=absent,
            )
        )
        await ctx.finish()
