"""The weekly goal (/goal), the mid-week check-in (/checkin) and the look back at the end of
the week. One small, concrete goal per ISO week in the programme time zone; a streak counts
active weeks, and a missed week never wipes it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from flows import coachview, signals
from flows.competences import framework
from flows.engine import Context, Flow
from flows.goal_content import goal_library
from flows.i18n import N_, shorten
from flows.messages import Button, Event
from flows.parsing import parse_choices
from flows.transcripts import offer_transcript
from flows.uploads import ACCEPTED, VOICE_TYPES, UploadRejected, rejection_text, store_upload
from storage.models import Goal, User

MAX_GOAL_LENGTH = 300
VOICE_KINDS = frozenset({"voice", "audio"})
VOICE_ACCEPTED = {mime: suffix for mime, suffix in ACCEPTED.items() if mime in VOICE_TYPES}

#: What helped and what got in the way, as look-back buttons (id -> label).
HELPED: dict[str, str] = {
    "colleague": N_("A colleague helped"),
    "planned": N_("I planned a moment"),
    "small": N_("The goal was small"),
    "coach": N_("My coach or mentor"),
    "motivated": N_("I really wanted it"),
}
HINDERED: dict[str, str] = {
    "no_time": N_("No time"),
    "work": N_("Too busy at work"),
    "family": N_("Family or home"),
    "unclear": N_("Not clear how to start"),
    "forgot": N_("I forgot"),
    "health": N_("Health"),
}
OUTCOME_SIGNALS = {
    "reached": signals.GOAL_REACHED,
    "partly": signals.GOAL_PARTLY,
    "missed": signals.GOAL_MISSED,
}
OUTCOME_LABELS = {
    "reached": N_("reached"),
    "partly": N_("partly reached"),
    "missed": N_("not reached"),
}


# -- weeks ------------------------------------------------------------------------------
def week_of(moment: datetime, timezone: str) -> str:
    """The ISO week of a moment in the programme time zone, like "2026-W10"."""
    year, week, _ = moment.astimezone(ZoneInfo(timezone)).isocalendar()
    return f"{year}-W{week:02d}"


def week_start(week: str) -> date:
    """The Monday of an ISO week."""
    year, number = week.split("-W")
    return date.fromisocalendar(int(year), int(number), 1)


def previous_week(week: str) -> str:
    """The ISO week before this one."""
    year, number, _ = (week_start(week) - timedelta(days=7)).isocalendar()
    return f"{year}-W{number:02d}"


def this_week(ctx: Context) -> str:
    return week_of(ctx.now, ctx.config.timezone)


async def goal_in_hand(ctx: Context) -> Goal:
    """The learner's goal this flow is working on (its id is in the flow's data)."""
    goal = await ctx.uow.goals.get(int(ctx.data["goal_id"]))
    assert goal is not None and goal.learner_id == ctx.user.id
    return goal


# -- showing goals ------------------------------------------------------------------------
def theme_name(ctx: Context, theme_id: str) -> str:
    """The short name of a theme in the user's language."""
    return framework().theme(theme_id).short.get(ctx.user.language)


def goal_text(ctx: Context, goal: Goal) -> str:
    """The goal in words; a goal given as a voice note is named as such."""
    if goal.text:
        return goal.text
    return ctx._("(a voice note)")


def goal_card(ctx: Context, goal: Goal) -> str:
    """The goal with its theme, day, first step and confidence, in a few lines."""
    lines = [
        f"🎯 {goal_text(ctx, goal)}",
        ctx._("Theme: {theme}", theme=theme_name(ctx, goal.theme_id)),
    ]
    if goal.weekday is not None:
        lines.append(ctx._("Day: {day}", day=ctx.t.weekday(goal.weekday)))
    if goal.first_step:
        lines.append(ctx._("First step: {step}", step=goal.first_step))
    elif goal.extra.get("first_step_voice"):
        lines.append(ctx._("First step: {step}", step=ctx._("(a voice note)")))
    if goal.confidence is not None:
        lines.append(ctx._("How sure: {score} of 5", score=goal.confidence))
    return "\n".join(lines)


async def feedback_lines(ctx: Context, *, item_type: str, item_id: int) -> list[str]:
    """The coach's feedback on an item, as lines for the learner; marks it seen."""
    lines = []
    for feedback in await ctx.uow.feedback.for_item(item_type=item_type, item_id=item_id):
        if feedback.learner_id != ctx.user.id:
            continue
        if feedback.text:
            lines.append(ctx._("💬 Your coach: {text}", text=feedback.text))
        else:
            lines.append(ctx._("💬 Your coach sent you a voice note about this."))
        if feedback.seen_at is None:
            feedback.seen_at = ctx.now
    return lines


def answer_text(ctx: Context, answer: str, options: dict[str, str]) -> str:
    """A look-back answer in words: a button's label, the learner's own words, or a voice note."""
    if answer in options:
        return ctx._(options[answer])
    if answer.startswith("voice:"):
        return ctx._("(a voice note)")
    return answer


async def streak_text(ctx: Context) -> str:
    """The count of active weeks, with a warm welcome back after a gap."""
    weeks = await ctx.uow.goals.weeks_of(ctx.user.id)
    count = len(weeks)
    text = ctx.n_(
        "This is your first active week. Every week counts.",
        "You have been active for {count} weeks. Every week counts.",
        count,
    )
    if count >= 2 and weeks[-2] != previous_week(weeks[-1]):
        text = ctx._("Welcome back! Good to see you again.") + " " + text
    return text


async def suggest_theme(ctx: Context) -> tuple[str, str]:
    """A theme to suggest when the learner is not sure, and why, in their language."""
    levels = sorted(await ctx.uow.theme_levels.of_user(ctx.user.id), key=lambda level: level.score)
    if levels:
        theme = levels[0].theme_id
        reason = ctx._(
            "In your quick scan, this is where you can grow the most: {theme}.",
            theme=theme_name(ctx, theme),
        )
        return theme, reason
    done = await ctx.uow.goals.themes_of(ctx.user.id)
    if not done:
        return "reflection", ctx._(
            "A good start is {theme}: looking back on your work helps with every other theme.",
            theme=theme_name(ctx, "reflection"),
        )
    order = [theme.id for theme in framework().themes]
    theme = min(order, key=lambda theme_id: (done.count(theme_id), theme_id != "reflection"))
    return theme, ctx._(
        "You have worked least on {theme} so far. Why not try it this week?",
        theme=theme_name(ctx, theme),
    )


def today(ctx: Context) -> int:
    """Today's weekday (0 is Monday) in the programme time zone."""
    return ctx.now.astimezone(ZoneInfo(ctx.config.timezone)).weekday()


def weekday_buttons(ctx: Context) -> list[list[Button]]:
    """The days left in this week, today first and marked; the days gone are not offered."""
    first = today(ctx)
    days = [
        ctx.button(
            ctx._("Today ({day})", day=ctx.t.weekday(day))
            if day == first
            else ctx.t.weekday_label(day),
            f"d:{day}",
        )
        for day in range(first, 7)
    ]
    return (
        [days[:4], days[4:], [ctx.way_out_button()]]
        if days[4:]
        else [days, [ctx.way_out_button()]]
    )


async def keep_voice(ctx: Context, event: Event) -> int | None:
    """Stores a voice note (audio only); says why when it cannot. Returns the upload id."""
    assert event.file is not None
    try:
        upload, _ = await store_upload(ctx, event.file, accept=VOICE_ACCEPTED)
    except UploadRejected as error:
        await ctx.invalid(rejection_text(ctx, error))
        return None
    offer_transcript(ctx, upload)
    return upload.id


class GoalFlow(Flow):
    """Sets this week's goal, or looks back on last week's one first."""

    name = "goal"
    commands: ClassVar = {"goal": N_("Set this week's goal")}
    menu: ClassVar = {"goal": N_("My goal")}
    draft_steps = frozenset(
        {"theme", "suggest", "example", "own", "day", "first_step", "confidence", "low"}
    )

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Offers to continue a goal left unfinished; else looks back on an open goal of an
        earlier week, else shows or sets this week's."""
        if ctx.draft(self) is not None and not args:
            await ctx.begin(self, "draft")
            return
        await self.start_fresh(ctx, args)

    async def ask_draft(self, ctx: Context) -> None:
        """Offers to continue the goal that was being set, or to start over."""
        ctx.say(
            ctx._("You were setting a goal. Do you want to continue where you stopped?"),
            buttons=[
                [ctx.button(ctx._("Continue"), "continue")],
                [ctx.button(ctx._("Start over"), "restart")],
                [ctx.way_out_button()],
            ],
        )

    async def on_draft(self, ctx: Context, event: Event) -> None:
        """Continues at the kept place, or starts over without it."""
        place = ctx.draft(self)
        if event.value == "continue":
            ctx.drop_draft(self)
            if not await ctx.resume(place):
                await self.start_fresh(ctx, "")
        elif event.value == "restart":
            ctx.drop_draft(self)
            await self.start_fresh(ctx, "")
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    async def start_fresh(self, ctx: Context, args: str) -> None:
        week = this_week(ctx)
        current = await ctx.uow.goals.of_week(learner_id=ctx.user.id, week=week)
        if args == "smaller" and current is not None and current.outcome is None:
            data = {"goal_id": current.id, "theme": current.theme_id, "resize": True}
            await ctx.begin(self, "own", data=data)
            return
        earlier = await ctx.uow.goals.last_before(learner_id=ctx.user.id, week=week)
        if earlier is not None and earlier.outcome is None:
            await ctx.begin(self, "outcome", data={"goal_id": earlier.id})
            return
        if current is None:
            await ctx.begin(self, "theme")
        elif args == "lookback:done" and current.outcome is None:
            # "Done!" at the check-in already said it: not asked a second time.
            await ctx.begin(self, "helped", data={"goal_id": current.id, "outcome": "reached"})
        elif args == "lookback" and current.outcome is None:
            await ctx.begin(self, "outcome", data={"goal_id": current.id})
        else:
            await ctx.begin(self, "current", data={"goal_id": current.id})

    # this week's goal ------------------------------------------------------------------
    async def ask_current(self, ctx: Context) -> None:
        """Shows this week's goal with the coach's feedback, and what can be done with it."""
        goal = await goal_in_hand(ctx)
        lines = [ctx._("Your goal for this week:"), goal_card(ctx, goal)]
        lines += await feedback_lines(ctx, item_type="goal", item_id=goal.id)
        if goal.outcome is None:
            buttons = [
                [ctx.button(ctx._("Look back now"), "lookback", short=ctx._("Look back"))],
                [ctx.button(ctx._("Change my goal"), "change")],
                [ctx.button(ctx._("Keep it"), "keep")],
            ]
        else:
            lines.append(ctx._("You looked back on it already. Next week you can set a new goal."))
            buttons = [
                [
                    ctx.button(
                        ctx._("Reflect on it with STARR"),
                        "reflect",
                        short=ctx._("Reflect with STARR"),
                    )
                ],
                [ctx.button(ctx._("OK"), "keep")],
            ]
        ctx.say("\n".join(lines), buttons=buttons)

    async def on_current(self, ctx: Context, event: Event) -> None:
        """Looks back, changes the goal, or leaves it as it is."""
        if event.value == "lookback":
            await ctx.go("outcome")
        elif event.value == "change":
            await ctx.go("theme")
        elif event.value == "reflect":
            await ctx.start_flow("reflect", args=f"goal:{ctx.data['goal_id']}")
        elif event.value == "keep":
            looked_back = (await goal_in_hand(ctx)).outcome is not None
            ctx.say(
                ctx._("Fine. Send /goal when you are ready for your next goal.")
                if looked_back
                else ctx._("Good luck this week!")
            )
            await ctx.finish()
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    # theme -----------------------------------------------------------------------------
    async def ask_theme(self, ctx: Context) -> None:
        """Offers the six themes and "not sure"."""
        themes = [
            ctx.button(theme.short.get(ctx.user.language), f"t:{theme.id}")
            for theme in framework().themes
        ]
        rows = [themes[i : i + 2] for i in range(0, len(themes), 2)]
        rows.append([ctx.button(ctx._("I am not sure"), "unsure")])
        rows.append([ctx.way_out_button()])
        ctx.say(
            ctx._("One small goal a week. Which theme do you want to work on this week?"),
            buttons=rows,
        )

    async def on_theme(self, ctx: Context, event: Event) -> None:
        """Keeps the theme, or suggests one."""
        value = event.value or ""
        if value == "unsure":
            await ctx.go("suggest")
            return
        theme = value.removeprefix("t:")
        if not value.startswith("t:") or theme not in goal_library().themes:
            await ctx.invalid(ctx._("Please tap one of the themes."))
            return
        ctx.data["theme"] = theme
        await ctx.go("example")

    async def ask_suggest(self, ctx: Context) -> None:
        """Suggests a theme and says why."""
        theme, reason = await suggest_theme(ctx)
        ctx.data["suggested"] = theme
        ctx.say(
            reason,
            buttons=[
                [ctx.button(ctx._("Yes, {theme}", theme=theme_name(ctx, theme)), "yes")],
                [ctx.button(ctx._("I choose myself"), "choose")],
                [ctx.way_out_button()],
            ],
        )

    async def on_suggest(self, ctx: Context, event: Event) -> None:
        """Takes the suggested theme, or goes back to the list."""
        if event.value == "yes":
            ctx.data["theme"] = ctx.data["suggested"]
            await ctx.go("example")
        elif event.value == "choose":
            await ctx.go("theme")
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    # the goal itself -------------------------------------------------------------------
    async def ask_example(self, ctx: Context) -> None:
        """Lists small example goals of the theme by number, or a goal of one's own."""
        theme = ctx.data["theme"]
        examples = goal_library().themes[theme].examples
        lines = [
            ctx._(
                "Some small goals for {theme}. Tap a number, or write your own goal.",
                theme=theme_name(ctx, theme),
            )
        ]
        buttons = []
        for number, example in enumerate(examples, start=1):
            lines.append(f"{number}. {example.text.get(ctx.user.language)}")
            buttons.append(ctx.button(str(number), f"ex:{example.id}"))
        rows = [buttons[i : i + 5] for i in range(0, len(buttons), 5)]
        rows.append(
            [ctx.button(ctx._("✏️ Write my own goal"), "own", short=ctx._("✏️ My own goal"))]
        )
        rows.append([ctx.way_out_button()])
        ctx.say("\n".join(lines), buttons=rows)

    async def on_example(self, ctx: Context, event: Event) -> None:
        """Takes an example, or a goal typed or spoken right away."""
        value = event.value or ""
        if value == "own":
            await ctx.go("own")
            return
        examples = goal_library().themes[ctx.data["theme"]].examples
        typed = parse_choices(event.text, len(examples)) if event.kind == "text" else None
        if typed is not None and len(typed) == 1:  # "2" typed instead of tapped
            value = f"ex:{examples[typed[0] - 1].id}"
        elif event.kind == "text" or event.kind in VOICE_KINDS:
            await self.on_own(ctx, event)
            return
        example = goal_library().themes[ctx.data["theme"]].example(value.removeprefix("ex:"))
        if example is None:
            await ctx.invalid(ctx._("Please tap one of the buttons, or type your goal."))
            return
        ctx.data.update(text=example.text.get(ctx.user.language), example_id=example.id)
        ctx.data.pop("voice", None)
        await ctx.go("day")

    async def ask_own(self, ctx: Context) -> None:
        """Asks for a goal of one's own, small and concrete."""
        if ctx.data.get("resize"):
            text = ctx._(
                "Let us make your goal smaller. What is a small step you can surely do this "
                "week? Type it or send a voice note."
            )
        else:
            text = ctx._(
                "Write your goal in one short sentence, or send a voice note. "
                "Keep it small and concrete: what will you do, and where?"
            )
        ctx.say(text, buttons=[[ctx.way_out_button()]])

    async def on_own(self, ctx: Context, event: Event) -> None:
        """Keeps the learner's own goal, typed or as a voice note."""
        if event.kind in VOICE_KINDS and event.file is not None:
            upload_id = await keep_voice(ctx, event)
            if upload_id is None:
                return
            ctx.data.update(text=event.text.strip(), voice=upload_id, example_id=None)
        elif event.kind == "text" and event.text.strip():
            text = " ".join(event.text.split())
            if len(text) > MAX_GOAL_LENGTH:
                await ctx.invalid(
                    ctx.n_(
                        "That is a big goal. Please keep it under {limit} character: "
                        "one small step.",
                        "That is a big goal. Please keep it under {limit} characters: "
                        "one small step.",
                        MAX_GOAL_LENGTH,
                        limit=MAX_GOAL_LENGTH,
                    )
                )
                return
            ctx.data.update(text=text, example_id=None)
            ctx.data.pop("voice", None)
        else:
            await ctx.invalid(ctx._("Please type your goal or send a voice note."))
            return
        if ctx.data.get("resize") == "low":
            await ctx.go("confidence")  # and how sure now?
        elif ctx.data.get("resize"):
            await self.save(ctx)
        else:
            await ctx.go("day")

    async def ask_day(self, ctx: Context) -> None:
        """Asks on which day the learner will do it."""
        ctx.say(ctx._("On which day will you do it?"), buttons=weekday_buttons(ctx))

    async def on_day(self, ctx: Context, event: Event) -> None:
        """Keeps the day."""
        value = (event.value or "").removeprefix("d:")
        if not value.isdigit() or int(value) > 6:
            await ctx.invalid(ctx._("Please tap a day."))
            return
        if int(value) < today(ctx):  # asked on an earlier day, answered later
            await ctx.invalid(
                ctx._(
                    "{day} has passed already this week. Please choose today or a day still "
                    "to come.",
                    day=ctx.t.weekday_label(int(value)),
                )
            )
            return
        ctx.data["weekday"] = int(value)
        await ctx.go("first_step")

    async def ask_first_step(self, ctx: Context) -> None:
        """Asks for the very first small step."""
        ctx.say(
            ctx._(
                'What is your first small step? For example: "On {day} I ask my team '
                'leader." Type it or send a voice note.',
                day=ctx.t.weekday(int(ctx.data.get("weekday", today(ctx)))),
            ),
            buttons=[[ctx.button(ctx._("Skip"), "skip")], [ctx.way_out_button()]],
        )

    async def on_first_step(self, ctx: Context, event: Event) -> None:
        """Keeps the first step, typed or spoken, or none."""
        ctx.data.pop("first_step", None)
        ctx.data.pop("first_step_voice", None)
        if event.kind in VOICE_KINDS and event.file is not None:
            upload_id = await keep_voice(ctx, event)
            if upload_id is None:
                return
            ctx.data["first_step_voice"] = upload_id
        elif event.kind == "text" and event.text.strip():
            ctx.data["first_step"] = " ".join(event.text.split())[:MAX_GOAL_LENGTH]
        elif event.value != "skip":
            await ctx.invalid(ctx._("Please type your first step, or tap Skip."))
            return
        await ctx.go("confidence")

    async def ask_confidence(self, ctx: Context) -> None:
        """Asks how sure the learner is, 1 to 5."""
        scores = [ctx.button(str(score), f"c:{score}") for score in range(1, 6)]
        ctx.say(
            ctx._("How sure are you that you will do it? 1 is not sure, 5 is very sure."),
            buttons=[scores, [ctx.way_out_button()]],
        )

    async def on_confidence(self, ctx: Context, event: Event) -> None:
        """Keeps the score; a low one gets the offer to make the goal smaller."""
        value = (event.value or event.text).strip().removeprefix("c:")
        if value not in {"1", "2", "3", "4", "5"}:
            await ctx.invalid(ctx._("Please tap a number from 1 to 5."))
            return
        ctx.data["confidence"] = int(value)
        if int(value) <= 2:
            await ctx.go("low")
        else:
            await self.save(ctx)

    async def ask_low(self, ctx: Context) -> None:
        """Offers to make the goal smaller, without blame."""
        ctx.say(
            ctx._("Thank you for being honest. A smaller goal is often easier to reach."),
            buttons=[
                [ctx.button(ctx._("Make it smaller"), "smaller")],
                [ctx.button(ctx._("Keep it like this"), "keep")],
            ],
        )

    async def on_low(self, ctx: Context, event: Event) -> None:
        """Makes the goal smaller, or keeps it."""
        if event.value == "smaller":
            ctx.data["resize"] = "low"
            await ctx.go("own")
        elif event.value == "keep":
            await self.save(ctx)
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    async def save(self, ctx: Context) -> None:
        """Stores this week's goal (one per week), records GOAL_SET and shows the streak."""
        data = ctx.data
        week = this_week(ctx)
        goal = await ctx.uow.goals.get(int(data["goal_id"])) if data.get("goal_id") else None
        if goal is None:
            goal = await ctx.uow.goals.of_week(learner_id=ctx.user.id, week=week)
        new = goal is None
        if goal is None:
            goal = await ctx.uow.goals.add(
                Goal(
                    learner_id=ctx.user.id,
                    week=week,
                    theme_id=data["theme"],
                    text=data.get("text", ""),
                    created_at=ctx.now,
                    updated_at=ctx.now,
                )
            )
        goal.theme_id = data["theme"]
        goal.text = data.get("text", "")
        goal.example_id = data.get("example_id")
        goal.voice_upload_id = data.get("voice")
        if "weekday" in data:
            goal.weekday = data["weekday"]
        if not data.get("resize") or "first_step" in data or "first_step_voice" in data:
            goal.first_step = data.get("first_step")
            extra = dict(goal.extra)
            extra.pop("first_step_voice", None)
            if data.get("first_step_voice"):
                extra["first_step_voice"] = data["first_step_voice"]
            goal.extra = extra
        if "confidence" in data:
            goal.confidence = data["confidence"]
        goal.updated_at = ctx.now
        ctx.drop_draft(self)
        await ctx.signal(signals.GOAL_SET, week=goal.week, goal_id=goal.id)
        ctx.say(ctx._("Your goal is saved.") + "\n" + goal_card(ctx, goal))
        if new:
            ctx.say(await streak_text(ctx))
        await ctx.finish()

    # look back -------------------------------------------------------------------------
    async def ask_outcome(self, ctx: Context) -> None:
        """Asks whether the goal of the week was done."""
        goal = await goal_in_hand(ctx)
        lines = [
            ctx._(
                "Let us look back on your goal of the week of {date}:",
                date=ctx.t.date(week_start(goal.week)),
            ),
            f"🎯 {goal_text(ctx, goal)}",
        ]
        lines += await feedback_lines(ctx, item_type="goal", item_id=goal.id)
        lines.append(ctx._("Did you do it?"))
        ctx.say(
            "\n".join(lines),
            buttons=[
                [ctx.button(ctx._("Yes, done"), "reached")],
                [ctx.button(ctx._("Partly"), "partly")],
                [ctx.button(ctx._("Not this time"), "missed")],
                [ctx.way_out_button()],
            ],
        )

    async def on_outcome(self, ctx: Context, event: Event) -> None:
        """Keeps the outcome, then asks what helped or what got in the way."""
        if event.value not in OUTCOME_SIGNALS:
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        ctx.data["outcome"] = event.value
        await ctx.go("hindered" if event.value == "missed" else "helped")

    async def ask_helped(self, ctx: Context) -> None:
        """Asks what helped."""
        self._options(ctx, ctx._("What helped you? Tap one, or say it in your own words."), HELPED)

    async def on_helped(self, ctx: Context, event: Event) -> None:
        """Keeps what helped."""
        if not await self._keep_answer(ctx, event, "helped", HELPED):
            return
        if ctx.data["outcome"] == "partly":
            await ctx.go("hindered")
        else:
            await self.close_goal(ctx)

    async def ask_hindered(self, ctx: Context) -> None:
        """Asks what got in the way, without blame."""
        self._options(
            ctx, ctx._("What got in the way? Tap one, or say it in your own words."), HINDERED
        )

    async def on_hindered(self, ctx: Context, event: Event) -> None:
        """Keeps what got in the way."""
        if await self._keep_answer(ctx, event, "hindered", HINDERED):
            await self.close_goal(ctx)

    def _options(self, ctx: Context, question: str, options: dict[str, str]) -> None:
        rows = [[ctx.button(ctx._(label), f"o:{key}")] for key, label in options.items()]
        ctx.say(question, buttons=[*rows, [ctx.way_out_button()]])

    async def _keep_answer(
        self, ctx: Context, event: Event, key: str, options: dict[str, str]
    ) -> bool:
        value = (event.value or "").removeprefix("o:")
        if event.kind == "button" and value in options:
            ctx.data[key] = value
        elif event.kind == "text" and event.text.strip():
            ctx.data[key] = " ".join(event.text.split())[:MAX_GOAL_LENGTH]
        elif event.kind in VOICE_KINDS and event.file is not None:
            upload_id = await keep_voice(ctx, event)
            if upload_id is None:
                return False
            ctx.data[key] = f"voice:{upload_id}"
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons, or type a few words."))
            return False
        return True

    async def close_goal(self, ctx: Context) -> None:
        """Stores the look back, records the signal and celebrates what was done."""
        goal = await goal_in_hand(ctx)
        outcome = ctx.data["outcome"]
        goal.outcome = outcome
        goal.helped = [ctx.data["helped"]] if ctx.data.get("helped") else []
        goal.hindered = [ctx.data["hindered"]] if ctx.data.get("hindered") else []
        goal.looked_back_at = ctx.now
        goal.updated_at = ctx.now
        await ctx.signal(OUTCOME_SIGNALS[outcome], week=goal.week, goal_id=goal.id)
        reached = await ctx.uow.goals.count_reached(ctx.user.id)
        count = ctx.n_("You reached {count} goal.", "You reached {count} goals.", reached)
        if outcome == "reached":
            ctx.say(ctx._("Well done! 🎉") + " " + count)
        elif outcome == "partly":
            ctx.say(ctx._("Good: a part is also a step forward.") + " " + count)
        else:
            ctx.say(
                ctx._(
                    "That happens, and it is fine. You learn from this too. "
                    "Next week we try a goal that fits better."
                )
            )
        await ctx.go("after")

    async def ask_after(self, ctx: Context) -> None:
        """Offers a STARR reflection on it, then the next goal."""
        rows = [
            [
                ctx.button(
                    ctx._("Reflect on it with STARR"),
                    "reflect",
                    short=ctx._("Reflect with STARR"),
                )
            ]
        ]
        if await ctx.uow.goals.of_week(learner_id=ctx.user.id, week=this_week(ctx)) is None:
            rows.append([ctx.button(ctx._("Set my next goal"), "next")])
        rows.append([ctx.button(ctx._("Not now"), "later")])
        ctx.say(
            ctx._(
                "Do you want to write a short STARR reflection about it? It helps you learn, "
                "and it can become evidence for your portfolio."
            ),
            buttons=rows,
        )

    async def on_after(self, ctx: Context, event: Event) -> None:
        """Starts the reflection, the next goal, or ends."""
        if event.value == "reflect":
            await ctx.start_flow("reflect", args=f"goal:{ctx.data['goal_id']}")
        elif event.value == "next":
            ctx.data = {}
            await ctx.go("theme")
        elif event.value == "later":
            ctx.say(ctx._("Fine. Send /goal when you are ready for your next goal."))
            await ctx.finish()
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))


class CheckinFlow(Flow):
    """Asks in the middle of the week how the goal is going."""

    name = "checkin"
    commands: ClassVar = {"checkin": N_("Tell me how your goal is going")}
    menu: ClassVar = {"checkin": N_("How is it going?")}

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Asks about this week's goal, or offers to set one."""
        goal = await ctx.uow.goals.of_week(learner_id=ctx.user.id, week=this_week(ctx))
        if goal is None or goal.outcome is not None:
            ctx.say(
                ctx._("You have no open goal for this week yet."),
                buttons=[[ctx.command_button(ctx._("Set my goal"), "goal")]],
            )
            await ctx.finish(menu=False)
            return
        await ctx.begin(self, "how", data={"goal_id": goal.id})

    async def ask_how(self, ctx: Context) -> None:
        """Asks how the goal is going."""
        goal = await goal_in_hand(ctx)
        ctx.say(
            ctx._("How is your goal going?") + f"\n🎯 {goal_text(ctx, goal)}",
            buttons=[
                [ctx.button(ctx._("Done!"), "done")],
                [ctx.button(ctx._("Busy with it"), "busy")],
                [ctx.button(ctx._("I am stuck"), "stuck")],
                [ctx.button(ctx._("No time this week"), "no_time", short=ctx._("No time"))],
                [ctx.way_out_button()],
            ],
        )

    async def on_how(self, ctx: Context, event: Event) -> None:
        """Keeps the answer; "stuck" gets help, "no time" is passed on without blame."""
        goal = await goal_in_hand(ctx)
        if event.value not in {"done", "busy", "stuck", "no_time"}:
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        goal.checkin, goal.checkin_at = event.value, ctx.now
        if event.value == "done":
            await ctx.go("look_back")
        elif event.value == "busy":
            step = goal.first_step
            ctx.say(
                ctx._("Good, keep going! Your first step was: {step}", step=step)
                if step
                else ctx._("Good, keep going! Small steps count.")
            )
            await ctx.finish()
        elif event.value == "no_time":
            await ctx.signal(signals.CHECKIN_NO_TIME, week=goal.week, goal_id=goal.id)
            has_coach = await ctx.uow.memberships.coach_id_for(ctx.user.id) is not None
            ctx.say(
                ctx._(
                    "Thank you for telling me. Busy weeks happen, and that is OK. "
                    "Your coach will know, so they can take it into account. "
                    "Next week is a new chance."
                )
                if has_coach
                else ctx._(
                    "Thank you for telling me. Busy weeks happen, and that is OK. "
                    "Next week is a new chance."
                )
            )
            await ctx.finish()
        else:
            await ctx.signal(signals.CHECKIN_STUCK, week=goal.week, goal_id=goal.id)
            await ctx.go("stuck")

    async def ask_look_back(self, ctx: Context) -> None:
        """Offers the look back now, or later."""
        ctx.say(
            ctx._("Great, well done! Shall we look back on it now?"),
            buttons=[
                [ctx.button(ctx._("Look back now"), "now", short=ctx._("Look back"))],
                [ctx.button(ctx._("Later"), "later")],
            ],
        )

    async def on_look_back(self, ctx: Context, event: Event) -> None:
        """Hands over to the look back, or ends with a pointer to /goal."""
        if event.value == "now":
            await ctx.start_flow("goal", args="lookback:done")
        elif event.value == "later":
            ctx.say(ctx._("Fine. Send /goal when you want to look back."))
            await ctx.finish()
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    async def ask_stuck(self, ctx: Context) -> None:
        """Gives a tip for the theme and offers a smaller goal or the coach."""
        goal = await goal_in_hand(ctx)
        tip = goal_library().themes[goal.theme_id].tip.get(ctx.user.language)
        ctx.say(
            ctx._("Being stuck is part of learning. A tip: {tip}", tip=tip),
            buttons=[
                [ctx.button(ctx._("Make my goal smaller"), "smaller")],
                [ctx.button(ctx._("Tell my coach"), "coach")],
                [ctx.button(ctx._("I will try again"), "retry")],
                [ctx.way_out_button()],
            ],
        )

    async def on_stuck(self, ctx: Context, event: Event) -> None:
        """Makes the goal smaller, tells the coach, or goes on."""
        goal = await goal_in_hand(ctx)
        if event.value == "smaller":
            await ctx.start_flow("goal", args="smaller")
        elif event.value == "coach":
            await self.tell_coach(ctx, goal)
            await ctx.finish()
        elif event.value == "retry":
            ctx.say(ctx._("You can do it. One small step at a time."))
            await ctx.finish()
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    async def tell_coach(self, ctx: Context, goal: Goal) -> None:
        """Tells the coach the learner is stuck, or says kindly there is no coach yet."""
        coach_id = await ctx.uow.memberships.coach_id_for(ctx.user.id)
        if coach_id is None:
            ctx.say(
                ctx._(
                    "You do not have a coach in Opstap yet. When you join your learning "
                    "group, I can pass on messages like this. You can also talk about it at "
                    "the next session."
                )
            )
            return
        await ctx.notify(
            coach_id,
            N_("{name} is stuck on this week's goal and would like your help: {goal}"),
            kind="asked_for_coach",
            about=ctx.user.id,
            dedup_key=f"asked_for_coach:{goal.id}:{ctx.conversation.seq}",
            name=ctx.user.display_name or "?",
            goal=goal.text or "🎤",
        )
        await ctx.signal(signals.ASKED_FOR_COACH, week=goal.week, goal_id=goal.id)
        ctx.say(ctx._("I told your coach. They will get in touch with you."))


@coachview.section(order=20)
async def goals_section(ctx: Context, learner: User) -> coachview.Section:
    """The learner's recent goals, with their outcome, in the coach's language."""
    goals = await ctx.uow.goals.of_learner(learner.id, limit=8)
    reached = await ctx.uow.goals.count_reached(learner.id)
    weeks = await ctx.uow.goals.weeks_of(learner.id)
    lines = [
        ctx._(
            "Active weeks: {weeks}. Goals reached: {reached}.", weeks=len(weeks), reached=reached
        )
    ]
    items = []
    for goal in goals:
        status = ctx._(OUTCOME_LABELS[goal.outcome]) if goal.outcome else ctx._("open")
        lines.append(
            ctx._("week of {date}", date=ctx.t.date(week_start(goal.week)))
            + f" · {theme_name(ctx, goal.theme_id)} · {goal_text(ctx, goal)} ({status})"
        )
        for key, options, label in (
            ("helped", HELPED, N_("Helped: {answer}")),
            ("hindered", HINDERED, N_("Got in the way: {answer}")),
        ):
            for answer in getattr(goal, key):
                lines.append("  " + ctx._(label, answer=answer_text(ctx, answer, options)))
        items.append(
            coachview.Item(
                item_type="goal",
                item_id=goal.id,
                title=shorten(goal_text(ctx, goal), 60),
                when=goal.created_at,
            )
        )
    if not goals:
        lines.append(ctx._("No goals yet."))
    return coachview.Section(title=ctx._("Weekly goals"), lines=lines, share="goals", items=items)
