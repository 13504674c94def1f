"""/export: the portfolio as Telegram documents (DOCX, ZIP with attachments and JSON), and the
competence framework for Mahara and Moodle. Files are written under the data folder
(`exports/u<id>/`, generated names) and sent under readable names."""

from __future__ import annotations

import asyncio
import json
import logging
import zipfile
from functools import partial
from pathlib import Path
from typing import ClassVar

from flows.engine import Context, Flow
from flows.evidence_content import content
from flows.i18n import N_, shorten
from flows.messages import Event, OutFile, Reply
from flows.pdf import portfolio_pdf
from flows.portfolio_export import (
    ENTRY_OVERHEAD,
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
from flows.transcription import transcribe_missing
from flows.uploads import CLEANED_IMAGES, without_metadata
from storage.models import Evidence, Reflection, Upload

log = logging.getLogger(__name__)

#: The longest name on a portfolio.
MAX_NAME = 120


def left_out(evidence: Evidence) -> bool:
    """True for a piece that may show clients and whose client details are not confirmed
    removed: it stays out of every export, with its reflection."""
    if evidence.privacy_confirmed is False:
        return True
    return content().type(evidence.kind).private and not evidence.privacy_confirmed


def voice_ids(reflection: Reflection) -> list[int]:
    """The upload ids of a reflection's voice notes (answers and follow-up answers)."""
    found = []
    for section in ("voice", "followup_voice"):
        for value in (reflection.extra or {}).get(section, {}).values():
            if str(value).isdigit():
                found.append(int(value))
    return found


async def snapshot(ctx: Context) -> Snapshot:
    """Reads what goes into the export. Pieces whose client details are not confirmed
    removed are left out, and so are their reflections."""
    evidence = await ctx.uow.evidence.of_learner(ctx.user.id)
    done = await ctx.uow.reflections.done_of(ctx.user.id)
    by_id = {r.id: r for r in done}
    # A reflection written for a piece but never linked (the learner stopped halfway and
    # finished it later in /reflect) still belongs to that piece.
    written_for: dict[int, Reflection] = {}
    for finished in done:
        target = str((finished.extra or {}).get("evidence_id", ""))
        if target.isdigit():
            written_for.setdefault(int(target), finished)
    used = {e.reflection_id for e in evidence if e.reflection_id is not None}
    pieces: list[Piece] = []
    numbers: list[int] = []
    hidden: set[int] = set()
    for item in evidence:
        reflection = by_id.get(item.reflection_id) if item.reflection_id else None
        if reflection is None and item.reflection_id:
            reflection = await ctx.uow.reflections.get(item.reflection_id)
        if reflection is None and item.id in written_for:
            candidate = written_for[item.id]
            reflection = None if candidate.id in used else candidate
        if left_out(item):
            numbers.append(item.number)
            if reflection is not None:
                hidden.add(reflection.id)
            if item.id in written_for:
                hidden.add(written_for[item.id].id)
            continue
        upload = await ctx.uow.uploads.get(item.upload_id) if item.upload_id else None
        spoken = (
            await ctx.uow.uploads.get(item.description_upload_id)
            if item.description_upload_id
            else None
        )
        feedback = await ctx.uow.feedback.for_item(item_type="evidence", item_id=item.id)
        pieces.append(Piece(item, reflection, upload, tuple(feedback), spoken))
    linked = {p.reflection.id for p in pieces if p.reflection is not None}
    others = [r for r in done if r.id not in linked and r.id not in hidden]
    uploads: dict[int, Upload] = {}
    for exported in [*(p.reflection for p in pieces if p.reflection), *others]:
        for upload_id in voice_ids(exported):
            upload = await ctx.uow.uploads.get(upload_id)
            if upload is not None and upload.owner_id == ctx.user.id:
                uploads[upload_id] = upload
    return Snapshot(
        name=ctx.user.portfolio_name or ctx.user.display_name or "",
        language=ctx.user.language,
        generated_at=ctx.now,
        cv=await ctx.uow.cv.of_learner(ctx.user.id),
        pieces=pieces,
        reflections=others,
        left_out=numbers,
        uploads=uploads,
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
        """Asks the name for the portfolio the first time (or when asked to change it),
        then the heading language; Dutch speakers get their files right away."""
        if args.strip() == "name" or not ctx.user.portfolio_name:
            await ctx.begin(self, "name", data={"only_name": args.strip() == "name"})
            return
        await self.after_name(ctx)

    async def after_name(self, ctx: Context) -> None:
        if ctx.user.language == "nl":
            await ctx.finish(menu=False)
            await self.export(ctx, bilingual=False)
            return
        if ctx.conversation.flow == self.name:
            await ctx.go("headings")
        else:  # started from /export while another flow was open
            await ctx.begin(self, "headings")

    async def ask_name(self, ctx: Context) -> None:
        """Asks for the name an assessor needs, prefilled with the name Opstap uses."""
        buttons = []
        known = ctx.user.portfolio_name or ctx.user.display_name
        if known:
            buttons.append([ctx.button(shorten(known, 60), "keep")])
        buttons.append([ctx.way_out_button()])
        ctx.say(
            ctx._(
                "Which name goes on your portfolio? The assessor needs your official name, "
                "as on your identity card. Type it, or tap the button."
            ),
            buttons=buttons,
        )

    async def on_name(self, ctx: Context, event: Event) -> None:
        """Keeps the name for the portfolio."""
        value = " ".join(event.text.split())
        if event.value == "keep":
            value = ctx.user.portfolio_name or ctx.user.display_name or ""
        if not value or event.kind not in ("text", "button"):
            await ctx.invalid(ctx._("Please type your name, or tap the button."))
            return
        if len(value) > MAX_NAME:
            await ctx.invalid(
                ctx.n_(
                    "Please keep it under {limit} character.",
                    "Please keep it under {limit} characters.",
                    MAX_NAME,
                    limit=MAX_NAME,
                )
            )
            return
        ctx.user.portfolio_name = value
        if ctx.data.get("only_name"):
            ctx.say(ctx._("Your portfolio now carries the name {name}.", name=value))
            await ctx.finish()
            return
        await self.after_name(ctx)

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
                [ctx.way_out_button()],
            ],
        )

    async def on_headings(self, ctx: Context, event: Event) -> None:
        if event.value not in ("nl", "both"):
            await ctx.invalid(ctx._("Please tap one of the buttons."))
            return
        await ctx.finish(menu=False)
        await self.export(ctx, bilingual=event.value == "both")

    async def build(self, ctx: Context, data: Snapshot, *, bilingual: bool) -> list[Reply]:
        """The DOCX, its PDF and the ZIP, made once the transaction is committed (nothing is
        locked) and in a thread (other learners are answered meanwhile)."""
        folder = f"exports/u{ctx.user.id}"
        try:
            docx, zips = await asyncio.to_thread(self.write_files, ctx, data, folder, bilingual)
        except Exception as error:  # the export is made again on the next /export
            log.error("the portfolio could not be built (%s)", type(error).__name__)
            return [
                ctx.message(
                    ctx._(
                        "Sorry, something went wrong on my side. What you saved is safe. "
                        "Please try again."
                    )
                )
            ]
        replies = [
            ctx.message(
                ctx.n_(
                    "Your portfolio with {count} piece of evidence.",
                    "Your portfolio with {count} pieces of evidence.",
                    len(data.pieces),
                ),
                file=OutFile(docx, file_name="portfolio.docx"),
            )
        ]
        pdf = await portfolio_pdf(docx.read_bytes())
        if pdf is not None:
            kept = ctx.files.save(pdf, folder=folder, suffix=".pdf")
            if zips[0].stat().st_size + len(pdf) + ENTRY_OVERHEAD <= self.limit:
                with zipfile.ZipFile(zips[0], "a", compression=zipfile.ZIP_DEFLATED) as archive:
                    archive.writestr("portfolio.pdf", pdf)
            replies.append(
                ctx.message(
                    ctx._("The same portfolio as a PDF, to read or to print."),
                    file=OutFile(ctx.files.path(kept.relpath), file_name="portfolio.pdf"),
                )
            )
        for number, path in enumerate(zips, start=1):
            name = "portfolio.zip" if len(zips) == 1 else f"portfolio-{number}of{len(zips)}.zip"
            text = (
                ctx._(
                    "Everything in one ZIP: the portfolio, your files, your voice notes and "
                    "the data (JSON)."
                )
                if len(zips) == 1
                else ctx._(
                    "Part {number} of {total} of the ZIP (the files are too big for one).",
                    number=number,
                    total=len(zips),
                )
            )
            replies.append(ctx.message(text, file=OutFile(path, file_name=name)))
        return replies

    def write_files(
        self, ctx: Context, data: Snapshot, folder: str, bilingual: bool
    ) -> tuple[Path, list[Path]]:
        """Writes the DOCX and the ZIP parts (in a worker thread: files only, no database)."""
        cleaned: dict[int, Path] = {}

        def attachment(upload: Upload) -> Path:
            """Where an upload's file is; a photo as a copy without EXIF data (photos
            kept before Opstap removed it on arrival still carry it in the store)."""
            path = ctx.files.path(upload.relpath)
            if upload.mime_type not in CLEANED_IMAGES or not path.is_file():
                return path
            if upload.id not in cleaned:
                original = path.read_bytes()
                clean = without_metadata(original, upload.mime_type)
                if clean == original:
                    cleaned[upload.id] = path
                else:
                    copy = ctx.files.save(clean, folder=folder, suffix=path.suffix)
                    cleaned[upload.id] = ctx.files.path(copy.relpath)
            return cleaned[upload.id]

        docx = build_docx(data, bilingual=bilingual, attachment=attachment)
        stored = ctx.files.save(docx, folder=folder, suffix=".docx")
        body = json.dumps(build_json(data), ensure_ascii=False, indent=2).encode()
        parts = zip_parts(
            docx=docx, data=body, snapshot=data, attachment=attachment, limit=self.limit
        )
        zips = [
            ctx.files.path(ctx.files.save(part, folder=folder, suffix=".zip").relpath)
            for part in parts
        ]
        return ctx.files.path(stored.relpath), zips

    async def export(self, ctx: Context, *, bilingual: bool) -> None:
        """Builds and sends the files."""
        ctx.say(ctx._("I am putting your portfolio together. This can take a moment."))
        await ctx.working("document")
        data = await snapshot(ctx)
        await transcribe_missing(
            [
                *data.uploads.values(),
                *(p.description_voice for p in data.pieces if p.description_voice),
            ],
            model_dir=ctx.config.transcription_model_dir,
            path_of=lambda upload: ctx.files.path(upload.relpath),
            language=ctx.user.language,
        )
        folder = f"exports/u{ctx.user.id}"
        remove_earlier_exports(ctx, folder)
        ctx.after_commit(
            partial(self.build, ctx, data, bilingual=bilingual),
            if_lost=ctx._(
                "I was interrupted while I put your portfolio together. Please send /export again."
            ),
        )
        matrix = json.dumps(mahara_matrix(), ensure_ascii=False, indent=2).encode()
        stored = ctx.files.save(matrix, folder=folder, suffix=".matrix")
        ctx.say(
            ctx._(
                "For your school's portfolio website: this file holds the six themes and "
                "their competences. Your coach knows where it goes."
            ),
            file=OutFile(ctx.files.path(stored.relpath), file_name="opstap-evc.matrix"),
        )
        stored = ctx.files.save(moodle_csv().encode(), folder=folder, suffix=".csv")
        ctx.say(
            ctx._(
                "The same six themes, for your school's learning platform. Give it to your "
                "coach if they ask for it."
            ),
            file=OutFile(ctx.files.path(stored.relpath), file_name="opstap-evc-moodle.csv"),
        )
        if data.left_out:
            ctx.say(
                ctx.n_(
                    "Piece {numbers} is not in it. Remove the names and details of clients, "
                    "then confirm it in /portfolio.",
                    "Pieces {numbers} are not in it. Remove the names and details of clients, "
                    "then confirm it in /portfolio.",
                    len(data.left_out),
                    numbers=ctx.t.join([str(n) for n in data.left_out]),
                )
            )
        ctx.say(
            ctx._(
                "The name on your portfolio: {name}. To change it, send /export name.",
                name=data.name or "-",
            )
        )
        ctx.engine.show_menu(ctx)
