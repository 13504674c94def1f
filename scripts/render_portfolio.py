"""Renders a sample bilingual portfolio (Dutch and Arabic) to PNG pages, to look at.

    .venv/bin/python scripts/render_portfolio.py [OUT_DIR] [--language ar]

Builds the DOCX exactly as /export does (flows/portfolio_export.py) from a made-up learner:
a CV line, a photo piece with a description and a STARR reflection with a voice note and its
transcript, and a left-out piece. LibreOffice turns it into a PDF (flows/pdf.py) and poppler's
`pdftoppm` into one PNG per page. Check by eye: Dutch paragraphs run left to right, Arabic ones
right to left, file names are not scrambled, and "Left out: ..." is on the first page.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows.pdf import docx_to_pdf
from flows.portfolio_export import Piece, Snapshot, build_docx
from storage.models import CvEntry, Evidence, Reflection, Upload

NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
SAMPLES = {
    "ar": {
        "name": "سميرة العمراني (Samira El Amrani)",
        "title": "ركن القراءة في الحضانة",
        "description": "صنعت ركنا للقراءة مع زميلتي. أقرأ فيه كل صباح.",
        "situation": "كان الأطفال لا يهدؤون في الصباح.",
        "task": "كان علي أن أجد نشاطا هادئا.",
        "followup": "تحدثت مع المسؤولة أولا.",
        "result": "الأطفال الآن يجلسون ويستمعون.",
        "reflection": "سأطلب المساعدة أبكر في المرة القادمة.",
        "transcript": "ثم رتبت الكتب مع الأطفال ووضعت وسائد على الأرض.",
    },
}


def sample(language: str, folder: Path) -> tuple[Snapshot, dict[int, Path]]:
    """A made-up learner's portfolio in their language, with the files it points to."""
    words = SAMPLES[language]
    photo_path = folder / "photo.jpg"
    Image.new("RGB", (640, 480), (200, 170, 120)).save(photo_path, format="JPEG")
    voice_path = folder / "voice.ogg"
    voice_path.write_bytes(
        (Path(__file__).resolve().parent.parent / "tests/fixtures/voice-nl-5s.ogg").read_bytes()
    )
    photo = Upload(
        owner_id=1,
        kind="photo",
        relpath="photo.jpg",
        sha256="a" * 64,
        size=photo_path.stat().st_size,
        mime_type="image/jpeg",
    )
    voice = Upload(
        owner_id=1,
        kind="voice",
        relpath="voice.ogg",
        sha256="b" * 64,
        size=voice_path.stat().st_size,
        mime_type="audio/ogg",
        duration=83,
        transcript=words["transcript"],
        transcript_checked=True,
        transcript_corrected=True,
    )
    photo.id, voice.id = 1, 2
    reflection = Reflection(
        learner_id=1,
        status="done",
        title=words["title"],
        situation=words["situation"],
        task=words["task"],
        result=words["result"],
        reflection=words["reflection"],
        extra={"voice": {"action": voice.id}, "followups": {"task": words["followup"]}},
        themes=["guiding", "communication"],
        competences=["guiding.individuals", "communication.adapt"],
        created_at=NOW,
    )
    reflection.id = 1
    evidence = Evidence(
        learner_id=1,
        number=1,
        kind="photo",
        media="photo",
        title=words["title"],
        upload_id=photo.id,
        description=words["description"],
        period_start="2025-09",
        organisation="Kinderdagverblijf De Vlinder",
        role="kinderbegeleider",
        themes=["guiding"],
        competences=["guiding.individuals"],
        checks={"authentic": "yes", "current": "yes", "relevant": "yes"},
        privacy_confirmed=True,
        reflection_id=reflection.id,
        language=language,
        created_at=NOW,
    )
    evidence.id = 1
    cv = CvEntry(
        learner_id=1, kind="work", organisation="De Vlinder", role="Kinderbegeleider", start="2019"
    )
    snapshot = Snapshot(
        name=words["name"],
        language=language,
        generated_at=NOW,
        cv=[cv],
        pieces=[Piece(evidence=evidence, reflection=reflection, upload=photo)],
        reflections=[],
        left_out=[2],
        uploads={voice.id: voice},
    )
    return snapshot, {photo.id: photo_path, voice.id: voice_path}


def render(out: Path, *, language: str = "ar", resolution: int = 70) -> list[Path]:
    """Writes portfolio.docx, portfolio.pdf and page-N.png into `out`; returns the PNGs."""
    out.mkdir(parents=True, exist_ok=True)
    snapshot, paths = sample(language, out)
    docx = build_docx(snapshot, bilingual=True, attachment=lambda upload: paths[upload.id])
    (out / "portfolio.docx").write_bytes(docx)
    pdf = docx_to_pdf(docx)
    if pdf is None:
        raise SystemExit("LibreOffice could not make a PDF (see the log line above)")
    (out / "portfolio.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", str(resolution), "-png", str(out / "portfolio.pdf"), str(out / "page")],
        check=True,
    )
    return sorted(out.glob("page-*.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=Path("render"))
    parser.add_argument("--language", default="ar", choices=sorted(SAMPLES))
    arguments = parser.parse_args()
    for page in render(arguments.out, language=arguments.language):
        print(page)


if __name__ == "__main__":
    main()
