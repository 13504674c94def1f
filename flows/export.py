"""/export: the portfolio as Telegram documents (DOCX, ZIP with attachments and JSON), and the
competence framework for Mahara and Moodle. Files are written under the data folder
(`exports/u<id>/`, generated names) and sent under readable names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from flows.engine import Context, Flow
from flows.evidence_content import content
from flows.i18n import N_
from flows.messages import Event, OutFile
from flows.portfolio_export import (
    TELEGRAM_LIMIT,
    Piece,
    Snapshot,
    build_docx,
    build_json,
    language_name,
    mahara_matrix,
    moodle_csv,
    zip_parts,
)
from storage.models import Upload


async def snapshot(ctx: Context) -> Snapshot:
    """Reads what goes into the export; pieces whose client details are not confirmed removed
    are left out."""
    pieces: list[Piece] = []
    left_out: list[int] = []
    for evidence in await ctx.uow.evidence.of_learner(ctx.user.id):
        if content().type(evidence.kind).private and not evidence.privacy_confirmed:
            left_out.append(evidence.number)
            continue
        reflection = (
            await ctx.uow.reflections.get(evidence.reflection_id)
            if evidence.reflection_id
            else None
        )
        upload = await ctx.uow.uploads.get(evidence.upload_id) if evidence.upload_id else None
        feedback = await ctx.uow.feedback.for_item(item_type="evidence", item_id=evidence.id)
        pieces.append(Piece(evidence, reflection, upload, tuple(feedback)))
    return Snapshot(
        name=ctx.user.display_name or "",
        language=ctx.user.language,
        generated_at=ctx.now,
        cv=await ctx.uow.cv.of_learner(ctx.user.id),
        pieces=pieces,
        reflections=await ctx.uow.reflections.done_of(ctx.user.id),
        left_out=left_out,
    )


def remove_earlier_exports(ctx: Context, folder: str) -> None:
    """Deletes the files of the learner's earlier exports: they were sent already, and a
    portfolio should not linger on the server in several copies."""
    directory = ctx.files.path(folder)
    if directory.is_dir():
        for old in directory.iterdir():
            if old.is_file():
                old.unlink(missing_ok=True)


class ExportFlow(Flow):
    """Sends the portfolio and the framework as files."""

    name = "export"
    commands: ClassVar = {"export": N_("Download your portfolio as files")}
    #: Parts of the ZIP stay under this size (Telegram's limit for bots).
    limit: int = TELEGRAM_LIMIT

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Asks for the heading language, or exports right away for Dutch speakers."""
        if ctx.user.language == "nl":
            await ctx.finish(menu=False)
            await self.export(ctx, bilingual=False)
            return
        await ctx.begin(self, "headings")

    async def ask_headings(self, ctx: Context) -> None:
        """Asks whether headings are Dutch only or also in the learner's language."""
        ctx.say(
            ctx._(
                "Your portfolio is in Dutch, the language of the assessment. Your own words "
                "stay as you wrote them. Do you want the headings also in your language?"
            ),
            buttons=[
                [ctx.button(ctx._("Dutch only"), "nl")],
                [
                    ctx.button(
                        ctx._("Dutch and {language}", language=language_name(ctx.user.language)),
                        "both",
                    )
                ],
            ],
        )

    async def on_headings(self, ctx: Context, event: Event) -> None:
        if event.value not in ("nl", "both"):
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        await ctx.finish(menu=False)
        await self.export(ctx, bilingual=event.value == "both")

    async def export(self, ctx: Context, *, bilingual: bool) -> None:
        """Builds and sends the files."""
        ctx.say(ctx._("I am putting your portfolio together. This can take a moment."))
        await ctx.flush()
        data = await snapshot(ctx)
        folder = f"exports/u{ctx.user.id}"
        remove_earlier_exports(ctx, folder)

        def attachment(upload: Upload) -> Path:
            return ctx.files.path(upload.relpath)

        docx = build_docx(data, bilingual=bilingual, attachment=attachment)
        stored = ctx.files.save(docx, folder=folder, suffix=".docx")
        ctx.say(
            ctx.n_(
                "Your portfolio with {count} piece of evidence.",
                "Your portfolio with {count} pieces of evidence.",
                len(data.pieces),
            ),
            file=OutFile(ctx.files.path(stored.relpath), file_name="portfolio.docx"),
        )
        body = json.dumps(build_json(data), ensure_ascii=False, indent=2).encode()
        parts = list(
            zip_parts(
                docx=docx, data=body, pieces=data.pieces, attachment=attachment, limit=self.limit
            )
        )
        for number, part in enumerate(parts, start=1):
            stored = ctx.files.save(part, folder=folder, suffix=".zip")
            name = "portfolio.zip" if len(parts) == 1 else f"portfolio-{number}of{len(parts)}.zip"
            text = (
                ctx._("Everything in one ZIP: the portfolio, your files and the data (JSON).")
                if len(parts) == 1
                else ctx._(
                    "Part {number} of {total} of the ZIP (the files are too big for one).",
                    number=number,
                    total=len(parts),
                )
            )
            ctx.say(text, file=OutFile(ctx.files.path(stored.relpath), file_name=name))
        matrix = json.dumps(mahara_matrix(), ensure_ascii=False, indent=2).encode()
        stored = ctx.files.save(matrix, folder=folder, suffix=".matrix")
        ctx.say(
            ctx._("The six themes for Mahara (SmartEvidence)."),
            file=OutFile(ctx.files.path(stored.relpath), file_name="opstap-evc.matrix"),
        )
        stored = ctx.files.save(moodle_csv().encode(), folder=folder, suffix=".csv")
        ctx.say(
            ctx._("The six themes for Moodle (competency framework)."),
            file=OutFile(ctx.files.path(stored.relpath), file_name="opstap-evc-moodle.csv"),
        )
        if data.left_out:
            ctx.say(
                ctx._(
                    "Left out: pieces {numbers}. Remove the names and details of clients, "
                    "then confirm it in /portfolio.",
                    numbers=", ".join(str(n) for n in data.left_out),
                )
            )
        ctx.engine.show_menu(ctx)
