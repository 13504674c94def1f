"""/portfolio: the EVC portfolio at a glance (coverage of the six themes, the aim of about
five pieces, warnings with what to do next, a small chart), the pieces with coach feedback
beside them, and the CV, added one line at a time."""

from __future__ import annotations

from typing import ClassVar

from flows.answers import short_answer
from flows.charts import Bar, Chart, chart_file
from flows.competences import framework
from flows.engine import Context, Flow
from flows.evidence import earlier_places, rows
from flows.evidence_content import (
    AIM,
    Warning,
    content,
    coverage,
    parse_period,
    place_of,
    show_period,
    warnings,
)
from flows.i18n import N_, shorten
from flows.messages import Event, OutFile, parse_id
from flows.parsing import parse_choices
from storage.models import CvEntry, Evidence

CV_KINDS = {"work": N_("Work"), "volunteering": N_("Volunteering"), "training": N_("Training")}
MAX_FIELD = 120
CHECK_ANSWERS = {"yes": N_("yes"), "no": N_("no"), "unsure": N_("not sure")}


#: At most this many next steps at once: more does not fit a phone screen, and one small step
#: at a time is the point.
MAX_TIPS = 3


def first_tips(found: list[Warning], *, limit: int | None = MAX_TIPS) -> list[Warning]:
    """The first warning of each kind, then the rest, at most `limit`: varied next steps
    rather than five times "theme N has no evidence yet"."""
    kinds: set[str] = set()
    first: list[Warning] = []
    rest: list[Warning] = []
    for warning in found:
        (rest if warning.kind in kinds else first).append(warning)
        kinds.add(warning.kind)
    return (first + rest)[:limit]


def warning_text(ctx: Context, warning: Warning) -> str:
    """One warning, with what to do next, in the learner's language."""
    language = ctx.user.language
    numbers = ctx.t.join([str(n) for n in warning.pieces])
    if warning.kind == "privacy":
        return ctx.n_(
            "Piece {numbers}: please remove the names and details of clients, then confirm "
            "it under \u201cMy evidence\u201d. Until then it stays out of your export.",
            "Pieces {numbers}: please remove the names and details of clients, then confirm "
            "it under \u201cMy evidence\u201d. Until then they stay out of your export.",
            len(warning.pieces),
            numbers=numbers,
        )
    if warning.kind == "old":
        return ctx.n_(
            "Piece {numbers} is older than five years. Add something recent that shows "
            "the same competences.",
            "Pieces {numbers} are older than five years. Add something recent that shows "
            "the same competences.",
            len(warning.pieces),
            numbers=numbers,
        )
    if warning.kind == "one_context":
        return ctx._(
            "All your evidence comes from {place}. Add a piece from another place: another "
            "job, volunteering or your training.",
            place=warning.place or "",
        )
    if warning.kind == "theme_empty" and warning.theme_id:
        theme = framework().theme(warning.theme_id)
        return ctx._(
            "Theme {number} ({theme}) has no evidence yet. Think of a moment at work that "
            "shows it, and add it with /evidence.",
            number=framework().number(theme.id),
            theme=theme.name.get(language),
        )
    competence = framework().competence(warning.competence_id or "")
    return ctx._(
        "Only piece {numbers} shows \u201c{competence}\u201d. Add a second piece for this "
        "competence.",
        numbers=numbers,
        competence=competence.text.get(language),
    )


def coverage_meaning(pieces: int) -> str:
    """The chart colour of a theme with this many pieces: none, one (a start), two or more
    (each competence wants a second piece, see the warnings)."""
    return "none" if pieces == 0 else "low" if pieces == 1 else "high"


class PortfolioFlow(Flow):
    """Shows the portfolio and keeps the CV."""

    name = "portfolio"
    commands: ClassVar = {"portfolio": N_("See your portfolio and CV")}
    menu: ClassVar = {"portfolio": N_("My portfolio")}

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Opens the overview."""
        await ctx.begin(self, "overview")

    # overview --------------------------------------------------------------------------
    async def ask_overview(self, ctx: Context) -> None:
        """Coverage per theme, the aim, warnings with next steps, and a chart."""
        language = ctx.user.language
        facts = await ctx.uow.evidence.portfolio_facts(ctx.user.id)
        pieces, reflections = facts.pieces, facts.reflections
        counts = coverage(pieces, reflections)
        lines = [ctx._("Your portfolio"), ctx._("Per theme: pieces of evidence / reflections")]
        for number, theme in enumerate(framework().themes, start=1):
            lines.append(
                f"{number}. {theme.name.get(language)}: "
                f"{counts.evidence[theme.id]} / {counts.reflections[theme.id]}"
            )
        kinds = {piece.kind for piece in pieces}
        places = {place_of(piece) for piece in pieces if place_of(piece)}
        lines += [
            "",
            ctx._(
                "Aim: about {aim} pieces of evidence, of different types and from different "
                "places.",
                aim=AIM,
            ),
            ctx.n_(
                "You have {count} piece of evidence.",
                "You have {count} pieces of evidence.",
                len(pieces),
            )
            + " "
            + ctx._(
                "Different types: {types}. Different places: {places}.",
                types=len(kinds),
                places=len(places),
            ),
        ]
        found = warnings(pieces, reflections, now=ctx.now)
        if found:
            lines += ["", ctx._("What to do next:")]
            shown = first_tips(found)
            lines += [f"\u2022 {warning_text(ctx, w)}" for w in shown]
            if len(found) > len(shown):
                lines.append(
                    ctx.n_(
                        "\u2026 and {count} more next step.",
                        "\u2026 and {count} more next steps.",
                        len(found) - len(shown),
                    )
                )
        chart = Chart(
            title=ctx._("Pieces of evidence per theme"),
            axis=ctx._("pieces of evidence"),
            language=language,
            rtl=ctx.t.rtl,
            maximum=max(2, *counts.evidence.values()),
            bars=[
                Bar(theme.short.get(language), counts.evidence[theme.id], coverage_meaning(n))
                for theme in framework().themes
                for n in (counts.evidence[theme.id],)
            ],
            legend=[
                ("none", ctx._("none yet")),
                ("low", ctx._("one piece")),
                ("high", ctx._("two or more")),
            ],
        )
        ctx.say(
            ctx._("Pieces of evidence per theme, in the order of the list."),
            file=OutFile(await chart_file(ctx.files, chart, owner_id=ctx.user.id), kind="photo"),
        )
        ctx.say(
            "\n".join(lines),
            buttons=[
                [
                    ctx.button(ctx._("My evidence"), "pieces"),
                    ctx.button(ctx._("My CV"), "cv"),
                ],
                *(
                    [[ctx.button(ctx._("All next steps"), "tips")]]
                    if len(found) > MAX_TIPS
                    else []
                ),
                [
                    ctx.command_button(ctx._("Add evidence"), "evidence"),
                    ctx.command_button(ctx._("Export"), "export"),
                ],
                [ctx.command_button(ctx._("What is EVC?"), "evc")],
            ],
        )

    async def on_overview(self, ctx: Context, event: Event) -> None:
        if event.value in ("pieces", "cv", "tips"):
            await ctx.go(event.value)
            return
        await ctx.invalid(ctx._("Please tap one of the buttons."))

    # tips ------------------------------------------------------------------------------
    async def ask_tips(self, ctx: Context) -> None:
        """Every next step, not only the first few of the overview."""
        facts = await ctx.uow.evidence.portfolio_facts(ctx.user.id)
        found = warnings(facts.pieces, facts.reflections, now=ctx.now)
        lines = [ctx._("What to do next:")]
        lines += [f"\u2022 {warning_text(ctx, w)}" for w in first_tips(found, limit=None)]
        ctx.say("\n".join(lines), buttons=[[ctx.way_out_button()]])

    async def on_tips(self, ctx: Context, event: Event) -> None:
        await ctx.invalid(ctx._("Please tap one of the buttons."))

    # pieces ----------------------------------------------------------------------------
    async def ask_pieces(self, ctx: Context) -> None:
        """Lists the pieces, with how much coach feedback each has."""
        language = ctx.user.language
        pieces = await ctx.uow.evidence.of_learner(ctx.user.id)
        if not pieces:
            ctx.say(
                ctx._("You have no evidence yet. Add your first piece with /evidence."),
                buttons=[[ctx.way_out_button()]],
            )
            return
        lines = [ctx._("Tap a number to see the piece.")]
        for piece in pieces:
            feedback = await ctx.uow.feedback.for_item(item_type="evidence", item_id=piece.id)
            line = (
                f"{piece.number}. {piece.title} \u2014 "
                f"{content().type(piece.kind).name.with_dutch(language)}{ctx.t.comma}"
                f"{show_period(piece.period_start, piece.period_end)}"
            )
            if feedback:
                line += " \u2014 " + ctx.n_(
                    "{count} note from your coach", "{count} notes from your coach", len(feedback)
                )
            lines.append(line)
        buttons = [ctx.button(str(p.number), f"p:{p.id}") for p in pieces]
        ctx.say("\n".join(lines), buttons=[*rows(buttons, width=5), [ctx.way_out_button()]])

    async def on_pieces(self, ctx: Context, event: Event) -> None:
        value = event.value or ""
        if event.kind == "text":  # the piece's number typed instead of tapped
            pieces = {p.number: p.id for p in await ctx.uow.evidence.of_learner(ctx.user.id)}
            typed = parse_choices(event.text, max(pieces, default=0))
            if typed is not None and len(typed) == 1 and typed[0] in pieces:
                value = f"p:{pieces[typed[0]]}"
        if value.startswith("p:") and (piece := parse_id(value[2:])) is not None:
            ctx.data["piece"] = piece
            await ctx.go("piece")
            return
        await ctx.invalid(ctx._("Please tap one of the buttons."))

    async def piece(self, ctx: Context) -> Evidence | None:
        piece = await ctx.uow.evidence.get(int(ctx.data.get("piece", 0)))
        return piece if piece is not None and piece.learner_id == ctx.user.id else None

    async def ask_piece(self, ctx: Context) -> None:
        """Shows one piece with its competences, checks, reflection and coach feedback."""
        language = ctx.user.language
        piece = await self.piece(ctx)
        if piece is None:
            ctx.say(ctx._("I could not find that piece."), buttons=[[ctx.way_out_button()]])
            return
        lines = [
            f"{piece.number}. {piece.title}",
            f"{content().type(piece.kind).name.with_dutch(language)}, "
            f"{show_period(piece.period_start, piece.period_end)}",
        ]
        if piece.organisation:
            lines.append(f"{piece.organisation} \u2014 {piece.role or ''}")
        if piece.description:
            lines.append(piece.description[:500])
        if piece.description_upload_id:
            lines.append(ctx._("Description: a voice note"))
        if piece.text:
            lines.append(piece.text[:500])
        if piece.url:
            lines.append(piece.url)
        lines.append(ctx._("Competences:"))
        lines += [
            f"\u2022 {framework().competence(c).text.get(language)}" for c in piece.competences
        ]
        lines.append(ctx._("Your checks:"))
        for criterion in content().criteria:
            answer = piece.checks.get(criterion.id)
            shown = ctx._(CHECK_ANSWERS[answer]) if answer in CHECK_ANSWERS else "-"
            lines.append(f"\u2022 {criterion.name.with_dutch(language)}: {shown}")
        if piece.privacy_confirmed is False:
            lines.append(ctx._("Client details: not yet removed. Not in your export."))
        reflection = (
            await ctx.uow.reflections.get(piece.reflection_id) if piece.reflection_id else None
        )
        if reflection is not None:
            lines.append(ctx._("Reflection: {title}", title=reflection.title or "-"))
        feedback = await ctx.uow.feedback.for_item(item_type="evidence", item_id=piece.id)
        for note in feedback:
            lines.append(
                ctx._(
                    "Your coach ({date}): {text}",
                    date=ctx.t.date(note.created_at),
                    text=note.text or "",
                )
            )
            if note.seen_at is None:
                note.seen_at = ctx.now
        buttons = []
        if piece.privacy_confirmed is False:
            buttons.append(
                [
                    ctx.button(
                        ctx._("Client details are removed"),
                        "privacy",
                        short=ctx._("Details removed"),
                    )
                ]
            )
        if reflection is None:
            buttons.append([ctx.button(ctx._("Link a reflection"), "reflect")])
        buttons.append([ctx.button(ctx._("Change this piece"), "edit")])
        buttons.append([ctx.button(ctx._("Delete this piece"), "delete", short=ctx._("Delete"))])
        buttons.append([ctx.way_out_button()])
        ctx.say("\n".join(lines), buttons=buttons)

    async def on_piece(self, ctx: Context, event: Event) -> None:
        piece = await self.piece(ctx)
        if piece is None:
            await ctx.back()
            return
        if event.value == "privacy" and piece.privacy_confirmed is False:
            piece.privacy_confirmed = True
            piece.updated_at = ctx.now
            ctx.say(
                ctx._("Thank you. Piece {number} will be in your export.", number=piece.number)
            )
            await ctx.go("piece", remember=False)
        elif event.value == "reflect":
            await ctx.start_flow("evidence", args=f"link:{piece.id}")
        elif event.value == "edit":
            await ctx.start_flow("evidence", args=f"edit:{piece.id}")
        elif event.value == "delete":
            await ctx.go("delete_piece")
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    async def ask_delete_piece(self, ctx: Context) -> None:
        """Asks to confirm deleting a piece."""
        piece = await self.piece(ctx)
        ctx.say(
            ctx._(
                "Delete piece {number}, \u201c{title}\u201d? This cannot be undone.",
                number=piece.number if piece else 0,
                title=piece.title if piece else "",
            ),
            buttons=[
                [
                    ctx.button(ctx._("Yes, delete it"), "yes"),
                    ctx.button(ctx._("No, keep it"), "no"),
                ]
            ],
        )

    async def on_delete_piece(self, ctx: Context, event: Event) -> None:
        piece = await self.piece(ctx)
        if event.value == "yes" and piece is not None:
            await ctx.uow.evidence.delete(piece)
            ctx.say(ctx._("Piece {number} is deleted.", number=piece.number))
            ctx.conversation.history = ["overview"]
            await ctx.go("pieces", remember=False)
        elif event.value == "no":
            await ctx.back()
        else:
            await ctx.invalid(ctx._("Please tap one of the buttons."))

    # CV --------------------------------------------------------------------------------
    async def ask_cv(self, ctx: Context) -> None:
        """Shows the CV lines and offers to add one."""
        entries = await ctx.uow.cv.of_learner(ctx.user.id)
        lines = [ctx._("Your CV: work, volunteering and training.")]
        for entry in entries:
            end = show_period(entry.end, None) if entry.end else ctx._("now")
            lines.append(
                f"\u2022 {ctx._(CV_KINDS.get(entry.kind, entry.kind))}: {entry.role}, "
                f"{entry.organisation} ({show_period(entry.start, None)} - {end})"
            )
        if not entries:
            lines.append(ctx._("Nothing yet."))
        first = [ctx.button(ctx._("Add a line"), "add")]
        if entries:
            first.append(ctx.button(ctx._("Remove a line"), "remove"))
        ctx.say("\n".join(lines), buttons=[first, [ctx.way_out_button()]])

    async def on_cv(self, ctx: Context, event: Event) -> None:
        if event.value == "add":
            ctx.data["cv"] = {}
            await ctx.go("cv_kind")
            return
        if event.value == "remove":
            await ctx.go("cv_remove")
            return
        await ctx.invalid(ctx._("Please tap one of the buttons."))

    async def ask_cv_remove(self, ctx: Context) -> None:
        """Lists the CV lines by number; a press removes that line."""
        entries = await ctx.uow.cv.of_learner(ctx.user.id)
        lines = [ctx._("Which line do you want to remove?")]
        lines += [f"{n}. {e.role}, {e.organisation}" for n, e in enumerate(entries, start=1)]
        buttons = [ctx.button(str(n), f"e:{e.id}") for n, e in enumerate(entries, start=1)]
        ctx.say("\n".join(lines), buttons=[*rows(buttons, width=5), [ctx.way_out_button()]])

    async def on_cv_remove(self, ctx: Context, event: Event) -> None:
        value = event.value or ""
        entry_id = parse_id(value[2:])
        entry = await ctx.uow.cv.get(entry_id) if entry_id is not None else None
        if not value.startswith("e:") or entry is None or entry.learner_id != ctx.user.id:
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        await ctx.uow.cv.delete(entry)
        ctx.say(ctx._("Removed from your CV."))
        await ctx.back()

    async def ask_cv_kind(self, ctx: Context) -> None:
        """Asks what kind of line it is."""
        buttons = [ctx.button(ctx._(label), kind) for kind, label in CV_KINDS.items()]
        ctx.say(ctx._("What do you want to add?"), buttons=[buttons, [ctx.way_out_button()]])

    async def on_cv_kind(self, ctx: Context, event: Event) -> None:
        if event.value not in CV_KINDS:
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        ctx.data.setdefault("cv", {})["kind"] = event.value
        await ctx.go("cv_organisation")

    async def ask_cv_organisation(self, ctx: Context) -> None:
        """Asks for the organisation or school."""
        choices = await earlier_places(ctx, "organisation")
        ctx.data["choices"] = choices
        buttons = [ctx.button(shorten(value), f"o:{i}") for i, value in enumerate(choices)]
        ctx.say(
            ctx._("Which organisation or school?"),
            buttons=[*rows(buttons), [ctx.way_out_button()]],
        )

    async def on_cv_organisation(self, ctx: Context, event: Event) -> None:
        value = await short_answer(ctx, event, limit=MAX_FIELD)
        if value is not None:
            ctx.data["cv"]["organisation"] = value
            await ctx.go("cv_role")

    async def ask_cv_role(self, ctx: Context) -> None:
        """Asks for the role, or the name of the training."""
        ctx.data["choices"] = []
        ctx.say(
            ctx._("What was your role, or the name of the training?"),
            buttons=[[ctx.way_out_button()]],
        )

    async def on_cv_role(self, ctx: Context, event: Event) -> None:
        value = await short_answer(ctx, event, limit=MAX_FIELD)
        if value is not None:
            ctx.data["cv"]["role"] = value
            await ctx.go("cv_from")

    async def ask_cv_from(self, ctx: Context) -> None:
        """Asks when it started."""
        ctx.say(
            ctx._("When did it start? Type the month and year, like 09/2019, or only the year."),
            buttons=[[ctx.way_out_button()]],
        )

    async def on_cv_from(self, ctx: Context, event: Event) -> None:
        period = parse_period(event.text, now=ctx.now)
        if period is None or period[1] is not None:
            await ctx.invalid(ctx._("I could not read that date. Please type it like 09/2019."))
            return
        ctx.data["cv"]["start"] = period[0]
        await ctx.go("cv_to")

    async def ask_cv_to(self, ctx: Context) -> None:
        """Asks when it ended, or whether it still goes on."""
        ctx.say(
            ctx._("When did it end? Type the month and year, or tap the button."),
            buttons=[[ctx.button(ctx._("It still goes on"), "ongoing")], [ctx.way_out_button()]],
        )

    async def on_cv_to(self, ctx: Context, event: Event) -> None:
        end: str | None = None
        if event.value != "ongoing":
            period = parse_period(event.text, now=ctx.now)
            if period is None or period[1] is not None:
                await ctx.invalid(
                    ctx._("I could not read that date. Please type it like 06/2024.")
                )
                return
            end = period[0]
        cv = ctx.data["cv"]
        if end is not None and (cv["start"] + "-00") > (end + "-99"):
            await ctx.invalid(ctx._("The end is before the start. Please check the date."))
            return
        await ctx.uow.cv.add(
            CvEntry(
                learner_id=ctx.user.id,
                kind=cv["kind"],
                organisation=cv["organisation"],
                role=cv["role"],
                start=cv["start"],
                end=end,
                created_at=ctx.now,
            )
        )
        ctx.say(ctx._("Added to your CV."))
        ctx.conversation.history = ["overview"]
        await ctx.go("cv", remember=False)
