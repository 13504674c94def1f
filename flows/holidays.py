"""`/holidays`: coaches and coordinators enter the programme's holidays, days on which the
scheduler sends no nudges (school holidays, closing days). The same table is kept by the
`opstap holidays` command line."""

from __future__ import annotations

from datetime import date, timedelta
from typing import ClassVar

from flows.engine import COACH, COORDINATOR, Context, Flow
from flows.i18n import N_
from flows.messages import Event
from flows.parsing import parse_date
from storage.models import ProgrammeHoliday

#: How far ahead the list looks, and the longest holiday entered at once.
AHEAD = timedelta(days=400)
MAX_DAYS = 62
MAX_NAME = 80


def parse_day(text: str, *, today: date | None = None) -> date | None:
    """A date as learners type it (flows/parsing.py): 24/12/2026, 24/12, 24 décembre..."""
    return parse_date(text, today=today or date.today())


class Holidays(Flow):
    """Lists the coming programme holidays, adds a day or a period, removes one."""

    name = "holidays"
    commands: ClassVar = {"holidays": N_("Programme holidays: days without reminders")}
    roles = frozenset({COACH, COORDINATOR})

    async def start(self, ctx: Context, command: str, args: str) -> None:
        await ctx.begin(self, "overview")

    def today(self, ctx: Context) -> date:
        return ctx.now.astimezone(ctx.t.tz).date()

    async def coming(self, ctx: Context) -> list[ProgrammeHoliday]:
        today = self.today(ctx)
        return await ctx.uow.scheduler.holidays(start=today, end=today + AHEAD)

    async def ask_overview(self, ctx: Context) -> None:
        """Shows the coming holidays and what can be done."""
        days = await self.coming(ctx)
        lines = [ctx._("On these days learners get no reminders from me:")]
        lines += [
            f"{ctx.t.date(day.day, format='full')}{' - ' + day.name if day.name else ''}"
            for day in days
        ] or [ctx._("No programme holidays are planned.")]
        lines.append(ctx._("Public holidays in Belgium are skipped by themselves."))
        buttons = [[ctx.button(ctx._("Add a holiday"), "add")]]
        if days:
            buttons.append([ctx.button(ctx._("Remove a day"), "remove")])
        buttons.append([ctx.button(ctx._("Done"), "done")])
        ctx.say("\n".join(lines), buttons=buttons)

    async def on_overview(self, ctx: Context, event: Event) -> None:
        if event.value == "add":
            await ctx.go("first")
        elif event.value == "remove":
            await ctx.go("remove")
        elif event.value == "done":
            await ctx.finish()
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    async def ask_first(self, ctx: Context) -> None:
        """Asks for the first day."""
        ctx.say(
            ctx._("What is the first day? Type it like 24/12/2026."),
            buttons=[[ctx.way_out_button()]],
        )

    async def on_first(self, ctx: Context, event: Event) -> None:
        day = parse_day(event.text, today=ctx.now.date())
        if day is None:
            await ctx.invalid(ctx._("I could not read that date. Type it like 24/12/2026."))
            return
        if day < self.today(ctx):
            await ctx.invalid(ctx._("That day has passed. Please type a day from today on."))
            return
        ctx.data["first"] = day.isoformat()
        await ctx.go("last")

    async def ask_last(self, ctx: Context) -> None:
        """Asks for the last day, or only that one day."""
        ctx.say(
            ctx._("What is the last day? Type it like 05/01/2027, or tap the button."),
            buttons=[[ctx.button(ctx._("Only that day"), "same")], [ctx.way_out_button()]],
        )

    async def on_last(self, ctx: Context, event: Event) -> None:
        first = date.fromisoformat(ctx.data["first"])
        last = first if event.value == "same" else parse_day(event.text, today=first)
        if last is None:
            await ctx.invalid(ctx._("I could not read that date. Type it like 24/12/2026."))
            return
        if last < first or (last - first).days >= MAX_DAYS:
            await ctx.invalid(
                ctx.n_(
                    "The last day must be on or after the first day, and at most {days} day "
                    "later.",
                    "The last day must be on or after the first day, and at most {days} days "
                    "later.",
                    MAX_DAYS,
                    days=MAX_DAYS,
                )
            )
            return
        ctx.data["last"] = last.isoformat()
        await ctx.go("name")

    async def ask_name(self, ctx: Context) -> None:
        """Asks what the holiday is, which can be skipped."""
        ctx.say(
            ctx._("What is it called? For example: Christmas holidays."),
            buttons=[[ctx.button(ctx._("Skip"), "skip")], [ctx.way_out_button()]],
        )

    async def on_name(self, ctx: Context, event: Event) -> None:
        name = None if event.value == "skip" else " ".join(event.text.split())[:MAX_NAME]
        if event.value != "skip" and not name:
            await ctx.invalid(ctx._("Please type a name, or tap Skip."))
            return
        first = date.fromisoformat(ctx.data["first"])
        last = date.fromisoformat(ctx.data["last"])
        added = 0
        day = first
        while day <= last:
            holiday = ProgrammeHoliday(day=day, name=name or None, created_by=ctx.user.id)
            added += await ctx.uow.scheduler.add_holiday(holiday)
            day += timedelta(days=1)
        ctx.say(ctx.n_("{count} day added.", "{count} days added.", added))
        await ctx.go("overview")

    async def ask_remove(self, ctx: Context) -> None:
        """Offers the coming holidays, one per row."""
        days = (await self.coming(ctx))[:20]
        buttons = [
            [ctx.button(ctx.t.date(day.day, format="medium"), f"d:{day.day.isoformat()}")]
            for day in days
        ]
        ctx.say(
            ctx._("Which day do you want to remove?"), buttons=[*buttons, [ctx.way_out_button()]]
        )

    async def on_remove(self, ctx: Context, event: Event) -> None:
        value = event.value or ""
        try:
            day = date.fromisoformat(value.removeprefix("d:")) if value.startswith("d:") else None
        except ValueError:
            day = None
        if day is None:
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        if await ctx.uow.scheduler.remove_holiday(day):
            ctx.say(ctx._("Removed: {day}.", day=ctx.t.date(day, format="medium")))
        await ctx.go("overview")
