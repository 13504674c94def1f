"""The intake questionnaire and the competence quick scan, run one question per message.

Both are data (flows/questionnaires/*.yaml). Answers are stored as they are given, per learner
and questionnaire version, so a learner who leaves continues at the first open question. After
the intake Opstap derives a suggested route, a language-support suggestion, barrier signals and
the learner's reminder preferences; after the quick scan, a level per competence theme.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any, ClassVar

from flows import coachview
from flows.charts import bar_chart
from flows.competences import LEVELS, framework
from flows.engine import LEARNER, Context, Flow
from flows.i18n import N_
from flows.messages import Button, Event, OutFile
from flows.questionnaire import Answer, Question, Questionnaire, questionnaire, valid_answer
from flows.signals import BARRIER, BARRIERS
from flows.uploads import ACCEPTED, VOICE_TYPES, UploadRejected, rejection_text, store_upload
from storage.models import Preferences, QuestionnaireResponse, ThemeLevel, User

INTAKE, QUICKSCAN = "intake", "quickscan"
#: Years of relevant experience from which the EVC route is suggested.
EVC_YEARS = 3
#: Self-assessed Dutch levels below B1, for which language support is suggested.
BELOW_B1 = frozenset({"a1", "a2"})
#: Quick-scan mean score (1 not yet .. 4 can teach) from which a level is estimated.
LEVEL_FROM = (("uitstroom", 3.25), ("doorstroom", 2.5), ("beginner", 0.0))
LEVEL_NAMES = {
    "beginner": N_("beginner"),
    "doorstroom": N_("intermediate (doorstroom)"),
    "uitstroom": N_("exit level (uitstroom)"),
}
VOICE_ACCEPT = {mime: suffix for mime, suffix in ACCEPTED.items() if mime in VOICE_TYPES}
CHECK = "\u2713"
DATE_FORMATS = (
    re.compile(r"^(?P<d>\d{1,2})[-/.](?P<m>\d{1,2})[-/.](?P<y>\d{4})$"),
    re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$"),
)
NUMBER = re.compile(r"^\d{1,4}([.,]\d{1,2})?$")


# -- derived results (pure) -----------------------------------------------------------------
def effective(form: Questionnaire, answers: Mapping[str, Answer]) -> dict[str, Answer]:
    """The answers to the questions that are shown (answers to hidden ones are kept, unused)."""
    return {q.id: answers[q.id] for q in form.visible(answers) if q.id in answers}


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


def level_for(score: float) -> str:
    """The estimated level for a mean quick-scan score."""
    return next(level for level, start in LEVEL_FROM if score >= start)


def scan_results(form: Questionnaire, answers: Mapping[str, Answer]) -> dict[str, Any]:
    """Per theme the mean score (1..4) of its statements and the estimated level."""
    scores: dict[str, list[int]] = {}
    for question in form.questions:
        answer = answers.get(question.id)
        if question.competence is None or not isinstance(answer, str):
            continue
        points = [option.id for option in question.options]
        if answer in points:
            theme_id = question.competence.split(".", 1)[0]
            scores.setdefault(theme_id, []).append(points.index(answer) + 1)
    themes: dict[str, dict[str, Any]] = {}
    for theme in framework().themes:
        if theme.id in scores:
            score = round(sum(scores[theme.id]) / len(scores[theme.id]), 2)
            themes[theme.id] = {"score": score, "level": level_for(score)}
    return {"themes": themes}


def strengths_and_growth(themes: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """The two strongest themes and the (up to) two with the lowest scores."""
    order = [theme.id for theme in framework().themes if theme.id in themes]
    ranked = sorted(order, key=lambda t: -float(themes[t]["score"]))
    strengths = ranked[:2]
    growth = [
        t for t in sorted(order, key=lambda t: float(themes[t]["score"])) if t not in strengths
    ]
    return strengths, growth[:2]


# -- storage helpers ------------------------------------------------------------------------
async def current_response(
    ctx: Context, form: Questionnaire, user_id: int, *, create: bool = True
) -> QuestionnaireResponse | None:
    """The learner's answers to this version; a new version starts with the answers that
    still fit it, older versions are left as they were."""
    found = await ctx.uow.responses.get(
        user_id=user_id, questionnaire=form.id, version=form.version
    )
    if found is not None or not create:
        return found
    carried: dict[str, Answer] = {}
    for older in await ctx.uow.responses.of_user(user_id=user_id, questionnaire=form.id):
        for question in form.questions:
            if question.id in older.answers and question.id not in carried:
                answer = older.answers[question.id]
                if valid_answer(question, answer):
                    carried[question.id] = answer
    return await ctx.uow.responses.add(
        QuestionnaireResponse(
            user_id=user_id,
            questionnaire=form.id,
            version=form.version,
            answers=carried,
            language=ctx.user.language,
            started_at=ctx.now,
            updated_at=ctx.now,
        )
    )


async def latest_done(ctx: Context, user_id: int, name: str) -> QuestionnaireResponse | None:
    """The newest completed response to a questionnaire, of any version."""
    found = await ctx.uow.responses.of_user(user_id=user_id, questionnaire=name)
    return next((r for r in found if r.completed_at is not None), None)


def store(ctx: Context, response: QuestionnaireResponse, question_id: str, value: Answer) -> None:
    """Stores one answer at once (a new dict, so the change is noticed)."""
    response.answers = {**response.answers, question_id: value}
    response.updated_at = ctx.now


# -- the conversation -----------------------------------------------------------------------
class QuestionnaireFlow(Flow):
    """Runs a questionnaire: steps are `q:<question id>` plus the flow's own steps."""

    questionnaire_id: ClassVar[str]
    roles = frozenset({LEARNER})

    @property
    def form(self) -> Questionnaire:
        return questionnaire(self.questionnaire_id)

    async def response(self, ctx: Context) -> QuestionnaireResponse:
        found = await current_response(ctx, self.form, ctx.user.id)
        assert found is not None
        return found

    async def ask(self, ctx: Context, step: str) -> None:
        if step.startswith("q:"):
            await self.ask_question(ctx, step[2:])
        else:
            await super().ask(ctx, step)

    async def answer(self, ctx: Context, step: str, event: Event) -> None:
        if step.startswith("q:"):
            await self.on_question(ctx, step[2:], event)
        else:
            await super().answer(ctx, step, event)

    async def enter(
        self, ctx: Context, question_id: str, *, data: dict[str, Any], history: list[str]
    ) -> None:
        """Makes this flow current at a question, with the earlier questions to go back to."""
        ctx.conversation.flow = self.name
        ctx.conversation.data = data
        ctx.conversation.history = history[-30:]
        ctx.conversation.step = None
        await ctx.go(f"q:{question_id}", remember=False)

    async def resume(self, ctx: Context, response: QuestionnaireResponse) -> None:
        """Continues at the first open question, or completes when there is none."""
        form = self.form
        question = form.first_open(response.answers)
        if question is None:
            await self.complete(ctx, response)
            return
        if response.answers:
            ctx.say(ctx._("Let us continue where you left off."))
        visible = [q.id for q in form.visible(response.answers)]
        earlier = [f"q:{qid}" for qid in visible[: visible.index(question.id)]]
        await self.enter(ctx, question.id, data={}, history=earlier)

    async def complete(self, ctx: Context, response: QuestionnaireResponse) -> None:
        raise NotImplementedError

    # -- asking ---------------------------------------------------------------------------
    def heading(self, ctx: Context, question: Question) -> str:
        """A line above the question (the quick scan names the theme)."""
        return ""

    async def ask_question(self, ctx: Context, question_id: str) -> None:
        """Asks one question with its progress and the buttons that fit its type."""
        form, language = self.form, ctx.user.language
        question = form.question(question_id)
        if question is None:  # the questionnaire changed under a running conversation
            await self.resume(ctx, await self.response(ctx))
            return
        response = await self.response(ctx)
        expected = [q.id for q in form.expected(response.answers)]
        if question_id not in expected:
            expected.append(question_id)
        number = expected.index(question_id) + 1
        lines = [f"({number}/{len(expected)}) {question.label(language)}"]
        if heading := self.heading(ctx, question):
            lines.insert(0, heading)
        if question.help is not None:
            lines.append(question.help.get(language))
        current = response.answers.get(question_id)
        rows: list[list[Button]] = []
        if question.type in ("single", "scale"):
            for option in question.options:
                mark = f"{CHECK} " if current == option.id else ""
                rows.append([ctx.button(mark + option.text.get(language), f"o:{option.id}")])
        elif question.type == "yesno":
            rows.append(
                [
                    ctx.button(ctx._("Yes"), "o:yes"),
                    ctx.button(ctx._("No"), "o:no"),
                ]
            )
        elif question.type == "multiple":
            picked = self.picked(ctx, question_id, current)
            for option in question.options:
                mark = f"{CHECK} " if option.id in picked else ""
                rows.append([ctx.button(mark + option.text.get(language), f"t:{option.id}")])
            rows.append([ctx.button(ctx._("Done"), "done")])
            lines.append(ctx._("Tap everything that fits, then tap Done."))
        elif question.type == "date":
            lines.append(ctx._("Type a date, for example 25-09-2026."))
        last: list[Button] = []
        if ctx.data.get("edit"):
            last.append(ctx.button(ctx._("« Back"), "review"))
        elif ctx.conversation.history:
            last.append(ctx.back_button())
        if not question.required:
            last.append(ctx.button(ctx._("Skip"), "skip"))
        if last:
            rows.append(last)
        ctx.say("\n\n".join(lines), buttons=rows)

    def picked(self, ctx: Context, question_id: str, current: Answer) -> list[str]:
        """The options chosen so far in a multiple-choice question (kept in the flow state)."""
        choices = ctx.data.setdefault("picked", {})
        if question_id not in choices:
            choices[question_id] = list(current) if isinstance(current, list) else []
        return list(choices[question_id])

    # -- answering ------------------------------------------------------------------------
    async def on_question(self, ctx: Context, question_id: str, event: Event) -> None:
        """Takes an answer of any kind, checks it, stores it and moves on."""
        question = self.form.question(question_id)
        if question is None:
            await self.resume(ctx, await self.response(ctx))
            return
        value = event.value or ""
        if event.kind == "button" and value == "review" and ctx.data.get("edit"):
            await ctx.go("review", remember=False)
            return
        if event.kind == "button" and value == "skip":
            if question.required:
                await ctx.invalid(ctx._("This question cannot be skipped."))
                return
            await self.take(ctx, question, None)
            return
        if question.type == "multiple":
            await self.on_multiple(ctx, question, event)
        elif question.type in ("single", "scale", "yesno"):
            await self.on_choice(ctx, question, event)
        elif event.kind in ("voice", "audio") and question.type == "text" and event.file:
            try:
                upload, _ = await store_upload(ctx, event.file, accept=VOICE_ACCEPT)
            except UploadRejected as error:
                await ctx.invalid(rejection_text(ctx, error))
                return
            ctx.say(ctx._("Thank you, I kept your voice note."))
            await self.take(ctx, question, {"voice": upload.id})
        elif event.kind != "text":
            await ctx.invalid(ctx._("Please answer with text here."))
        elif question.type == "text":
            await self.on_text(ctx, question, event.text)
        elif question.type == "number":
            await self.on_number(ctx, question, event.text)
        else:
            await self.on_date(ctx, question, event.text)

    async def on_choice(self, ctx: Context, question: Question, event: Event) -> None:
        options = ["yes", "no"] if question.type == "yesno" else [o.id for o in question.options]
        chosen: str | None = None
        if event.kind == "button" and (event.value or "").startswith("o:"):
            chosen = (event.value or "")[2:]
        elif event.kind == "text":
            typed = event.text.strip().casefold()
            labels = (
                [ctx._("Yes").casefold(), ctx._("No").casefold()]
                if question.type == "yesno"
                else [o.text.get(ctx.user.language).casefold() for o in question.options]
            )
            if typed in labels:
                chosen = options[labels.index(typed)]
            elif typed.isdigit() and 1 <= int(typed) <= len(options):
                chosen = options[int(typed) - 1]
        if chosen not in options:
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        await self.take(ctx, question, chosen)

    async def on_multiple(self, ctx: Context, question: Question, event: Event) -> None:
        value = (event.value or "") if event.kind == "button" else ""
        response = await self.response(ctx)
        picked = self.picked(ctx, question.id, response.answers.get(question.id))
        if value.startswith("t:") and question.option(value[2:]) is not None:
            option_id = value[2:]
            picked = (
                [p for p in picked if p != option_id]
                if option_id in picked
                else [*picked, option_id]
            )
            ctx.data["picked"][question.id] = picked
            await ctx.repeat(replace=True)
        elif value == "done":
            if not picked and question.required:
                await ctx.invalid(ctx._("Please choose at least one, then tap Done."))
                return
            order = [o.id for o in question.options]
            ctx.data.get("picked", {}).pop(question.id, None)
            await self.take(ctx, question, sorted(picked, key=order.index))
        else:
            await ctx.invalid(ctx._("Tap everything that fits, then tap Done."))

    async def on_text(self, ctx: Context, question: Question, text: str) -> None:
        answer = " ".join(text.split())
        if not answer:
            await ctx.invalid(ctx._("Please type your answer, or send a voice note."))
        elif len(answer) > question.max_length:
            await ctx.invalid(
                ctx._(
                    "That is a bit long. Please use at most {limit} characters.",
                    limit=question.max_length,
                )
            )
        else:
            await self.take(ctx, question, answer)

    async def on_number(self, ctx: Context, question: Question, text: str) -> None:
        typed = text.strip()
        if not NUMBER.match(typed):
            await ctx.invalid(ctx._("Please type a number, for example 4."))
            return
        number = float(typed.replace(",", "."))
        low = question.min if question.min is not None else float("-inf")
        high = question.max if question.max is not None else float("inf")
        if not low <= number <= high:
            await ctx.invalid(
                ctx._(
                    "Please type a number from {low} to {high}.",
                    low=f"{question.min:g}" if question.min is not None else "0",
                    high=f"{question.max:g}" if question.max is not None else "-",
                )
            )
            return
        await self.take(ctx, question, int(number) if number.is_integer() else number)

    async def on_date(self, ctx: Context, question: Question, text: str) -> None:
        typed = text.strip()
        for pattern in DATE_FORMATS:
            if match := pattern.match(typed):
                try:
                    day = date(int(match["y"]), int(match["m"]), int(match["d"]))
                except ValueError:
                    break
                await self.take(ctx, question, day.isoformat())
                return
        await ctx.invalid(ctx._("Type a date, for example 25-09-2026."))

    async def take(self, ctx: Context, question: Question, value: Answer) -> None:
        """Stores the answer and asks the next open question (or ends)."""
        response = await self.response(ctx)
        store(ctx, response, question.id, value)
        following = self.form.first_open(response.answers)
        if following is not None:
            await ctx.go(f"q:{following.id}")
        elif ctx.data.get("edit"):
            await self.edited(ctx, response)
        else:
            await self.complete(ctx, response)

    async def edited(self, ctx: Context, response: QuestionnaireResponse) -> None:
        """After one answer was changed: the flow updates its results."""
        await self.complete(ctx, response)


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
            await self.resume(ctx, response)
        elif code is not None:
            await self.notify_coach(ctx, response)
            await self.show_review(ctx)
        elif command == INTAKE:
            await self.show_review(ctx)
        else:
            await self.after_intake(ctx)

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
        for line in result_lines(ctx, response.results, for_coach=False):
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
        for line in result_lines(ctx, response.results, for_coach=False):
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
        rows.append([ctx.back_button()])
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
                "One more thing, if you have five minutes: a quick scan. You read short "
                'sentences like "I can ..." and say how well you can do that now. '
                "It shows your strengths. Shall we?"
            ),
            buttons=[
                [ctx.button(ctx._("Yes, let us start"), "yes")],
                [ctx.button(ctx._("Later"), "later")],
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


class QuickScan(QuestionnaireFlow):
    """The competence quick scan: "I can ..." statements per theme on a four-point scale."""

    name = QUICKSCAN
    questionnaire_id = QUICKSCAN
    commands: ClassVar = {"quickscan": N_("Quick scan: what can you do already?")}

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Starts or resumes the scan; when it is done, shows the results again."""
        response = await self.response(ctx)
        if response.completed_at is None:
            if not response.answers:
                ctx.say(
                    ctx._(
                        "The quick scan: short sentences about the six themes of the "
                        "programme. There are no wrong answers."
                    )
                )
            await self.resume(ctx, response)
            return
        await self.show_results(ctx, response)
        await ctx.begin(self, "again")

    def heading(self, ctx: Context, question: Question) -> str:
        if question.competence is None:
            return ""
        themes = framework()
        theme_id = question.competence.split(".", 1)[0]
        return ctx._(
            "Theme {number}: {name}",
            number=themes.number(theme_id),
            name=themes.theme(theme_id).name.get(ctx.user.language),
        )

    async def complete(self, ctx: Context, response: QuestionnaireResponse) -> None:
        """Stores a level per theme, shows strengths, growth areas and a chart, and ends."""
        results = scan_results(self.form, response.answers)
        response.results = results
        response.completed_at = ctx.now
        response.updated_at = ctx.now
        for theme_id, found in results["themes"].items():
            await ctx.uow.theme_levels.put(
                ThemeLevel(
                    user_id=ctx.user.id,
                    theme_id=theme_id,
                    score=float(found["score"]),
                    level=str(found["level"]),
                    measured_at=ctx.now,
                )
            )
        ctx.say(ctx._("Done! Thank you for your honest answers."))
        await self.show_results(ctx, response)
        await ctx.finish()

    async def show_results(self, ctx: Context, response: QuestionnaireResponse) -> None:
        themes = response.results.get("themes", {})
        if not themes:
            return
        language, frame = ctx.user.language, framework()
        png = chart(themes)
        stored = ctx.files.save(png, folder="charts", suffix=".png")
        legend = [ctx._("Your quick scan, from 1 (not yet) to 4 (I can teach others):")]
        legend += [
            f"{frame.number(t)}. {frame.theme(t).short.get(language)}: {themes[t]['score']:g}"
            for t in themes
        ]
        ctx.say("\n".join(legend), file=OutFile(ctx.files.path(stored.relpath), kind="photo"))
        strengths, growth = strengths_and_growth(themes)

        def named(ids: list[str]) -> str:
            return ", ".join(
                f"{frame.number(t)}. {frame.theme(t).short.get(language)}" for t in ids
            )

        ctx.say(
            "\n\n".join(
                [
                    ctx._(
                        "You are already strong in: {themes}. Well done!", themes=named(strengths)
                    ),
                    ctx._(
                        "You can grow most in: {themes}. That is where small weekly goals "
                        "help most, step by step.",
                        themes=named(growth),
                    ),
                ]
            )
        )

    async def ask_again(self, ctx: Context) -> None:
        ctx.say(
            ctx._("Do you want to do the quick scan again?"),
            buttons=[
                [ctx.button(ctx._("Yes, again"), "yes")],
                [ctx.button(ctx._("No, thanks"), "no")],
            ],
        )

    async def on_again(self, ctx: Context, event: Event) -> None:
        if event.value == "yes":
            response = await self.response(ctx)
            response.answers = {}
            response.completed_at = None
            response.updated_at = ctx.now
            await self.resume(ctx, response)
        elif event.value == "no":
            await ctx.finish()
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))


# -- texts ----------------------------------------------------------------------------------
def shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def show_answer(ctx: Context, question: Question, answer: Answer, language: str) -> str:
    """An answer as the learner (or coach) reads it, in `language`."""
    if answer is None:
        return ctx._("(skipped)")
    if isinstance(answer, dict):
        return ctx._("(voice note)")
    if question.type in ("single", "scale", "multiple"):
        chosen = answer if isinstance(answer, list) else [str(answer)]
        texts = [o.text.get(language) for o in question.options if o.id in chosen]
        return ", ".join(texts) or "-"
    if question.type == "yesno":
        return ctx._("Yes") if answer == "yes" else ctx._("No")
    if question.type == "date" and isinstance(answer, str):
        return ctx.t.date(date.fromisoformat(answer))
    return f"{answer:g}" if isinstance(answer, float) else str(answer)


def answer_lines(ctx: Context, form: Questionnaire, answers: Mapping[str, Answer]) -> list[str]:
    language = ctx.user.language
    return [
        f"\u2022 {q.label(language)}\n   \u2192 {show_answer(ctx, q, answers.get(q.id), language)}"
        for q in form.visible(answers)
        if q.id in answers
    ]


def result_lines(ctx: Context, results: Mapping[str, Any], *, for_coach: bool) -> list[str]:
    """What the intake suggests, in the reader's words."""
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
            lines.append(ctx._("Years of experience: {years}", years=f"{years:g}"))
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
            ctx._(
                "You have {years} years of experience: that is a lot! The EVC route suits you. "
                "You show what you already learned at work and get it recognised.",
                years=f"{years:g}",
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
        )
    if results.get("barriers"):
        lines.append(
            ctx._(
                "Thank you for telling me what can make learning hard. Your coach sees it, "
                "so you can look for solutions together."
            )
        )
    return lines


def chart(themes: Mapping[str, Mapping[str, Any]]) -> bytes:
    """A bar per theme, labelled with its number 1 to 6, on the 1..4 scale."""
    frame = framework()
    return bar_chart(
        [(str(frame.number(t)), float(themes[t]["score"])) for t in themes], maximum=4
    )


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
            ctx._("Barriers: {barriers}", barriers=", ".join(names))
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
                f"{ctx._(LEVEL_NAMES[level.level])} ({level.score:g})"
            )
    return coachview.Section(title=ctx._("Intake"), lines=lines)


__all__ = [
    "Intake",
    "QuickScan",
    "intake_results",
    "intake_section",
    "level_for",
    "scan_results",
    "strengths_and_growth",
]
