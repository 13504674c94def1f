"""The competence quick scan: "I can ..." statements per theme on a four-point scale
(`flows/questionnaires/quickscan.yaml`), giving a level per theme (ThemeLevel rows), shown as
strengths and growth areas with a small chart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from flows.charts import Bar, Chart, chart_file
from flows.competences import framework
from flows.engine import Context
from flows.i18n import N_
from flows.messages import Event, OutFile
from flows.questionnaire import Answer, Question, Questionnaire
from flows.questionnaire_flow import QuestionnaireFlow
from storage.models import QuestionnaireResponse, ThemeLevel

QUICKSCAN = "quickscan"
#: Quick-scan mean score (1 not yet .. 4 can teach) from which a level is estimated.
LEVEL_FROM = (("uitstroom", 3.25), ("doorstroom", 2.5), ("beginner", 0.0))
LEVEL_NAMES = {
    "beginner": N_("beginner"),
    "doorstroom": N_("intermediate (doorstroom)"),
    "uitstroom": N_("exit level (uitstroom)"),
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
        theme = themes.theme(theme_id)
        name = theme.name.with_dutch(ctx.user.language)  # for the Dutch-taught programme
        return ctx._("Theme {number}: {name}", number=themes.number(theme_id), name=name)

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
        path = await chart_file(ctx.files, chart(ctx, themes), owner_id=ctx.user.id)
        legend = [ctx._("Your quick scan, from 1 (not yet) to 4 (I can teach others):")]
        legend += [
            f"{frame.number(t)}. {frame.theme(t).short.get(language)}: "
            + ctx.t.number(round(float(themes[t]["score"]), 1))
            for t in themes
        ]
        ctx.say("\n".join(legend), file=OutFile(path, kind="photo"))
        strengths, growth = strengths_and_growth(themes)

        def named(ids: list[str]) -> str:
            return ctx.t.join(
                [f"{frame.number(t)}. {frame.theme(t).short.get(language)}" for t in ids]
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


#: The colour of each level in the chart (flows/charts.py MEANINGS).
LEVEL_MEANINGS = {"beginner": "low", "doorstroom": "middle", "uitstroom": "high"}


def chart(ctx: Context, themes: Mapping[str, Mapping[str, Any]]) -> Chart:
    """A bar per theme, named, on the 1..4 scale, coloured by the estimated level."""
    frame, language = framework(), ctx.user.language
    return Chart(
        title=ctx._("Your quick scan"),
        axis=ctx._("from 1 (not yet) to 4 (I can teach others)"),
        language=language,
        rtl=ctx.t.rtl,
        maximum=4,
        ticks=(1, 2, 3, 4),
        whole=False,
        bars=[
            Bar(
                frame.theme(t).short.get(language),
                float(themes[t]["score"]),
                LEVEL_MEANINGS.get(str(themes[t]["level"]), "count"),
            )
            for t in themes
        ],
        legend=[(LEVEL_MEANINGS[level], ctx._(name)) for level, name in LEVEL_NAMES.items()],
    )


__all__ = [
    "LEVEL_NAMES",
    "QUICKSCAN",
    "QuickScan",
    "level_for",
    "scan_results",
    "strengths_and_growth",
]
