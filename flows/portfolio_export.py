"""The portfolio as files an assessor and a college can use: a DOCX with the Dutch portfolio
structure, a machine-readable JSON (schema: `flows/content/portfolio.schema.json`), a ZIP with
both and every attachment (split into parts under Telegram's 50 MB), and the competence
framework for Mahara (SmartEvidence `.matrix`) and Moodle (competency framework CSV)."""

from __future__ import annotations

import html
import io
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from docx import Document
from docx.image.exceptions import (
    InvalidImageStreamError,
    UnexpectedEndOfFileError,
    UnrecognizedImageError,
)
from docx.image.image import Image
from docx.oxml import OxmlElement
from docx.shared import Cm

from flows.competences import CONTENT, LEVELS, framework
from flows.evidence_content import content, show_period
from flows.i18n import LANGUAGES, N_, Translator
from flows.transcription import transcript_note
from flows.uploads import duration_text
from storage.models import CvEntry, Evidence, Feedback, Reflection, Upload

SCHEMA_PATH = CONTENT / "portfolio.schema.json"
SCHEMA_ID = "https://opstap.be/schemas/portfolio-1.json"
FRAMEWORK_ID = "opstap-evc"
#: Telegram bots may send files up to 50 MB; ZIP parts stay under this.
TELEGRAM_LIMIT = 50 * 1024 * 1024
ENTRY_OVERHEAD = 4096
MOODLE_HEADER = (
    "Parent id number",
    "Id number",
    "Shortname",
    "Description",
    "Description format",
    "Scale values",
    "Scale configuration",
    "Rule type (optional)",
    "Rule outcome (optional)",
    "Rule config (optional)",
    "Cross referenced competency id numbers",
    "Exported id (optional)",
    "Is framework",
    "Taxonomy",
)
STARR = (
    ("situation", N_("Situation")),
    ("task", N_("Task")),
    ("action", N_("Action")),
    ("result", N_("Result")),
    ("reflection", N_("Reflection")),
)
ANSWERS = {"yes": N_("yes"), "no": N_("no"), "unsure": N_("not sure")}
CV_KINDS = {"work": N_("Work"), "volunteering": N_("Volunteering"), "training": N_("Training")}
#: Photos are shown inside the DOCX too, up to these sizes (the ZIP always has them).
PICTURE_TYPES = frozenset({"image/jpeg", "image/png"})
MAX_PICTURE = 5 * 1024 * 1024
MAX_PICTURES_TOTAL = 25 * 1024 * 1024
#: The Dutch name of each STARR step, in the names of voice notes in the ZIP.
DUTCH_STEP = {
    "situation": "situatie",
    "task": "taak",
    "action": "actie",
    "result": "resultaat",
    "reflection": "reflectie",
}


@dataclass(frozen=True)
class Recording:
    """A voice note in the export: the upload and its file's name in the ZIP."""

    upload: Upload
    name: str

    @property
    def file(self) -> str:
        """Its file name inside the folder `attachments/`."""
        return self.name.removeprefix("attachments/")


@dataclass(frozen=True)
class Step:
    """One STARR step with everything the learner gave for it."""

    column: str
    source: str
    text: str | None
    voice: Recording | None
    followup: str | None
    followup_voice: Recording | None

    @property
    def empty(self) -> bool:
        return not (self.text or self.voice or self.followup or self.followup_voice)


def _recording(uploads: dict[int, Upload], upload_id: object, stem: str) -> Recording | None:
    upload = uploads.get(int(str(upload_id))) if str(upload_id).isdigit() else None
    if upload is None:
        return None
    return Recording(upload, f"attachments/{stem}{Path(upload.relpath).suffix}")


def steps(reflection: Reflection, uploads: dict[int, Upload]) -> list[Step]:
    """The five steps of a reflection: text, voice note, follow-up answer (typed or spoken)."""
    extra = reflection.extra or {}
    found = []
    for column, source in STARR:
        stem = f"reflectie-{reflection.id}-{DUTCH_STEP[column]}"
        found.append(
            Step(
                column=column,
                source=source,
                text=getattr(reflection, column) or None,
                voice=_recording(uploads, extra.get("voice", {}).get(column), stem),
                followup=extra.get("followups", {}).get(column) or None,
                followup_voice=_recording(
                    uploads, extra.get("followup_voice", {}).get(column), f"{stem}-aanvulling"
                ),
            )
        )
    return found


@dataclass(frozen=True)
class Piece:
    """A piece of evidence with what belongs to it."""

    evidence: Evidence
    reflection: Reflection | None = None
    upload: Upload | None = None
    feedback: tuple[Feedback, ...] = ()
    #: The spoken description, when the learner described the piece by voice.
    description_voice: Upload | None = None

    @property
    def stem(self) -> str:
        return f"{self.evidence.number:02d}-{safe_name(self.evidence.title)}"

    @property
    def attachment_name(self) -> str | None:
        """Its file's name in the ZIP: number and title, sanitised, and the stored suffix."""
        if self.upload is None:
            return None
        return f"attachments/{self.stem}{Path(self.upload.relpath).suffix}"

    @property
    def description_recording(self) -> Recording | None:
        if self.description_voice is None:
            return None
        suffix = Path(self.description_voice.relpath).suffix
        return Recording(self.description_voice, f"attachments/{self.stem}-beschrijving{suffix}")

    @property
    def show_picture(self) -> bool:
        """A photo goes into the DOCX itself only when the learner said no client can be
        recognised in it (it is in the ZIP either way)."""
        return self.evidence.privacy_confirmed is True


@dataclass(frozen=True)
class Snapshot:
    """Everything that goes into an export, read once."""

    name: str
    language: str
    generated_at: datetime
    cv: list[CvEntry]
    pieces: list[Piece]
    #: Finished reflections not linked to an exported piece (and not to a left-out one).
    reflections: list[Reflection]
    #: Evidence numbers left out because client details are not confirmed removed.
    left_out: list[int] = field(default_factory=list)
    #: The uploads of voice notes in the reflections, by id.
    uploads: dict[int, Upload] = field(default_factory=dict)

    def all_reflections(self) -> list[Reflection]:
        """Every exported reflection: those of the pieces, then the others."""
        linked = [p.reflection for p in self.pieces if p.reflection is not None]
        return linked + self.reflections

    def files(self) -> list[tuple[str, Upload]]:
        """Every file of the export with its name in the ZIP, in the order of the DOCX."""
        found: list[tuple[str, Upload]] = []
        for piece in self.pieces:
            if piece.upload is not None and piece.attachment_name:
                found.append((piece.attachment_name, piece.upload))
            if recording := piece.description_recording:
                found.append((recording.name, recording.upload))
            if piece.reflection is not None:
                found += _step_files(piece.reflection, self.uploads)
        for reflection in self.reflections:
            found += _step_files(reflection, self.uploads)
        unique: dict[str, Upload] = {}
        for name, upload in found:
            unique.setdefault(name, upload)
        return list(unique.items())


def _step_files(reflection: Reflection, uploads: dict[int, Upload]) -> list[tuple[str, Upload]]:
    found = []
    for step in steps(reflection, uploads):
        for recording in (step.voice, step.followup_voice):
            if recording is not None:
                found.append((recording.name, recording.upload))
    return found


def safe_name(text: str, *, limit: int = 60) -> str:
    """A file name part from user text: letters and digits joined by dashes. Letters of a
    right-to-left script are left out: in a left-to-right path they come out scrambled (the
    `.jpg` at the wrong end), so an Arabic title gives the plain "bewijsstuk"."""
    normal = unicodedata.normalize("NFKC", text)
    cleaned = "".join(
        ch if ch.isalnum() and unicodedata.bidirectional(ch) not in ("R", "AL", "AN") else "-"
        for ch in normal
    )
    cleaned = re.sub(r"-{2,}", "-", cleaned).strip("-")[:limit].strip("-")
    return cleaned or "bewijsstuk"


def right_to_left(text: str) -> bool:
    """True when the first letter of the text is of a right-to-left script."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


# -- DOCX ------------------------------------------------------------------------------
def _set_direction(paragraph: Any, *, rtl: bool) -> None:
    """Marks a paragraph and its runs right-to-left (`w:bidi`, `w:rtl`)."""
    if not rtl:
        return
    properties = paragraph._p.get_or_add_pPr()
    properties.insert(0, OxmlElement("w:bidi"))
    for run in paragraph.runs:
        run_properties = run._r.get_or_add_rPr()
        run_properties.append(OxmlElement("w:rtl"))


def _keep_rows_whole(table: Any, *, header: bool = False) -> None:
    """No row of the table splits across two pages; the first row repeats as a header."""
    for index, row in enumerate(table.rows):
        properties = row._tr.get_or_add_trPr()
        properties.append(OxmlElement("w:cantSplit"))
        if header and index == 0:
            properties.append(OxmlElement("w:tblHeader"))


class Writer:
    """Writes the portfolio in Dutch, and with the headings also in the learner's language.
    Each language gets paragraphs of its own, in its own direction: Dutch left to right,
    Arabic right to left, and the learner's own words in the direction of their script."""

    def __init__(self, document: Any, language: str, *, bilingual: bool) -> None:
        self.document = document
        self.nl = Translator("nl")
        self.own = Translator(language) if bilingual and language != "nl" else None

    @property
    def mixed(self) -> bool:
        """True when the second language runs right to left: then it never shares a
        paragraph with Dutch."""
        return self.own is not None and self.own.rtl

    def texts(self, source: str, **params: object) -> list[str]:
        """A source string in Dutch, then in the learner's language (when asked)."""
        found = [self.nl._(source, **params)]
        if self.own is not None:
            found.append(self.own._(source, **params))
        return found

    def n_(self, singular: str, plural: str, count: int, **params: object) -> list[str]:
        found = [self.nl.n_(singular, plural, count, **params)]
        if self.own is not None:
            found.append(self.own.n_(singular, plural, count, **params))
        return found

    def content(self, texts: Any) -> list[str]:
        """A content text (competence, type) in Dutch, then in the learner's language."""
        found = [str(texts.get("nl"))]
        if self.own is not None:
            found.append(str(texts.get(self.own.language)))
        return found

    def joined(self, texts: list[str]) -> list[str]:
        """Texts of both languages in one paragraph when they share a direction."""
        return texts if self.mixed else [" / ".join(texts)]

    def paragraph(
        self,
        container: Any,
        text: str,
        *,
        style: str | None = None,
        label: str = "",
        italic: bool = False,
    ) -> Any:
        """One paragraph in the direction of its text (a label comes first, in bold)."""
        paragraph = container.add_paragraph(style=style)
        if label:
            paragraph.add_run(f"{label}: ").bold = True
        run = paragraph.add_run(text)
        run.italic = italic or None
        _set_direction(paragraph, rtl=right_to_left(label or text))
        return paragraph

    def heading(self, texts: list[str], level: int) -> None:
        """A heading per language, each in its own direction."""
        for text in self.joined(texts):
            paragraph = self.document.add_heading(text, level=level)
            _set_direction(paragraph, rtl=right_to_left(text))

    def lines(self, container: Any, texts: list[str], *, style: str | None = None) -> None:
        for text in self.joined(texts):
            self.paragraph(container, text, style=style)

    def field(self, container: Any, source: str, value: str) -> None:
        """A label and a value: on one line when they run the same way, else the label(s)
        first and the value below, each its own paragraph."""
        labels = self.joined(self.texts(source))
        if len(labels) == 1 and right_to_left(labels[0]) == right_to_left(value):
            self.paragraph(container, value, label=labels[0])
            return
        for label in labels:
            self.paragraph(container, f"{label}:").runs[0].bold = True
        self.paragraph(container, value)

    def file_note(self, name: str) -> list[str]:
        """Where a file is, in words that make sense outside the ZIP."""
        return self.texts(
            # The folder and the ZIP are parameters, so a right-to-left sentence isolates them.
            N_("file {file} in the folder \u201c{folder}\u201d of {archive}"),
            file=name.removeprefix("attachments/"),
            folder="attachments",
            archive="portfolio.zip",
        )

    def recording(self, container: Any, recording: Recording, *, source: str) -> None:
        """A voice note: its length, where its file is, and its transcript if there is one."""
        length = duration_text(recording.upload.duration)
        for label, where in zip(
            self.texts(source, duration=length), self.file_note(recording.name), strict=True
        ):
            self.paragraph(container, f"{label}: {where}")
        transcript = recording.upload.transcript
        if transcript:
            note = transcript_note(recording.upload)
            for label in self.joined(self.texts(note)):
                self.paragraph(container, f"{label}:", italic=True)
            self.paragraph(container, transcript, italic=True)


def build_docx(
    snapshot: Snapshot,
    *,
    bilingual: bool,
    attachment: Callable[[Upload], Path] | None = None,
) -> bytes:
    """The portfolio in the Dutch EVC structure: what was left out (first page), the CV, then
    each piece of evidence with its description, competences, self-checks and the STARR
    reflection it supports. The learner's own words stay as they wrote or said them. With
    `attachment` (where an upload's file is), photos are shown too."""
    document = Document()
    w = Writer(document, snapshot.language, bilingual=bilingual)
    pictures = _Pictures(attachment)
    document.core_properties.title = f"Portfolio {snapshot.name}"
    document.core_properties.language = "nl-BE"
    w.heading(w.texts(N_("Portfolio: EVC (recognition of what you learned before)")), level=0)
    front = _Details(document, w)
    front.row(N_("Name"), [snapshot.name])
    front.row(N_("Made on"), [snapshot.generated_at.date().isoformat()])
    front.row(N_("Pieces of evidence"), [str(len(snapshot.pieces))])
    front.done()
    if snapshot.left_out:
        numbers = ", ".join(str(n) for n in snapshot.left_out)
        w.lines(
            document,
            w.n_(
                "Left out: piece {numbers}. Names or details of clients are not removed yet.",
                "Left out: pieces {numbers}. Names or details of clients are not removed yet.",
                len(snapshot.left_out),
                numbers=numbers,
            ),
        )

    w.heading(w.texts(N_("Curriculum vitae")), level=1)
    if snapshot.cv:
        _cv_table(document, w, snapshot.cv)
    else:
        w.lines(document, w.texts(N_("No CV lines yet.")))

    w.heading(w.texts(N_("Pieces of evidence")), level=1)
    for piece in snapshot.pieces:
        _piece(document, w, piece, pictures, snapshot.uploads)

    if snapshot.reflections:
        w.heading(w.texts(N_("Other reflections")), level=1)
        for reflection in snapshot.reflections:
            w.paragraph(document, reflection.title or "-", style="Heading 3")
            _starr(document, w, reflection, snapshot.uploads)

    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _cv_table(document: Any, w: Writer, cv: list[CvEntry]) -> None:
    table = document.add_table(rows=1, cols=5)
    table.style = "Table Grid"
    for cell, source in zip(
        table.rows[0].cells,
        (N_("Kind"), N_("Organisation"), N_("Role"), N_("From"), N_("To")),
        strict=True,
    ):
        _cell(w, cell, w.texts(source), bold=True)
    for entry in cv:
        cells = table.add_row().cells
        values = (
            w.texts(CV_KINDS.get(entry.kind, entry.kind)),
            [entry.organisation],
            [entry.role],
            [show_period(entry.start, None)],
            [show_period(entry.end, None)] if entry.end else w.texts(N_("now")),
        )
        for cell, texts in zip(cells, values, strict=True):
            _cell(w, cell, texts)
    _keep_rows_whole(table, header=True)


class _Details:
    """A two-column table of labels (in each language) and values, rows kept whole."""

    def __init__(self, document: Any, w: Writer) -> None:
        self.w = w
        self.table = document.add_table(rows=0, cols=2)
        self.table.style = "Table Grid"

    def row(self, source: str, values: list[str]) -> None:
        cells = self.table.add_row().cells
        _cell(self.w, cells[0], self.w.texts(source), bold=True)
        for index, value in enumerate(values):
            paragraph = cells[1].paragraphs[0] if index == 0 else cells[1].add_paragraph()
            paragraph.add_run(value)
            _set_direction(paragraph, rtl=right_to_left(value))

    def done(self) -> None:
        _keep_rows_whole(self.table)


def _cell(w: Writer, cell: Any, texts: list[str], *, bold: bool = False) -> None:
    """Fills a table cell with one paragraph per language (or one, when they run alike)."""
    for index, text in enumerate(w.joined(texts)):
        paragraph = cell.paragraphs[0] if index == 0 else cell.add_paragraph()
        run = paragraph.add_run(text)
        run.bold = bold or None
        _set_direction(paragraph, rtl=right_to_left(text))


class _Pictures:
    """Adds photos to the document while they stay within the size limits."""

    def __init__(self, attachment: Callable[[Upload], Path] | None) -> None:
        self.attachment = attachment
        self.total = 0

    def add(self, document: Any, upload: Upload | None) -> None:
        if self.attachment is None or upload is None or upload.mime_type not in PICTURE_TYPES:
            return
        path = self.attachment(upload)
        if not path.is_file() or upload.size > MAX_PICTURE:
            return
        if self.total + upload.size > MAX_PICTURES_TOTAL:
            return
        try:
            Image.from_file(str(path))  # read first, so a failure leaves no empty paragraph
        except (
            InvalidImageStreamError,
            UnexpectedEndOfFileError,
            UnrecognizedImageError,
            UnicodeDecodeError,  # python-docx reads a damaged PNG chunk name as text
        ):
            return  # not readable as a picture: it is still in the ZIP
        document.add_picture(str(path), width=Cm(12))
        self.total += upload.size


def _piece(
    document: Any, w: Writer, piece: Piece, pictures: _Pictures, uploads: dict[int, Upload]
) -> None:
    evidence = piece.evidence
    w.heading(w.texts(N_("Evidence {number}"), number=evidence.number), level=2)
    w.paragraph(document, evidence.title, style="Heading 3")
    details = _Details(document, w)
    row = details.row

    row(N_("Type"), w.joined(w.content(content().type(evidence.kind).name)))
    row(N_("Period"), [show_period(evidence.period_start, evidence.period_end)])
    if evidence.organisation:
        row(N_("Organisation"), [evidence.organisation])
    if evidence.role:
        row(N_("Role"), [evidence.role])
    if piece.attachment_name:
        row(N_("Attachment"), w.joined(w.file_note(piece.attachment_name)))
    if evidence.url:
        row(N_("Link"), [evidence.url])
    if evidence.privacy_confirmed is not None:
        row(
            N_("Names and details of clients removed"),
            w.joined(w.texts(N_("yes") if evidence.privacy_confirmed else N_("no"))),
        )
    details.done()
    if piece.show_picture and piece.attachment_name:
        pictures.add(document, piece.upload)

    w.heading(w.texts(N_("Description")), level=3)
    described = False
    for text in (evidence.description, evidence.text):
        if text:
            w.paragraph(document, text)
            described = True
    if recording := piece.description_recording:
        w.recording(document, recording, source=N_("Voice note ({duration})"))
        described = True
    if not described:
        w.lines(document, w.texts(N_("No description yet.")))

    w.heading(w.texts(N_("Competences")), level=3)
    _competences(document, w, [str(c) for c in evidence.competences])

    w.heading(w.texts(N_("Self-check against the quality criteria")), level=3)
    checks = document.add_table(rows=0, cols=2)
    checks.style = "Table Grid"
    for criterion in content().criteria:
        cells = checks.add_row().cells
        _cell(
            w,
            cells[0],
            [
                f"{name} \u2014 {question}"
                for name, question in zip(
                    w.content(criterion.name), w.content(criterion.question), strict=True
                )
            ],
        )
        answer = evidence.checks.get(criterion.id)
        _cell(w, cells[1], w.texts(ANSWERS[answer]) if answer in ANSWERS else ["-"])
    _keep_rows_whole(checks)

    w.heading(w.texts(N_("STARR reflection")), level=3)
    if piece.reflection is not None:
        if piece.reflection.title:
            w.paragraph(document, piece.reflection.title, style="Heading 4")
        _starr(document, w, piece.reflection, uploads)
    else:
        w.lines(document, w.texts(N_("No reflection linked yet.")))
    if piece.feedback:
        w.heading(w.texts(N_("Feedback from the coach")), level=3)
        for note in piece.feedback:
            w.field(document, N_("Date"), note.created_at.date().isoformat())
            w.paragraph(document, note.text or "")


def _competences(document: Any, w: Writer, competence_ids: list[str]) -> None:
    if not competence_ids:
        w.lines(document, ["-"])
    for competence_id in competence_ids:
        competence = framework().competence(competence_id)
        theme = framework().theme(competence.theme_id)
        texts = [
            f"{theme_name}: {text}"
            for theme_name, text in zip(
                w.content(theme.name), w.content(competence.text), strict=True
            )
        ]
        w.lines(document, texts, style="List Bullet")


def _starr(document: Any, w: Writer, reflection: Reflection, uploads: dict[int, Upload]) -> None:
    for step in steps(reflection, uploads):
        labels = w.joined(w.texts(step.source))
        if step.empty:
            w.field(document, step.source, "-")
            continue
        if step.text and len(labels) == 1 and not step.voice:
            w.field(document, step.source, step.text)
        else:
            for label in labels:
                w.paragraph(document, f"{label}:").runs[0].bold = True
            if step.voice is not None:
                w.recording(document, step.voice, source=N_("Voice note ({duration})"))
            if step.text:
                w.paragraph(document, step.text)
        if step.followup or step.followup_voice:
            for label in w.joined(w.texts(N_("More, after a follow-up question"))):
                w.paragraph(document, f"{label}:", italic=True)
            if step.followup:
                w.paragraph(document, step.followup)
            if step.followup_voice is not None:
                w.recording(document, step.followup_voice, source=N_("Voice note ({duration})"))
    themes = [str(t) for t in reflection.themes]
    if themes:
        # Each language lists them its own way ("A en B"; Arabic with its own comma).
        readers = [w.nl] if w.own is None else [w.nl, w.own]
        names = [
            reader.join(list(names))
            for reader, names in zip(
                readers,
                zip(*(w.content(framework().theme(t).name) for t in themes), strict=True),
                strict=True,
            )
        ]
        w.heading(w.texts(N_("Themes of this reflection")), level=4)
        w.lines(document, names)
    if reflection.competences:
        w.heading(w.texts(N_("Competences of this reflection")), level=4)
        _competences(document, w, [str(c) for c in reflection.competences])


# -- JSON --------------------------------------------------------------------------------
def _voice_data(recording: Recording | None) -> dict[str, Any] | None:
    if recording is None:
        return None
    return {
        "attachment": recording.name,
        "duration_seconds": recording.upload.duration,
        "sha256": recording.upload.sha256,
        "transcript": recording.upload.transcript,
        "transcript_checked": recording.upload.transcript_checked,
        "transcript_corrected": recording.upload.transcript_corrected,
    }


def build_json(snapshot: Snapshot) -> dict[str, Any]:
    """The portfolio as data, valid against `portfolio.schema.json`."""

    def reflection_data(reflection: Reflection) -> dict[str, Any]:
        found = steps(reflection, snapshot.uploads)
        return {
            "id": reflection.id,
            "title": reflection.title,
            "language": reflection.language,
            **{column: getattr(reflection, column) for column, _ in STARR},
            "steps": {
                step.column: {
                    "text": step.text,
                    "voice": _voice_data(step.voice),
                    "followup": step.followup,
                    "followup_voice": _voice_data(step.followup_voice),
                }
                for step in found
            },
            "themes": [str(t) for t in reflection.themes],
            "competences": [str(c) for c in reflection.competences],
            "created_at": reflection.created_at.isoformat(),
        }

    return {
        "$schema": SCHEMA_ID,
        "format": "opstap-portfolio",
        "version": 1,
        "generated_at": snapshot.generated_at.isoformat(),
        "framework": FRAMEWORK_ID,
        "learner": {"name": snapshot.name, "language": snapshot.language},
        "cv": [
            {
                "kind": entry.kind,
                "organisation": entry.organisation,
                "role": entry.role,
                "from": entry.start,
                "to": entry.end,
            }
            for entry in snapshot.cv
        ],
        "evidence": [
            {
                "number": piece.evidence.number,
                "type": piece.evidence.kind,
                "type_nl": content().type(piece.evidence.kind).name.nl,
                "title": piece.evidence.title,
                "media": piece.evidence.media,
                "language": piece.evidence.language,
                "period": {"from": piece.evidence.period_start, "to": piece.evidence.period_end},
                "organisation": piece.evidence.organisation,
                "role": piece.evidence.role,
                "description": piece.evidence.description,
                "description_voice": _voice_data(piece.description_recording),
                "text": piece.evidence.text,
                "url": piece.evidence.url,
                "attachment": piece.attachment_name,
                "attachment_sha256": piece.upload.sha256 if piece.upload else None,
                "themes": [str(t) for t in piece.evidence.themes],
                "competences": [str(c) for c in piece.evidence.competences],
                "self_checks": {
                    criterion.id: piece.evidence.checks.get(criterion.id)
                    for criterion in content().criteria
                },
                "client_details_removed": piece.evidence.privacy_confirmed,
                "reflection": reflection_data(piece.reflection) if piece.reflection else None,
                "feedback": [
                    {"text": note.text, "at": note.created_at.isoformat()}
                    for note in piece.feedback
                ],
                "added_at": piece.evidence.created_at.isoformat(),
            }
            for piece in snapshot.pieces
        ],
        "left_out": list(snapshot.left_out),
        "reflections": [reflection_data(r) for r in snapshot.reflections],
    }


def schema() -> dict[str, Any]:
    """The JSON Schema of the portfolio JSON."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


# -- ZIP -------------------------------------------------------------------------------
def zip_parts(
    *,
    docx: bytes,
    data: bytes,
    snapshot: Snapshot,
    attachment: Callable[[Upload], Path],
    limit: int = TELEGRAM_LIMIT,
) -> Iterator[bytes]:
    """The ZIP, in parts of at most `limit` bytes: the first holds the DOCX, the JSON and
    its schema; attachments (the pieces' files and every voice note) fill the parts in
    order. Each part is a complete ZIP."""
    files = []
    for name, upload in snapshot.files():
        path = attachment(upload)
        if path.is_file():
            files.append((name, path))
    fixed = [
        ("portfolio.docx", docx),
        ("portfolio.json", data),
        ("portfolio.schema.json", SCHEMA_PATH.read_bytes()),
        (LEAP2A_NAME, build_leap2a(snapshot)),
    ]
    yield from zip_in_parts(fixed=fixed, files=files, limit=limit)


def zip_in_parts(
    *,
    fixed: Sequence[tuple[str, bytes]],
    files: Sequence[tuple[str, Path]],
    limit: int = TELEGRAM_LIMIT,
) -> Iterator[bytes]:
    """Complete ZIPs of at most `limit` bytes each, so each can be sent on its own: the
    first holds the `fixed` entries (compressed); the files, stored as they are (so their
    size is known in advance), fill the parts in order. Used by /export and /mydata."""
    used = sum(len(blob) + ENTRY_OVERHEAD for _, blob in fixed)
    groups: list[list[tuple[str, Path]]] = [[]]
    for name, path in files:
        size = path.stat().st_size + ENTRY_OVERHEAD
        if used + size > limit and (groups[-1] or used > 0):
            groups.append([])
            used = 0
        groups[-1].append((name, path))
        used += size
    for index, group in enumerate(groups):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            if index == 0:
                for name, blob in fixed:
                    archive.writestr(name, blob, compress_type=zipfile.ZIP_DEFLATED)
            for name, path in group:
                archive.write(path, name, zipfile.ZIP_STORED)
        yield buffer.getvalue()


# -- Leap2A (Mahara's portfolio import) -------------------------------------------------
ATOM = "http://www.w3.org/2005/Atom"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
LEAP2 = "http://terms.leapspecs.org/"
LEAP2_CATEGORIES = "http://wiki.leapspecs.org/2A/categories/"
XHTML = "http://www.w3.org/1999/xhtml"
LEAP2A_VERSION = "http://www.leapspecs.org/2010-07/2A/"
LEAP2A_NAME = "leap2a.xml"


def build_leap2a(snapshot: Snapshot) -> bytes:
    """The portfolio as a Leap2A feed, the format Mahara imports portfolios in: a journal
    (a `selection` of type Blog) with one post per piece of evidence (its description,
    details, competences as tags, self-checks and STARR reflection, the voice notes and the
    file attached), a post per other reflection, and every file as a `resource` whose
    content is the file in the ZIP. `leap2a.xml` sits at the root of portfolio.zip, beside
    `attachments/`, so the ZIP itself can be imported into Mahara."""
    nl = Translator("nl")
    updated = snapshot.generated_at.isoformat()
    # Names are written as Mahara's own export writes them (prefixes declared on the feed,
    # CURIEs like `leap2:entry` in attributes), so ElementTree gets them literally.
    feed = ET.Element(
        "feed",
        {
            "xmlns": ATOM,
            "xmlns:rdf": RDF,
            "xmlns:leap2": LEAP2,
            "xmlns:categories": LEAP2_CATEGORIES,
            "xml:lang": "nl",
        },
    )
    ET.SubElement(feed, "leap2:version").text = LEAP2A_VERSION
    _text(feed, "id", f"urn:opstap:portfolio:{safe_name(snapshot.name)}:{updated}")
    _text(feed, "title", f"EVC-portfolio {snapshot.name}")
    _text(feed, "updated", updated)
    author = ET.SubElement(feed, "author")
    _text(author, "name", snapshot.name)
    _text(feed, "generator", "Opstap")

    posts: list[str] = []
    files: dict[str, tuple[str, Upload]] = {}
    bodies: list[ET.Element] = []

    def xhtml(entry: ET.Element) -> ET.Element:
        """The entry's content as XHTML, in the one form Mahara reads: a `div` that declares
        the XHTML namespace itself. It is written on its own and put in place at the end."""
        holder = ET.SubElement(entry, "content", {"type": "xhtml"})
        holder.text = f"@@opstap-xhtml-{len(bodies)}@@"
        bodies.append(ET.Element("div", {"xmlns": XHTML}))
        return bodies[-1]

    def file_entry(name: str, upload: Upload) -> str:
        entry_id = f"opstap:file:{safe_name(name.removeprefix('attachments/'))}"
        files.setdefault(entry_id, (name, upload))
        return entry_id

    for piece in snapshot.pieces:
        evidence = piece.evidence
        entry_id = f"opstap:evidence:{evidence.number}"
        posts.append(entry_id)
        attachments = []
        if piece.upload is not None and piece.attachment_name:
            attachments.append(file_entry(piece.attachment_name, piece.upload))
        if recording := piece.description_recording:
            attachments.append(file_entry(recording.name, recording.upload))
        if piece.reflection is not None:
            attachments += [
                file_entry(n, u) for n, u in _step_files(piece.reflection, snapshot.uploads)
            ]
        entry = _entry(
            feed,
            entry_id,
            nl._("Evidence {number}", number=evidence.number) + f": {evidence.title}",
            updated=evidence.updated_at.isoformat(),
            published=evidence.created_at.isoformat(),
            kind="entry",
        )
        body = xhtml(entry)
        for label, value in (
            (N_("Type"), str(content().type(evidence.kind).name.nl)),
            (N_("Period"), show_period(evidence.period_start, evidence.period_end)),
            (N_("Organisation"), evidence.organisation or ""),
            (N_("Role"), evidence.role or ""),
            (N_("Link"), evidence.url or ""),
        ):
            if value:
                _html(body, "p", f"{nl._(label)}: {value}")
        _html(body, "h3", nl._("Description"))
        for text in (evidence.description, evidence.text):
            if text:
                _html(body, "p", text)
        _html(body, "h3", nl._("Competences"))
        listing = _html(body, "ul")
        for competence_id in evidence.competences:
            competence = framework().competence(str(competence_id))
            _html(listing, "li", competence.text.nl)
        _html(body, "h3", nl._("Self-check against the quality criteria"))
        checks = _html(body, "ul")
        for criterion in content().criteria:
            answer = evidence.checks.get(criterion.id)
            shown = nl._(ANSWERS[answer]) if answer in ANSWERS else "-"
            _html(checks, "li", f"{criterion.name.nl}: {shown}")
        if piece.reflection is not None:
            _html(body, "h3", nl._("STARR reflection"))
            _starr_html(body, nl, piece.reflection, snapshot.uploads)
        _tags(entry, [str(c) for c in evidence.competences])
        for attached in attachments:
            ET.SubElement(entry, "link", {"rel": "leap2:has_attachment", "href": attached})
        ET.SubElement(entry, "link", {"rel": "leap2:is_part_of", "href": "opstap:journal"})

    for reflection in snapshot.reflections:
        entry_id = f"opstap:reflection:{reflection.id}"
        posts.append(entry_id)
        entry = _entry(
            feed,
            entry_id,
            reflection.title or nl._("STARR reflection"),
            updated=reflection.updated_at.isoformat(),
            published=reflection.created_at.isoformat(),
            kind="entry",
        )
        _starr_html(xhtml(entry), nl, reflection, snapshot.uploads)
        _tags(entry, [str(c) for c in reflection.competences])
        for name, upload in _step_files(reflection, snapshot.uploads):
            ET.SubElement(
                entry,
                "link",
                {"rel": "leap2:has_attachment", "href": file_entry(name, upload)},
            )
        ET.SubElement(entry, "link", {"rel": "leap2:is_part_of", "href": "opstap:journal"})

    journal = _entry(
        feed,
        "opstap:journal",
        nl._("Portfolio: EVC (recognition of what you learned before)"),
        updated=updated,
        kind="selection",
    )
    ET.SubElement(
        journal,
        "category",
        {"scheme": "categories:selection_type#", "term": "Blog"},
    )
    _text(journal, "content", f"EVC-portfolio {snapshot.name}", type="text")
    for post in posts:
        ET.SubElement(journal, "link", {"rel": "leap2:has_part", "href": post})

    for entry_id, (name, upload) in files.items():
        entry = _entry(
            feed, entry_id, name.removeprefix("attachments/"), updated=updated, kind="resource"
        )
        ET.SubElement(entry, "content", {"type": upload.mime_type, "src": name})

    xml = ET.tostring(feed, encoding="unicode")
    for index, body in enumerate(bodies):
        div = ET.tostring(body, encoding="unicode")
        xml = xml.replace(f"@@opstap-xhtml-{index}@@", div, 1)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + xml + "\n").encode("utf-8")


def _text(parent: ET.Element, tag: str, value: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    element.text = value
    return element


def _entry(
    feed: ET.Element,
    entry_id: str,
    title: str,
    *,
    updated: str,
    kind: str,
    published: str | None = None,
) -> ET.Element:
    entry = ET.SubElement(feed, "entry")
    _text(entry, "id", entry_id)
    _text(entry, "title", title)
    _text(entry, "updated", updated)
    if published:
        _text(entry, "published", published)
    ET.SubElement(entry, "rdf:type", {"rdf:resource": f"leap2:{kind}"})
    return entry


def _html(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = text
        if right_to_left(text):
            element.set("dir", "rtl")
    return element


def _tags(entry: ET.Element, competence_ids: list[str]) -> None:
    """Competences and their themes as tags (categories without a scheme, as Mahara reads
    them), with the numbers of the framework (as in the .matrix)."""
    seen: set[str] = set()
    for competence_id in competence_ids:
        competence = framework().competence(competence_id)
        theme = framework().theme(competence.theme_id)
        number = framework().number(theme.id)
        index = [c.id for c in theme.competences].index(competence.id) + 1
        for term, label in (
            (theme.id, str(theme.name.nl)),
            (competence.id, f"{number}.{index} {competence.text.nl}"[:128]),
        ):
            if term not in seen:
                seen.add(term)
                ET.SubElement(entry, "category", {"term": term, "label": label})


def _starr_html(
    body: ET.Element, nl: Translator, reflection: Reflection, uploads: dict[int, Upload]
) -> None:
    for step in steps(reflection, uploads):
        _html(body, "h4", nl._(step.source))
        if step.empty:
            _html(body, "p", "-")
        if step.voice is not None:
            _voice_html(body, nl, step.voice)
        if step.text:
            _html(body, "p", step.text)
        if step.followup or step.followup_voice:
            _html(body, "p", nl._("More, after a follow-up question") + ":")
        if step.followup:
            _html(body, "p", step.followup)
        if step.followup_voice is not None:
            _voice_html(body, nl, step.followup_voice)


def _voice_html(body: ET.Element, nl: Translator, recording: Recording) -> None:
    length = duration_text(recording.upload.duration)
    _html(body, "p", f"{nl._('Voice note ({duration})', duration=length)}: {recording.file}")
    if recording.upload.transcript:
        note = transcript_note(recording.upload)
        _html(body, "p", f"{nl._(note)}: {recording.upload.transcript}")


# -- the framework for Mahara and Moodle -------------------------------------------------
def mahara_matrix() -> dict[str, Any]:
    """The six themes and their competences as a Mahara SmartEvidence framework (.matrix)."""
    standards = []
    elements = []
    element_id = 0
    for number, theme in enumerate(framework().themes, start=1):
        standards.append(
            {
                "shortname": str(number),
                "name": theme.name.nl,
                "description": theme.description.nl,
                "standardid": number,
            }
        )
        for index, competence in enumerate(theme.competences, start=1):
            element_id += 1
            elements.append(
                {
                    "shortname": f"{number}.{index}",
                    "name": competence.text.nl[:255],
                    "description": competence.text.nl,
                    "standardid": number,
                    "elementid": element_id,
                }
            )
    return {
        "framework": {
            "institution": "all",
            "name": "Opstap EVC: sociaal werk",
            "description": (
                "Competentiekader van het GE-START | EN-AVANT traject (Odisee): zes thema's, "
                "niveaus beginner, doorstroom en uitstroom."
            ),
            "selfassess": True,
            # A list of one-key objects: Mahara's Framework::commit() reads the statuses only
            # from an array (json_decode makes an object of a JSON object, and then it falls
            # back to its own labels), as in its own matrices/nace_usa.matrix.
            "evidencestatuses": [
                {"begun": "Klaar voor beoordeling"},
                {"incomplete": "Nog niet aangetoond"},
                {"partialcomplete": "Gedeeltelijk aangetoond"},
                {"completed": "Aangetoond"},
            ],
            "standards": standards,
            "standardelements": elements,
        }
    }


def _csv_field(value: str) -> str:
    """A CSV field quoted the way Moodle writes its export: when it holds a space, a comma,
    a quote or a line break."""
    if any(ch in value for ch in ' ,"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


def moodle_csv() -> str:
    """The framework in the CSV format of Moodle's competency framework import."""
    levels = ",".join(LEVELS)
    configuration = json.dumps(
        [{"scaleid": "0"}]
        + [
            {"id": i, "scaledefault": 1 if i == 1 else 0, "proficient": 1 if i == 3 else 0}
            for i in range(1, len(LEVELS) + 1)
        ],
        separators=(",", ":"),
    )
    rows: list[tuple[str, ...]] = [MOODLE_HEADER]
    rows.append(
        (
            "",
            FRAMEWORK_ID,
            "Opstap EVC: sociaal werk",
            html.escape("Competentiekader van het GE-START | EN-AVANT traject (Odisee)."),
            "1",
            levels,
            configuration,
            "",
            "",
            "",
            "",
            "1",
            "1",
            "domain,competency",
        )
    )
    exported = 1
    for theme in framework().themes:
        exported += 1
        rows.append(
            (
                "",
                theme.id,
                theme.name.nl,
                html.escape(theme.description.nl),
                "1",
                "",
                "",
                "",
                "",
                "",
                "",
                str(exported),
                "0",
                "",
            )
        )
        for competence in theme.competences:
            exported += 1
            rows.append(
                (
                    theme.id,
                    competence.id,
                    competence.text.nl[:100],
                    html.escape(competence.text.nl),
                    "1",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    str(exported),
                    "0",
                    "",
                )
            )
    return "".join(",".join(_csv_field(v) for v in row) + "\r\n" for row in rows)


def language_name(language: str) -> str:
    """A language named in itself."""
    return LANGUAGES.get(language, language)
