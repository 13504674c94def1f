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
RTL_CHARS = re.compile(r"[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")


@dataclass(frozen=True)
class Piece:
    """A piece of evidence with what belongs to it."""

    evidence: Evidence
    reflection: Reflection | None = None
    upload: Upload | None = None
    feedback: tuple[Feedback, ...] = ()

    @property
    def attachment_name(self) -> str | None:
        """Its file's name in the ZIP: number and title, sanitised, and the stored suffix."""
        if self.upload is None:
            return None
        suffix = Path(self.upload.relpath).suffix
        return f"attachments/{self.evidence.number:02d}-{safe_name(self.evidence.title)}{suffix}"


@dataclass(frozen=True)
class Snapshot:
    """Everything that goes into an export, read once."""

    name: str
    language: str
    generated_at: datetime
    cv: list[CvEntry]
    pieces: list[Piece]
    reflections: list[Reflection]
    #: Evidence numbers left out because client details are not confirmed removed.
    left_out: list[int] = field(default_factory=list)


def safe_name(text: str, *, limit: int = 60) -> str:
    """A file name part from user text: letters and digits of any script, joined by dashes."""
    normal = unicodedata.normalize("NFKC", text)
    cleaned = "".join(ch if ch.isalnum() else "-" for ch in normal)
    cleaned = re.sub(r"-{2,}", "-", cleaned).strip("-")[:limit].strip("-")
    return cleaned or "bewijsstuk"


# -- headings --------------------------------------------------------------------------
class Headings:
    """Headings in Dutch, and also in the learner's language when they want that."""

    def __init__(self, language: str, *, bilingual: bool) -> None:
        self.nl = Translator("nl")
        self.own = Translator(language) if bilingual and language != "nl" else None

    def __call__(self, source: str) -> str:
        dutch = self.nl._(source)
        if self.own is None:
            return dutch
        return f"{dutch} / {self.own._(source)}"

    def numbered(self, source: str, number: int) -> str:
        """A heading with a number, like "Bewijsstuk 3 / Kanıt 3"."""
        dutch = f"{self.nl._(source)} {number}"
        if self.own is None:
            return dutch
        return f"{dutch} / {self.own._(source)} {self.own.number(number)}"

    def text(self, texts: Any) -> str:
        """A content text (competence, type) in Dutch, and in the learner's language."""
        dutch = str(texts.get("nl"))
        if self.own is None:
            return dutch
        return f"{dutch} / {texts.get(self.own.language)}"


# -- DOCX ------------------------------------------------------------------------------
def _direction(paragraph: Any, text: str) -> None:
    """Marks a paragraph right-to-left when its text is Arabic (or Hebrew)."""
    if RTL_CHARS.search(text):
        properties = paragraph._p.get_or_add_pPr()
        properties.append(OxmlElement("w:bidi"))
        for run in paragraph.runs:
            run_properties = run._r.get_or_add_rPr()
            run_properties.append(OxmlElement("w:rtl"))


def _paragraph(container: Any, text: str, *, style: str | None = None, label: str = "") -> None:
    paragraph = container.add_paragraph(style=style)
    if label:
        paragraph.add_run(f"{label}: ").bold = True
    paragraph.add_run(text)
    _direction(paragraph, text)


def build_docx(
    snapshot: Snapshot,
    *,
    bilingual: bool,
    attachment: Callable[[Upload], Path] | None = None,
) -> bytes:
    """The portfolio in the Dutch EVC structure: CV, then each piece of evidence with its
    description, competences, STARR reflection and self-checks. The learner's own words stay
    as they wrote them. With `attachment` (where an upload's file is), photos are shown too."""
    h = Headings(snapshot.language, bilingual=bilingual)
    pictures = _Pictures(attachment)
    document = Document()
    document.core_properties.title = f"Portfolio {snapshot.name}"
    document.core_properties.language = "nl-BE"
    document.add_heading(h(N_("EVC portfolio")), level=0)
    _paragraph(document, snapshot.name, label=h(N_("Name")))
    _paragraph(document, snapshot.generated_at.date().isoformat(), label=h(N_("Made on")))

    document.add_heading(h(N_("Curriculum vitae")), level=1)
    if snapshot.cv:
        table = document.add_table(rows=1, cols=5)
        table.style = "Table Grid"
        for cell, source in zip(
            table.rows[0].cells,
            (N_("Kind"), N_("Organisation"), N_("Role"), N_("From"), N_("To")),
            strict=True,
        ):
            cell.text = h(source)
        for entry in snapshot.cv:
            cells = table.add_row().cells
            values = (
                h(CV_KINDS.get(entry.kind, entry.kind)),
                entry.organisation,
                entry.role,
                show_period(entry.start, None),
                show_period(entry.end, None) if entry.end else h(N_("now")),
            )
            for cell, value in zip(cells, values, strict=True):
                cell.text = value
                _direction(cell.paragraphs[0], value)
    else:
        _paragraph(document, h(N_("No CV lines yet.")))

    document.add_heading(h(N_("Pieces of evidence")), level=1)
    for piece in snapshot.pieces:
        _piece(document, piece, h, pictures)
    if snapshot.left_out:
        _paragraph(
            document,
            ", ".join(str(n) for n in snapshot.left_out),
            label=h(N_("Left out until client details are removed")),
        )

    linked = {p.reflection.id for p in snapshot.pieces if p.reflection is not None}
    others = [r for r in snapshot.reflections if r.id not in linked]
    if others:
        document.add_heading(h(N_("Other reflections")), level=1)
        for reflection in others:
            document.add_heading(reflection.title or "-", level=3)
            _starr(document, reflection, h)

    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


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


def _piece(document: Any, piece: Piece, h: Headings, pictures: _Pictures) -> None:
    evidence = piece.evidence
    document.add_heading(
        f"{h.numbered(N_('Evidence'), evidence.number)}: {evidence.title}", level=2
    )
    kind = content().type(evidence.kind)
    _paragraph(document, h.text(kind.name), label=h(N_("Type")))
    _paragraph(
        document,
        show_period(evidence.period_start, evidence.period_end),
        label=h(N_("Period")),
    )
    if evidence.organisation:
        _paragraph(document, evidence.organisation, label=h(N_("Organisation")))
    if evidence.role:
        _paragraph(document, evidence.role, label=h(N_("Role")))
    if piece.attachment_name:
        _paragraph(document, piece.attachment_name, label=h(N_("Attachment")))
        pictures.add(document, piece.upload)
    if evidence.url:
        _paragraph(document, evidence.url, label=h(N_("Link")))
    document.add_heading(h(N_("Description")), level=3)
    _paragraph(document, evidence.text or evidence.title)

    document.add_heading(h(N_("Competences")), level=3)
    for competence_id in evidence.competences:
        competence = framework().competence(competence_id)
        theme = framework().theme(competence.theme_id)
        _paragraph(
            document,
            f"{h.text(theme.name)}: {h.text(competence.text)}",
            style="List Bullet",
        )

    document.add_heading(h(N_("STARR reflection")), level=3)
    if piece.reflection is not None:
        _starr(document, piece.reflection, h)
    else:
        _paragraph(document, h(N_("No reflection linked yet.")))

    document.add_heading(h(N_("Self-check against the quality criteria")), level=3)
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for criterion in content().criteria:
        cells = table.add_row().cells
        cells[0].text = f"{h.text(criterion.name)} \u2014 {h.text(criterion.question)}"
        answer = evidence.checks.get(criterion.id)
        cells[1].text = h(ANSWERS[answer]) if answer in ANSWERS else "-"
    if evidence.privacy_confirmed is not None:
        _paragraph(
            document,
            h(N_("yes")) if evidence.privacy_confirmed else h(N_("no")),
            label=h(N_("Names and details of clients removed")),
        )
    if piece.feedback:
        document.add_heading(h(N_("Feedback from the coach")), level=3)
        for note in piece.feedback:
            _paragraph(document, note.text or "", label=note.created_at.date().isoformat())


def _starr(document: Any, reflection: Reflection, h: Headings) -> None:
    for column, source in STARR:
        value = getattr(reflection, column) or "-"
        _paragraph(document, value, label=h(source))


# -- JSON --------------------------------------------------------------------------------
def build_json(snapshot: Snapshot) -> dict[str, Any]:
    """The portfolio as data, valid against `portfolio.schema.json`."""

    def reflection_data(reflection: Reflection) -> dict[str, Any]:
        return {
            "id": reflection.id,
            "title": reflection.title,
            "language": reflection.language,
            **{column: getattr(reflection, column) for column, _ in STARR},
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
    pieces: list[Piece],
    attachment: Callable[[Upload], Path],
    limit: int = TELEGRAM_LIMIT,
) -> Iterator[bytes]:
    """The ZIP, in parts of at most `limit` bytes: the first holds the DOCX, the JSON and
    its schema; attachments fill the parts in order. Each part is a complete ZIP."""
    files = []
    for piece in pieces:
        if piece.upload is not None and attachment(piece.upload).exists():
            assert piece.attachment_name is not None
            files.append((piece.attachment_name, attachment(piece.upload)))
    fixed = [
        ("portfolio.docx", docx),
        ("portfolio.json", data),
        ("portfolio.schema.json", SCHEMA_PATH.read_bytes()),
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
                    "parentid": None,
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
            "evidencestatuses": {
                "begun": "Klaar voor beoordeling",
                "incomplete": "Nog niet aangetoond",
                "partialcomplete": "Gedeeltelijk aangetoond",
                "completed": "Aangetoond",
            },
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
