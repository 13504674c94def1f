"""The intake: who the learner is, what they want, what can get in the way, when they learn.

It runs `flows/questionnaires/intake.yaml` (flows/questionnaire_flow.py), then derives a
suggested route, a language-support suggestion, barrier signals and the learner's reminder
preferences, offers the quick scan, and shows the coach a summary (coach view section 10).
`/start intake_<join code>` lets a candidate fill it in and tells the coach who owns the code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from flows import coachview
from flows.competences import LEVELS, framework
from flows.engine import Context
from flows.i18n import N_, shorten
from flows.messages import Event
from flows.questionnaire import Answer, Questionnaire, questionnaire
from flows.questionnaire_flow import (
    QuestionnaireFlow,
    answer_lines,
    current_response,
    effective,
    latest_done,
)
from flows.quickscan import LEVEL_NAMES, QUICKSCAN
from flows.signals import BARRIER, BARRIERS
from storage.models import Preferences, QuestionnaireResponse, User

INTAKE = "intake"
#: Years of relevant experience from which the EVC route is suggested.
EVC_YEARS = 3
#: Self-assessed Dutch levels below B1, for which language support is suggested.
BELOW_B1 = frozenset({"a1", "a2"})


def intake_results(form: Questionnaire, answers: Mapping[str, Answer]) -> dict[str, Any]:
    """What the intake answers suggest: route, language support, barriers, preferences."""
    given = effective(form, answers)
    years = given.get("years")
    years = years if isinstance(years, int | float) else None
    level = given.get("dutch_level")
    level = level if isinstance(level, str) else None
    chosen = given.get("barriers")
    barriers = [b for b in chosen if b in BARRIERS] if isinstance(chosen, list) else []
    results: dict[str, Any] = {
        "route": "evc" if years is not None and years >= EVC_YEARS else "regular",
        "years": years,
        "mother_tongue": given.get("mother_tongue"),
        "dutch_level": level,
        "language_support": level in BELOW_B1,
        "barriers": barriers,
    }
    results.update(preferences_from(form, given))
    return results


def preferences_from(form: Questionnaire, given: Mapping[str, Answer]) -> dict[str, Any]:
    """The learning days, reminder days off and preferred time the answers give."""
    days_question, time_question = form.question("days"), form.question("time_of_day")
    days: list[int] = []
    chosen_days = given.get("days")
    if days_question is not None and isinstance(chosen_days, list):
        for option_id in chosen_days:
            option = days_question.option(str(option_id))
            if option is not None and isinstance(option.value, int):
                days.append(option.value)
    days.sort()
    preferred = None
    if time_question is not None and isinstance(given.get("time_of_day"), str):
        option = time_question.option(str(given["time_of_day"]))
        preferred = str(option.value) if option is not None and option.value else None
    reminders = given.get("reminders")
    days_off: list[int] | None = None
    if reminders == "learning_days" and days:
        days_off = [day for day in range(7) if day not in days]
    elif reminders == "weekdays":
        days_off = [5, 6]
    elif reminders == "any_day":
        days_off = []
    return {
        "learning_days": days,
        "goal_weekday": days[0] if days else None,
        "preferred_time": preferred,
        "days_off": days_off,
    }


class Intake(QuestionnaireFlow):
    """The intake: who the learner is, what they want, what can get in the way, when they
    learn. `/intake` later shows the answers and lets the learner change one."""

    name = INTAKE
    questionnaire_id = INTAKE
    commands: ClassVar = {"intake": N_("See or change your intake answers")}
    deep_links = ("intake_",)

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Starts, resumes or shows the intake; `/start intake_<code>` comes from a coach."""
        code = None
        if args.startswith("intake_"):
            code = args.removeprefix("intake_").strip()[:40]
        elif ctx.conversation.flow == "onboarding":
            code = ctx.data.get("outreach_code")
        if code is not None and not ctx.user.has_consented:
            # Consent and a name first; onboarding hands back with the code kept.
            await ctx.start_flow("onboarding", command="start")
            if ctx.conversation.flow == "onboarding":
                ctx.data["outreach_code"] = code
            return
        response = await self.response(ctx)
        if code is not None:
            group = await ctx.uow.groups.by_join_code(code) if code else None
            if group is None:
                ctx.say(
                    ctx._(
                        "I do not know that code. No problem: let us get to know each other "
                        "anyway. Your answers are kept for when you join a group."
                    )
                )
            else:
                response.group_id = group.id
        if response.completed_at is None:
            if not response.answers:
                ctx.say(
                    ctx._(
                        "A few questions, so that your coach and I get to know you. It takes "
                        "about ten minutes. You can stop at any time: I keep your answers."
                    )
                )
            await self.resume(ctx, response)
        elif code is not None:
            await self.notify_coach(ctx, response)
            await self.show_review(ctx)
        elif command == INTAKE:
            await self.show_review(ctx)
        else:
            await self.after_intake(ctx)

    async def suggestions(self, ctx: Context) -> list[tuple[str, str]]:
        """While the intake is started and unfinished (another command came in between),
        the main menu offers to continue it; /intake picks up at the next question."""
        if ctx.conversation.flow == self.name:
            return []
        form = questionnaire(INTAKE)
        response = await current_response(ctx, form, ctx.user.id, create=False)
        if response is None or response.completed_at is not None:
            return []
        return [(N_("Continue your intake"), INTAKE)]

    async def show_review(self, ctx: Context) -> None:
        await ctx.begin(self, "review")

    async def after_intake(self, ctx: Context) -> None:
        """Offers the quick scan when it is not done yet, else ends with the menu."""
        scan = await current_response(ctx, questionnaire(QUICKSCAN), ctx.user.id, create=False)
        if (scan is None or scan.completed_at is None) and QUICKSCAN in ctx.engine.flows:
            await ctx.begin(self, "offer_scan")
        else:
            await ctx.finish()

    async def complete(self, ctx: Context, response: QuestionnaireResponse) -> None:
        """Derives and stores the results, tells the learner, and offers the quick scan."""
        first_time = response.completed_at is None
        await self.apply(ctx, response)
        has_coach = await ctx.uow.memberships.coach_id_for(ctx.user.id) is not None
        for line in result_lines(ctx, response.results, for_coach=False, has_coach=has_coach):
            ctx.say(line)
        if first_time:
            await self.notify_coach(ctx, response)
            await self.after_intake(ctx)
        else:
            await self.show_review(ctx)

    async def edited(self, ctx: Context, response: QuestionnaireResponse) -> None:
        ctx.say(ctx._("Thank you, I changed your answer."))
        await self.apply(ctx, response)
        ctx.data.pop("edit", None)
        await ctx.go("review", remember=False)

    async def apply(self, ctx: Context, response: QuestionnaireResponse) -> None:
        """Stores the derived results: barrier signals, preferences; marks the intake done."""
        earlier = response if response.results else await latest_done(ctx, ctx.user.id, INTAKE)
        before = set(earlier.results.get("barriers", [])) if earlier else set()
        results = intake_results(self.form, response.answers)
        response.results = results
        response.completed_at = response.completed_at or ctx.now
        response.updated_at = ctx.now
        for barrier in results["barriers"]:
            if barrier not in before:
                await ctx.signal(BARRIER, barrier=barrier)
        preferences = await ctx.uow.preferences.get(ctx.user.id)
        if preferences is None:
            preferences = await ctx.uow.preferences.add(Preferences(user_id=ctx.user.id))
        if results["goal_weekday"] is not None:
            preferences.goal_weekday = results["goal_weekday"]
        if results["preferred_time"] is not None:
            preferences.preferred_time = results["preferred_time"]
        if results["days_off"] is not None:
            preferences.days_off = list(results["days_off"])

    async def notify_coach(self, ctx: Context, response: QuestionnaireResponse) -> None:
        """Tells the coach whose code brought the learner here that the intake is done."""
        group = await ctx.uow.groups.get(response.group_id) if response.group_id else None
        if group is None:
            return
        results = response.results
        message = (
            # Translators: coach-facing.
            N_(
                "{name} filled in the intake through your link. Years of experience: {years}. "
                "Mother tongue: {tongue}. Dutch: {dutch}. Barriers named: {barriers}. "
                "Suggested route: EVC."
            )
            if results.get("route") == "evc"
            else N_(
                "{name} filled in the intake through your link. Years of experience: {years}. "
                "Mother tongue: {tongue}. Dutch: {dutch}. Barriers named: {barriers}. "
                "Suggested route: the regular route."
            )
        )
        await ctx.notify(
            group.coach_id,
            message,
            kind="intake_done",
            about=ctx.user.id,
            dedup_key=f"intake_done:{ctx.user.id}:{group.id}:{response.version}",
            name=ctx.user.display_name or "?",
            years=f"{results.get('years', 0) or 0:g}",
            tongue=str(results.get("mother_tongue") or "-").upper(),
            dutch=str(results.get("dutch_level") or "-").upper(),
            barriers=len(results.get("barriers", [])),
        )

    # -- after completion -----------------------------------------------------------------
    async def ask_review(self, ctx: Context) -> None:
        """Shows every answer and what Opstap took from them."""
        response = await self.response(ctx)
        lines = [ctx._("These are your intake answers:")]
        lines += answer_lines(ctx, self.form, response.answers)
        ctx.say("\n".join(lines))
        rows = [
            [ctx.button(ctx._("Change an answer"), "change")],
            [ctx.button(ctx._("That is all"), "done")],
        ]
        has_coach = await ctx.uow.memberships.coach_id_for(ctx.user.id) is not None
        for line in result_lines(ctx, response.results, for_coach=False, has_coach=has_coach):
            ctx.say(line)
        ctx.say(ctx._("Do you want to change something?"), buttons=rows)

    async def on_review(self, ctx: Context, event: Event) -> None:
        if event.value == "change":
            await ctx.go("pick")
        elif event.value == "done":
            await self.after_intake(ctx)
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    async def ask_pick(self, ctx: Context) -> None:
        """Offers every shown question, shortly named, to change one."""
        response = await self.response(ctx)
        language = ctx.user.language
        rows = [
            [ctx.button(shorten(question.label(language)), f"e:{question.id}")]
            for question in self.form.visible(response.answers)
        ]
        rows.append([ctx.way_out_button()])
        ctx.say(ctx._("Which answer do you want to change?"), buttons=rows)

    async def on_pick(self, ctx: Context, event: Event) -> None:
        question = self.form.question((event.value or "")[2:]) if event.value else None
        if question is None:
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        ctx.data["edit"] = True
        ctx.data.pop("picked", None)
        await ctx.go(f"q:{question.id}")

    async def ask_offer_scan(self, ctx: Context) -> None:
        """Offers the quick scan right after the intake."""
        ctx.say(
            ctx._(
                "One more thing: a quick scan of five minutes. You read short sentences "
                'like "I can ..." and say how well you can do that now. Shall we?'
            ),
            buttons=[
                [ctx.button(ctx._("Yes, let us start"), "yes")],
                [ctx.button(ctx._("Later"), "later")],
                [ctx.command_button(ctx._("What is EVC?"), "evc")],
            ],
        )

    async def on_offer_scan(self, ctx: Context, event: Event) -> None:
        if event.value == "yes":
            await ctx.start_flow(QUICKSCAN, command="start")
        elif event.value == "later":
            ctx.say(ctx._("Fine. Send /quickscan when you are ready."))
            await ctx.finish()
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))


def result_lines(
    ctx: Context, results: Mapping[str, Any], *, for_coach: bool, has_coach: bool = True
) -> list[str]:
    """What the intake suggests, in the reader's words; a learner without a coach is not
    told that a coach sees it."""
    if not results:
        return []
    lines: list[str] = []
    years = results.get("years")
    if for_coach:
        route = (
            ctx._("EVC (recognition of prior learning)")
            if results.get("route") == "evc"
            else ctx._("the regular route")
        )
        lines.append(ctx._("Suggested route: {route}", route=route))
        if years is not None:
            lines.append(ctx._("Years of experience: {years}", years=years))
        level = results.get("dutch_level")
        lines.append(
            ctx._("Dutch (own estimate): {level}", level=str(level).upper())
            if level
            else ctx._("Dutch: mother tongue")
        )
        if results.get("language_support"):
            lines.append(ctx._("Language support suggested."))
        return lines
    if results.get("route") == "evc":
        lines.append(
            ctx.n_(
                "You have {years} year of experience: that is a lot! The EVC route suits you: "
                "EVC means that what you already learned at work is recognised.",
                "You have {years} years of experience: that is a lot! The EVC route suits you: "
                "EVC means that what you already learned at work is recognised.",
                int(years or 0),
                years=years,
            )
        )
    else:
        lines.append(
            ctx._(
                "The regular route suits you best for now: you learn step by step, together "
                "with your learning group."
            )
        )
    if results.get("language_support"):
        lines.append(
            ctx._(
                "Extra support for your Dutch can help you a lot. Your coach can tell you "
                "where to find it."
            )
            if has_coach
            else ctx._(
                "Extra support for your Dutch can help you a lot. Ask at your school or your "
                "learning group where to find it."
            )
        )
    if results.get("barriers"):
        lines.append(
            ctx._(
                "Thank you for telling me what can make learning hard. Your coach sees it, "
                "so you can look for solutions together."
            )
            if has_coach
            else ctx._(
                "Thank you for telling me what can make learning hard. When you join your "
                "learning group, your coach sees it, so you can look for solutions together."
            )
        )
    return lines


@coachview.section(order=10)
async def intake_section(ctx: Context, learner: User) -> coachview.Section | None:
    """The learner's intake and quick scan, in the coach's language."""
    intake = await latest_done(ctx, learner.id, INTAKE)
    scan = await latest_done(ctx, learner.id, QUICKSCAN)
    if intake is None and scan is None:
        return None
    lines: list[str] = []
    if intake is None:
        lines.append(ctx._("The intake is not finished yet."))
    else:
        lines += result_lines(ctx, intake.results, for_coach=True)
        form = questionnaire(INTAKE)
        barriers = form.question("barriers")
        chosen = intake.results.get("barriers", [])
        names = [
            option.text.get(ctx.user.language)
            for option in (barriers.options if barriers else ())
            if option.id in chosen
        ]
        lines.append(
            ctx._("Barriers: {barriers}", barriers=ctx.t.comma.join(names))
            if names
            else ctx._("Barriers: none named")
        )
    levels = await ctx.uow.theme_levels.of_user(learner.id)
    if levels:
        frame = framework()
        lines.append(ctx._("Quick scan:"))
        order = {theme.id: index for index, theme in enumerate(frame.themes)}
        for level in sorted(levels, key=lambda row: order.get(row.theme_id, 99)):
            if level.theme_id not in order or level.level not in LEVELS:
                continue
            lines.append(
                f"{frame.number(level.theme_id)}. "
                f"{frame.theme(level.theme_id).short.get(ctx.user.language)}: "
                f"{ctx._(LEVEL_NAMES[level.level])} ({ctx.t.number(round(level.score, 1))})"
            )
    return coachview.Section(title=ctx._("Intake"), lines=lines)


__all__ = ["EVC_YEARS", "INTAKE", "Intake", "intake_results", "intake_section"]
