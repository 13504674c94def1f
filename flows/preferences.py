"""`/settings` (goal day, days off, time of day, quiet hours, pace, language) and `/pause`.

The scheduler reads these preferences when it plans and again when it sends.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from flows import signals as S
from flows.engine import Context, Flow
from flows.i18n import N_
from flows.messages import Event
from flows.nudges import in_quiet_hours, parse_hhmm
from flows.parsing import parse_time
from storage.models import Preferences

TIMES = ("08:00", "10:00", "12:00", "14:00", "17:00", "18:00", "19:00", "20:00")
QUIET = (("21:00", "08:00"), ("22:00", "07:00"), ("20:00", "09:00"))
PAUSES = {"1": 1, "2": 2, "4": 4}


async def preferences_of(ctx: Context) -> Preferences:
    """The learner's preferences, created with the defaults when there are none yet."""
    prefs = await ctx.uow.preferences.get(ctx.user.id)
    if prefs is None:
        prefs = await ctx.uow.preferences.add(Preferences(user_id=ctx.user.id))
    return prefs


class Settings(Flow):
    """When and how often Opstap writes."""

    name = "settings"
    commands: ClassVar = {"settings": N_("Choose when and how often I write to you")}
    menu: ClassVar = {"settings": N_("Settings")}

    async def start(self, ctx: Context, command: str, args: str) -> None:
        await ctx.begin(self, "menu")

    async def ask_menu(self, ctx: Context) -> None:
        prefs = await preferences_of(ctx)
        days_off = ", ".join(ctx.t.weekday(d) for d in sorted(prefs.days_off)) or ctx._("none")
        pace = ctx._("light") if prefs.pace == "light" else ctx._("normal")
        ctx.say(
            ctx._(
                "Your settings:\nGoal day: {goal_day}\nDays off: {days_off}\n"
                "Messages around: {time}\nQuiet hours: {quiet_start} to {quiet_end}\nPace: {pace}",
                goal_day=ctx.t.weekday(prefs.goal_weekday),
                days_off=days_off,
                time=prefs.preferred_time,
                quiet_start=prefs.quiet_start,
                quiet_end=prefs.quiet_end,
                pace=pace,
            ),
            buttons=[
                [ctx.button(ctx._("Goal day"), "goal_day"), ctx.button(ctx._("Days off"), "days")],
                [ctx.button(ctx._("Time"), "time"), ctx.button(ctx._("Quiet hours"), "quiet")],
                [ctx.button(ctx._("Pace"), "pace"), ctx.button(ctx._("Language"), "language")],
                [ctx.button(ctx._("Done"), "done")],
            ],
        )

    async def on_menu(self, ctx: Context, event: Event) -> None:
        choice = event.value if event.kind == "button" else None
        if choice == "done":
            ctx.say(ctx._("Your settings are saved."))
            await ctx.finish()
        elif choice == "language":
            await ctx.start_flow("language")
        elif choice in ("goal_day", "days", "time", "quiet", "pace"):
            await ctx.go(choice)
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    async def ask_goal_day(self, ctx: Context) -> None:
        days = [ctx.button(ctx.t.weekday_label(d), str(d)) for d in range(7)]
        ctx.say(
            ctx._("On which day do you want to choose your weekly goal?"),
            buttons=[days[0:4], days[4:7], [ctx.way_out_button()]],
        )

    async def on_goal_day(self, ctx: Context, event: Event) -> None:
        if event.kind != "button" or not (event.value or "").isdigit():
            await ctx.invalid(ctx._("Please tap one of the days."))
            return
        (await preferences_of(ctx)).goal_weekday = int(event.value or 0) % 7
        await ctx.go("menu")

    async def ask_days(self, ctx: Context) -> None:
        prefs = await preferences_of(ctx)
        days = [
            ctx.button(("✓ " if d in prefs.days_off else "") + ctx.t.weekday_label(d), str(d))
            for d in range(7)
        ]
        ctx.say(
            ctx._("On which days do you not want messages? Tap a day to change it."),
            buttons=[days[0:4], days[4:7], [ctx.button(ctx._("Done"), "done")]],
        )

    async def on_days(self, ctx: Context, event: Event) -> None:
        value = event.value if event.kind == "button" else None
        if value == "done":
            await ctx.go("menu")
            return
        if value is None or not value.isdigit() or int(value) > 6:
            await ctx.invalid(ctx._("Please tap one of the days."))
            return
        prefs = await preferences_of(ctx)
        day = int(value)
        chosen = set(prefs.days_off) ^ {day}
        if len(chosen) == 7:
            await ctx.invalid(ctx._("Please keep at least one day for messages."))
            return
        prefs.days_off = sorted(chosen)
        await ctx.repeat(replace=True)

    async def ask_time(self, ctx: Context) -> None:
        buttons = [ctx.button(t, t) for t in TIMES]
        ctx.say(
            ctx._("Around what time do my messages suit you? Tap a time or type one, like 18:30."),
            buttons=[buttons[0:4], buttons[4:8], [ctx.way_out_button()]],
        )

    async def on_time(self, ctx: Context, event: Event) -> None:
        chosen = parse_time((event.value or "") if event.kind == "button" else event.text)
        if chosen is None:
            await ctx.invalid(ctx._("Please type a time like 18:30."))
            return
        prefs = await preferences_of(ctx)
        start, end = parse_hhmm(prefs.quiet_start), parse_hhmm(prefs.quiet_end)
        if start and end and in_quiet_hours(chosen, start, end):
            await ctx.invalid(
                ctx._("That time is in your quiet hours. Please choose another time.")
            )
            return
        prefs.preferred_time = chosen.strftime("%H:%M")
        await ctx.go("menu")

    async def ask_quiet(self, ctx: Context) -> None:
        buttons = [ctx.button(f"{a} – {b}", f"{a}-{b}") for a, b in QUIET]
        ctx.say(
            ctx._("When should I be quiet? Tap a choice or type it, like 22:00-07:30."),
            buttons=[buttons, [ctx.way_out_button()]],
        )

    async def on_quiet(self, ctx: Context, event: Event) -> None:
        text = (event.value or "") if event.kind == "button" else event.text
        first, _, second = text.replace("–", "-").partition("-")
        start, end = parse_time(first), parse_time(second)
        if start is None or end is None or start == end:
            await ctx.invalid(ctx._("Please type two times, like 22:00-07:30."))
            return
        prefs = await preferences_of(ctx)
        prefs.quiet_start, prefs.quiet_end = start.strftime("%H:%M"), end.strftime("%H:%M")
        preferred = parse_hhmm(prefs.preferred_time)
        if preferred and in_quiet_hours(preferred, start, end):
            prefs.preferred_time = prefs.quiet_end
            ctx.say(
                ctx._(
                    "Your message time was in the quiet hours. I moved it to {time}.",
                    time=prefs.preferred_time,
                )
            )
        await ctx.go("menu")

    async def ask_pace(self, ctx: Context) -> None:
        ctx.say(
            ctx._("How often may I write to you?"),
            buttons=[
                [
                    ctx.button(
                        ctx._("Normal: up to 4 messages a week"),
                        "normal",
                        short=ctx._("Normal: 4 a week"),
                    )
                ],
                [
                    ctx.button(
                        ctx._("Light: up to 2 messages a week"),
                        "light",
                        short=ctx._("Light: 2 a week"),
                    )
                ],
                [ctx.way_out_button()],
            ],
        )

    async def on_pace(self, ctx: Context, event: Event) -> None:
        if event.kind != "button" or event.value not in ("normal", "light"):
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        (await preferences_of(ctx)).pace = event.value
        await ctx.go("menu")


class Pause(Flow):
    """A break from the messages: 1, 2 or 4 weeks, or until the learner resumes."""

    name = "pause"
    commands: ClassVar = {"pause": N_("Take a break from my messages, or end the break")}

    async def start(self, ctx: Context, command: str, args: str) -> None:
        await ctx.begin(self, "choose")

    async def ask_choose(self, ctx: Context) -> None:
        prefs = await preferences_of(ctx)
        if prefs.paused_indefinitely or (
            prefs.paused_until is not None and prefs.paused_until > ctx.now
        ):
            text = (
                ctx._("Your messages are paused until you start them again.")
                if prefs.paused_indefinitely or prefs.paused_until is None
                else ctx._(
                    "Your messages are paused until {date}.", date=ctx.t.date(prefs.paused_until)
                )
            )
            ctx.say(
                text,
                buttons=[
                    [
                        ctx.button(
                            ctx._("Start my messages again"),
                            "resume",
                            short=ctx._("Restart messages"),
                        )
                    ],
                    [ctx.button(ctx._("Keep the pause"), "keep")],
                ],
            )
            return
        ctx.say(
            ctx._("How long do you want a break from my messages?"),
            buttons=[
                [
                    ctx.button(ctx._("1 week"), "1"),
                    ctx.button(ctx._("2 weeks"), "2"),
                    ctx.button(ctx._("4 weeks"), "4"),
                ],
                [ctx.button(ctx._("Until I start again"), "open", short=ctx._("Until I restart"))],
                [ctx.button(ctx._("No break"), "keep")],
            ],
        )

    async def on_choose(self, ctx: Context, event: Event) -> None:
        value = event.value if event.kind == "button" else None
        prefs = await preferences_of(ctx)
        if value == "keep":
            ctx.say(ctx._("All right, nothing changes."))
            await ctx.finish()
        elif value == "resume":
            prefs.paused_until, prefs.paused_indefinitely = None, False
            if ctx.user.status == "paused":
                ctx.user.status = "active"
            await ctx.signal(S.RESUMED)
            ctx.say(ctx._("Welcome back! Your messages start again."))
            await ctx.finish()
        elif value in PAUSES or value == "open":
            weeks = PAUSES.get(value)
            prefs.paused_indefinitely = weeks is None
            prefs.paused_until = ctx.now + timedelta(weeks=weeks) if weeks else None
            ctx.user.status = "paused"
            await ctx.signal(
                S.PAUSED,
                weeks=weeks,
                until=prefs.paused_until.isoformat() if prefs.paused_until else None,
            )
            if prefs.paused_until is not None:
                ctx.say(
                    ctx._(
                        "Enjoy your break. I will write again after {date}."
                        " Send /pause to start earlier.",
                        date=ctx.t.date(prefs.paused_until),
                    )
                )
            else:
                ctx.say(ctx._("Enjoy your break. Send /pause when you want to start again."))
            await ctx.finish()
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))
