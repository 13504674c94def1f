"""Runs a questionnaire (flows/questionnaires/*.yaml) as a conversation: one question per
message with its progress, buttons for closed questions (toggles for multiple choice), text or a
voice note for open ones, back and skip. Answers are stored as they are given, per learner and
questionnaire version, so a learner who leaves continues at the first open question, and a new
version starts with the older answers that still fit it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, ClassVar

from flows.engine import LEARNER, Context, Flow
from flows.i18n import RTL_LANGUAGES
from flows.messages import Button, Event
from flows.parsing import parse_date, parse_number
from flows.questionnaire import Answer, Question, Questionnaire, questionnaire, valid_answer
from flows.transcripts import offer_transcript
from flows.uploads import ACCEPTED, VOICE_TYPES, UploadRejected, rejection_text, store_upload
from storage.models import QuestionnaireResponse

VOICE_ACCEPT = {mime: suffix for mime, suffix in ACCEPTED.items() if mime in VOICE_TYPES}
CHECK = "\u2713"


def effective(form: Questionnaire, answers: Mapping[str, Answer]) -> dict[str, Answer]:
    """The answers to the questions that are shown (answers to hidden ones are kept, unused)."""
    return {q.id: answers[q.id] for q in form.visible(answers) if q.id in answers}


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
        # Counted over every question of the form, so the total never changes on the way: a
        # question that does not apply is passed over (the number jumps ahead), never removed.
        every = [q.id for q in form.questions]
        number = every.index(question_id) + 1
        lines = [f"({number}/{len(every)}) {question.label(language)}"]
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
        else:
            last.append(ctx.way_out_button())
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
            offer_transcript(ctx, upload)
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
                ctx.n_(
                    "That is a bit long. Please use at most {limit} character.",
                    "That is a bit long. Please use at most {limit} characters.",
                    question.max_length,
                    limit=question.max_length,
                )
            )
        else:
            await self.take(ctx, question, answer)

    async def on_number(self, ctx: Context, question: Question, text: str) -> None:
        number = parse_number(text)
        if number is None:
            await ctx.invalid(ctx._("Please type a number, for example 4."))
            return
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
        day = parse_date(text, today=ctx.now.date())
        if day is not None:
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


# -- texts ----------------------------------------------------------------------------------
def show_answer(ctx: Context, question: Question, answer: Answer, language: str) -> str:
    """An answer as the learner (or coach) reads it, in `language`."""
    if answer is None:
        return ctx._("(skipped)")
    if isinstance(answer, dict):
        return ctx._("(voice note)")
    if question.type in ("single", "scale", "multiple"):
        chosen = answer if isinstance(answer, list) else [str(answer)]
        texts = [o.text.get(language) for o in question.options if o.id in chosen]
        return ("\u060c " if language in RTL_LANGUAGES else ", ").join(texts) or "-"
    if question.type == "yesno":
        return ctx._("Yes") if answer == "yes" else ctx._("No")
    if question.type == "date" and isinstance(answer, str):
        return ctx.t.date(date.fromisoformat(answer))
    return f"{answer:g}" if isinstance(answer, float) else str(answer)


def answer_lines(ctx: Context, form: Questionnaire, answers: Mapping[str, Answer]) -> list[str]:
    language = ctx.user.language
    arrow = "\u2190" if ctx.t.rtl else "\u2192"  # points at the answer in both directions
    return [
        f"\u2022 {q.label(language)}\n   {arrow} "
        + show_answer(ctx, q, answers.get(q.id), language)
        for q in form.visible(answers)
        if q.id in answers
    ]
