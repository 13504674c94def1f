"""/portfolio and /export on the fake unit of work: coverage, warnings, CV, and every export
file opened and checked (python-docx, jsonschema, the Mahara and Moodle formats)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from docx import Document

from flows.engine import Event
from flows.evidence_content import parse_period, warnings
from flows.export import ExportFlow
from flows.messages import Reply
from flows.portfolio_export import MOODLE_HEADER, schema
from storage.models import CvEntry, Evidence, Reflection, Upload
from tests.fakes import ChatDriver, FakeUnitOfWork, fake_engine

NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
MOODLE_LINE = (
    '"Parent id number","Id number",Shortname,Description,"Description format",'
    '"Scale values","Scale configuration","Rule type (optional)","Rule outcome (optional)",'
    '"Rule config (optional)","Cross referenced competency id numbers",'
    '"Exported id (optional)","Is framework",Taxonomy'
)


async def learner(tmp_path: Path, language: str = "en") -> tuple[ChatDriver, FakeUnitOfWork]:
    engine, uow = fake_engine(tmp_path)
    chat = ChatDriver(engine, language=language)
    await chat.command("start")
    await chat.press(chat.last[-1].buttons[0][0].label)
    await chat.text("Samira")
    return chat, uow


def piece(number: int, **fields: object) -> Evidence:
    values: dict[str, object] = {
        "learner_id": 1,
        "number": number,
        "kind": "project",
        "media": "text",
        "title": f"Piece {number}",
        "organisation": "De Buurt vzw",
        "role": "volunteer",
        "period_start": "2025-03",
        "competences": ["social_map.purpose"],
        "themes": ["social_map"],
        "checks": {"authentic": "yes"},
        "created_at": NOW,
    }
    values.update(fields)
    return Evidence(**values)  # type: ignore[arg-type]


def test_warnings_are_computed_from_the_data() -> None:
    pieces = [
        piece(1, period_start="2018-01", period_end="2019-06"),
        piece(2, kind="case_discussion", privacy_confirmed=False),
    ]
    kinds = [w.kind for w in warnings(pieces, [], now=NOW)]
    assert kinds[:3] == ["privacy", "old", "one_context"]
    assert kinds.count("theme_empty") == 5
    assert "thin_competence" not in kinds  # two pieces show social_map.purpose
    pieces.append(
        piece(
            3,
            organisation="Huis van het Kind",
            competences=["planning.overview"],
            themes=["planning"],
        )
    )
    found = warnings(pieces, [], now=NOW)
    assert "one_context" not in [w.kind for w in found]
    (thin,) = [w for w in found if w.kind == "thin_competence"]
    assert (thin.competence_id, thin.pieces) == ("planning.overview", (3,))
    assert parse_period("2021-2024", now=NOW) == ("2021", "2024")


async def test_overview_cv_and_chart(tmp_path: Path) -> None:
    chat, uow = await learner(tmp_path)
    await uow.evidence.add(piece(1, learner_id=1))
    await uow.reflections.add(
        Reflection(learner_id=1, status="done", themes=["communication"], title="R")
    )
    await chat.command("portfolio")
    chart, overview = chat.last[0], chat.last[1]
    assert chart.file is not None and chart.file.kind == "photo" and chart.file.path.exists()
    assert chart.file.path.is_relative_to(tmp_path / "data" / "charts")
    assert "1. Social map and organisation: 1 / 0" in overview.text
    assert "4. Communication: 0 / 1" in overview.text
    assert "Theme 2 (Guiding individuals and groups) has no evidence yet" in overview.text
    assert "Only piece 1 shows" in overview.text
    await chat.press("My CV")
    assert "Nothing yet." in chat.said
    await chat.press("Add a line")
    await chat.press("Work")
    await chat.text("Kinderdagverblijf Zonnetje")
    await chat.text("kinderbegeleider")
    await chat.text("09/2019")
    await chat.press("It still goes on")
    assert "Added to your CV." in chat.said
    assert "Work: kinderbegeleider, Kinderdagverblijf Zonnetje (09/2019 - now)" in chat.said
    await chat.press("Add a line")
    await chat.press("Training")
    await chat.press("Kinderdagverblijf Zonnetje")
    await chat.text("EHBO")
    await chat.text("2024")
    await chat.text("2023")
    assert "end is before the start" in chat.said
    await chat.text("2024")
    assert [e.role for e in uow.cv.rows] == ["kinderbegeleider", "EHBO"]
    await chat.press("Remove a line")
    assert "1. EHBO, Kinderdagverblijf Zonnetje" in chat.said  # the latest start comes first
    await chat.press("1")
    assert "Removed from your CV." in chat.said and "EHBO" not in chat.last[-1].text
    assert [e.role for e in uow.cv.rows] == ["kinderbegeleider"]


async def add_portfolio(uow: FakeUnitOfWork, tmp_path: Path, user_id: int) -> None:
    store = tmp_path / "data" / "uploads"
    store.mkdir(parents=True, exist_ok=True)
    (store / "a.pdf").write_bytes(b"%PDF-1.7 report" + b"x" * 30_000)
    (store / "b.jpg").write_bytes(b"\xff\xd8\xff" + b"y" * 30_000)
    upload_a = await uow.uploads.add(
        Upload(
            owner_id=user_id,
            kind="document",
            relpath="uploads/a.pdf",
            sha256="a" * 64,
            size=30_015,
            mime_type="application/pdf",
        )
    )
    upload_b = await uow.uploads.add(
        Upload(
            owner_id=user_id,
            kind="photo",
            relpath="uploads/b.jpg",
            sha256="b" * 64,
            size=30_003,
            mime_type="image/jpeg",
        )
    )
    reflection = await uow.reflections.add(
        Reflection(
            learner_id=user_id,
            status="done",
            title="Vergadering",
            situation="كان الاجتماع صعبا.",
            task="Görevim toplantıyı yönetmekti.",
            action="Ik maakte een agenda.",
            result="Iedereen sprak.",
            reflection="Volgende keer start ik op tijd.",
            language="ar",
        )
    )
    await uow.evidence.add(
        piece(
            1,
            learner_id=user_id,
            upload_id=upload_a.id,
            media="document",
            title="Rapport: ons leesproject / 2025",
            reflection_id=reflection.id,
        )
    )
    await uow.evidence.add(
        piece(
            2,
            learner_id=user_id,
            upload_id=upload_b.id,
            media="photo",
            title="مشروع القراءة في الحي",
            text="صورة من نشاط القراءة مع الأطفال.",
            organisation="Huis van het Kind",
            competences=["planning.overview"],
            themes=["planning"],
        )
    )
    await uow.evidence.add(
        piece(
            3,
            learner_id=user_id,
            title="Toplantı notları",
            text="Ekip toplantısını ben yönettim.",
            url="https://example.org/x",
        )
    )
    await uow.evidence.add(
        piece(
            4,
            learner_id=user_id,
            kind="case_discussion",
            title="Casus gezin",
            privacy_confirmed=False,
        )
    )
    await uow.cv.add(
        CvEntry(
            learner_id=user_id,
            kind="work",
            organisation="De Buurt vzw",
            role="begeleider",
            start="2019-09",
        )
    )


async def test_an_export_cut_off_after_its_commit_keeps_a_word_in_place_of_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files are built after the transaction (no lock held), so the replies it keeps for
    a crash (sent at the next start, bot/inbox.py) cannot hold them: in their place they
    hold a note to send /export again, in the learner's language, where the files would go.
    When the build finishes, the learner gets the files and not that note."""
    chat, uow = await learner(tmp_path, language="nl")
    await add_portfolio(uow, tmp_path, 1)
    building = asyncio.Event()
    build = ExportFlow.build

    async def cut_off(*args: object, **kwargs: object) -> list[Reply]:
        building.set()
        await asyncio.Event().wait()  # the process dies here
        return []

    monkeypatch.setattr(ExportFlow, "build", cut_off)
    await chat.command("export")
    handling = asyncio.create_task(
        chat.engine.handle(
            channel=chat.channel,
            external_id=chat.user,
            event=Event(kind="button", value=chat.button("Samira").data),
            update_id=77,
        )
    )
    await asyncio.wait_for(building.wait(), timeout=10)
    handling.cancel()
    kept = [Reply.of_data(data) for data in uow.updates.kept[77]["replies"]]
    lost = "Ik werd onderbroken terwijl ik je portfolio samenstelde. Stuur /export opnieuw."
    texts = [reply.text for reply in kept]
    assert texts[0].startswith("Ik stel je portfolio samen")
    assert texts[1] == lost  # where the DOCX and the ZIP go
    assert [r.file.file_name for r in kept if r.file] == [
        "opstap-evc.matrix",
        "opstap-evc-moodle.csv",
    ]

    monkeypatch.setattr(ExportFlow, "build", build)
    await chat.command("export")
    assert [r.file.file_name for r in chat.last if r.file][:2] == [
        "portfolio.docx",
        "portfolio.zip",
    ]
    assert lost not in chat.said


async def test_export_files_hold_every_piece_in_the_learners_words(tmp_path: Path) -> None:
    chat, uow = await learner(tmp_path, language="tr")
    user_id = (
        uow.users.rows[0].id
        if hasattr(uow.users.rows, "__getitem__") and 0 in uow.users.rows
        else 1
    )
    await add_portfolio(uow, tmp_path, user_id)
    await chat.command("export")
    await chat.press("Samira")  # the name on the portfolio, asked once
    await chat.press("Felemenkçe ve Türkçe")
    files = [r for r in chat.last if r.file is not None]
    assert chat.last[0].text.startswith("Portfolyonu hazırlıyorum")
    names = [r.file.file_name for r in files if r.file]
    assert names == [
        "portfolio.docx",
        "portfolio.zip",
        "opstap-evc.matrix",
        "opstap-evc-moodle.csv",
    ]
    for reply in files:
        assert reply.file is not None and reply.file.kind == "document"
        assert reply.file.path.is_relative_to(tmp_path / "data" / "exports")
        assert reply.file.path.name != reply.file.file_name
    assert "4" in chat.last[-3].text  # the case without confirmed privacy is left out

    document = Document(str(files[0].file.path))  # type: ignore[union-attr]
    text = "\n".join(p.text for p in document.paragraphs)
    tables = "\n".join(c.text for t in document.tables for r in t.rows for c in r.cells)
    for title in ("Rapport: ons leesproject / 2025", "مشروع القراءة في الحي", "Toplantı notları"):
        assert title in text
    assert "Casus gezin" not in text
    assert "كان الاجتماع صعبا." in text and "Görevim toplantıyı yönetmekti." in text
    assert "Ekip toplantısını ben yönettim." in text
    assert "Bewijsstukken / " in text and "STARR-reflectie / " in text
    assert "Situatie / " in text
    assert "Authentiek — " in tables and "Özgün — " in tables and "begeleider" in tables
    rtl = next(p for p in document.paragraphs if "صورة من نشاط" in p.text)
    assert (
        rtl._p.pPr.find("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}bidi")
        is not None
    )

    with zipfile.ZipFile(files[1].file.path) as archive:  # type: ignore[union-attr]
        listed = archive.namelist()
        data = json.loads(archive.read("portfolio.json"))
        assert archive.read("attachments/01-Rapport-ons-leesproject-2025.pdf").startswith(b"%PDF")
    assert sorted(listed) == sorted(
        [
            "portfolio.docx",
            "portfolio.json",
            "portfolio.schema.json",
            "leap2a.xml",
            "attachments/01-Rapport-ons-leesproject-2025.pdf",
            "attachments/02-bewijsstuk.jpg",
        ]
    )
    jsonschema.validate(data, schema(), format_checker=jsonschema.FormatChecker())
    assert [p["number"] for p in data["evidence"]] == [1, 2, 3]
    assert data["left_out"] == [4]
    assert data["evidence"][1]["title"] == "مشروع القراءة في الحي"
    assert data["evidence"][0]["reflection"]["situation"] == "كان الاجتماع صعبا."
    broken = {**data, "evidence": [{**data["evidence"][0], "media": "fax"}]}
    try:
        jsonschema.validate(broken, schema())
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("schema accepted a wrong media type")

    matrix = json.loads(files[2].file.path.read_text("utf-8"))  # type: ignore[union-attr]
    frame = matrix["framework"]
    assert set(matrix) == {"framework"}
    assert set(frame) == {
        "institution",
        "name",
        "description",
        "selfassess",
        "evidencestatuses",
        "standards",
        "standardelements",
    }
    assert len(frame["standards"]) == 6 and len(frame["standardelements"]) == 32
    assert all(
        set(s) == {"shortname", "name", "description", "standardid"} for s in frame["standards"]
    )
    assert all(
        set(e) == {"shortname", "name", "description", "standardid", "elementid"}
        for e in frame["standardelements"]
    )
    assert frame["standards"][5]["name"] == "Planning en organisatie"

    raw = files[3].file.path.read_text("utf-8")  # type: ignore[union-attr]
    assert raw.splitlines()[0] == MOODLE_LINE
    rows = list(csv.reader(io.StringIO(raw)))
    assert tuple(rows[0]) == MOODLE_HEADER
    framework_row = rows[1]
    assert framework_row[12] == "1" and framework_row[5] == "beginner,doorstroom,uitstroom"
    assert json.loads(framework_row[6])[0] == {"scaleid": "0"}
    assert len(rows) == 1 + 1 + 6 + 32
    themes = [r for r in rows[2:] if "." not in r[1]]
    competences = [r for r in rows[2:] if "." in r[1]]
    assert len(themes) == 6 and all(r[0] == "" for r in themes)
    assert len(competences) == 32 and all(r[0] == r[1].split(".")[0] for r in competences)
    assert all(len(r) == 14 for r in rows)


async def test_a_big_zip_is_split_into_parts(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    chat, uow = await learner(tmp_path)
    await add_portfolio(uow, tmp_path, 1)
    monkeypatch.setattr(ExportFlow, "limit", 80_000)
    await chat.command("export")
    await chat.press("Samira")
    await chat.press("Dutch only")
    await chat.command("export")
    await chat.press("Dutch only")
    kept = sorted(p.name for p in (tmp_path / "data" / "exports" / "u1").iterdir())
    assert kept == sorted(r.file.path.name for r in chat.last if r.file)  # earlier export gone
    zips = [r.file for r in chat.last if r.file and r.file.file_name.endswith(".zip")]  # type: ignore[union-attr]
    assert [z.file_name for z in zips] == ["portfolio-1of2.zip", "portfolio-2of2.zip"]  # type: ignore[union-attr]
    names: list[str] = []
    for part in zips:
        assert part is not None and part.path.stat().st_size <= 80_000
        with zipfile.ZipFile(part.path) as archive:
            names += archive.namelist()
    assert len([n for n in names if n.startswith("attachments/")]) == 2
    document = Document(str(chat.last[1].file.path))  # type: ignore[union-attr]
    headings = [p.text for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert "Bewijsstukken" in headings and "Curriculum vitae" in headings


async def test_photos_are_shown_in_the_docx(tmp_path: Path) -> None:
    from PIL import Image

    chat, uow = await learner(tmp_path)
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "teal").save(buffer, format="PNG")
    (tmp_path / "data" / "uploads").mkdir(parents=True)
    (tmp_path / "data" / "uploads" / "p.png").write_bytes(buffer.getvalue())
    (tmp_path / "data" / "uploads" / "broken.jpg").write_bytes(b"\xff\xd8\xff" + b"z" * 99)
    for number, (name, mime) in enumerate(
        [("p.png", "image/png"), ("broken.jpg", "image/jpeg")], start=1
    ):
        upload = await uow.uploads.add(
            Upload(
                owner_id=1,
                kind="photo",
                relpath=f"uploads/{name}",
                sha256=str(number) * 64,
                size=100,
                mime_type=mime,
            )
        )
        await uow.evidence.add(
            piece(number, upload_id=upload.id, media="photo", privacy_confirmed=True)
        )
    await chat.command("export")
    await chat.press("Samira")
    await chat.press("Dutch only")
    document = Document(str(chat.last[1].file.path))  # type: ignore[union-attr]
    assert len(document.inline_shapes) == 1  # the broken one is only in the ZIP
    empty = [p for p in document.paragraphs if not p.text and not p._p.xpath(".//w:drawing")]
    assert empty == []
    with zipfile.ZipFile(chat.last[2].file.path) as archive:  # type: ignore[union-attr]
        assert len([n for n in archive.namelist() if n.startswith("attachments/")]) == 2


# -- recordings, privacy, layout ---------------------------------------------------------
VOICE = (Path(__file__).parent.parent / "fixtures" / "voice-nl-5s.ogg").read_bytes()
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def test_a_duration_is_one_isolated_m_ss_in_arabic() -> None:
    from flows.i18n import Translator
    from flows.uploads import duration_text, measure_duration

    assert measure_duration(VOICE) == 5  # read from the Ogg Opus file itself
    assert measure_duration(b"OggS" + b"\0" * 40) is None
    assert duration_text(83) == "1:23" and duration_text(None) == "0:00"
    said = Translator("ar")._("🎤 voice note ({duration})", duration=duration_text(83))
    assert "\u20681:23\u2069" in said and said.count("\u2068") == 1


def test_photos_lose_gps_time_and_device_but_stay_upright() -> None:
    from PIL import ExifTags, Image

    from flows.uploads import without_metadata

    for image_format, mime in (
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("WEBP", "image/webp"),
        ("HEIF", "image/heic"),
    ):
        exif = Image.Exif()
        exif[ExifTags.Base.Make] = "PhoneMaker"
        exif[ExifTags.Base.Orientation] = 6  # taken on its side
        exif[ExifTags.IFD.GPSInfo] = {ExifTags.GPS.GPSLatitudeRef: "N"}
        buffer = io.BytesIO()
        Image.new("RGB", (40, 20), "teal").save(buffer, format=image_format, exif=exif.tobytes())
        clean = without_metadata(buffer.getvalue(), mime)
        shown = Image.open(io.BytesIO(clean))
        assert not dict(shown.getexif()) and b"PhoneMaker" not in clean, image_format
        assert shown.size == (20, 40), image_format  # turned as the EXIF said
        # The same photo sent twice gives the same bytes: duplicates are still noticed.
        assert without_metadata(buffer.getvalue(), mime) == clean
    assert without_metadata(b"\xff\xd8\xff broken", "image/jpeg") == b"\xff\xd8\xff broken"
    assert without_metadata(b"%PDF-1.7", "application/pdf") == b"%PDF-1.7"


def test_mydata_zips_old_photos_without_their_exif(tmp_path: Path) -> None:
    import zipfile

    from PIL import ExifTags, Image

    from flows.privacy import write_export

    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (52.0, 5.0, 0.0),
    }
    stored = []
    for image_format, suffix in (("JPEG", ".jpg"), ("HEIF", ".heic")):
        path = tmp_path / f"old{suffix}"  # kept before EXIF was removed on arrival
        Image.new("RGB", (30, 20), "teal").save(path, format=image_format, exif=exif.tobytes())
        stored.append((f"uploads/u1/old{suffix}", path))
    folder = tmp_path / "exports"
    [part] = write_export(folder, {"tables": {}}, stored)
    with zipfile.ZipFile(part) as archive:
        for relpath, _ in stored:
            blob = archive.read(f"files/{relpath}")
            assert b"PhoneMaker" not in blob, relpath
            assert not dict(Image.open(io.BytesIO(blob)).getexif()), relpath
    assert [p.name for p in folder.iterdir()] == [part.name]  # the clean copies are gone
    assert b"PhoneMaker" in stored[0][1].read_bytes()  # the store itself is left alone


async def test_voice_steps_follow_ups_and_a_left_out_piece_in_the_export(
    tmp_path: Path,
) -> None:
    chat, uow = await learner(tmp_path, language="ar")
    (tmp_path / "data" / "uploads").mkdir(parents=True)
    (tmp_path / "data" / "uploads" / "v.ogg").write_bytes(VOICE)
    spoken = await uow.uploads.add(
        Upload(
            owner_id=1,
            kind="voice",
            relpath="uploads/v.ogg",
            sha256="c" * 64,
            size=len(VOICE),
            mime_type="audio/ogg",
            duration=83,
            transcript="ثم تحدثت مع الأم بهدوء.",
        )
    )
    kept = await uow.reflections.add(
        Reflection(
            learner_id=1,
            status="done",
            title="اجتماع الأهل",
            situation="كان اجتماع الأهل صعبا.",
            task="المساعدة.",
            result="فهمت الأم الخطة.",
            reflection="سأبدأ مبكرا.",
            extra={
                "voice": {"action": spoken.id},
                "followups": {"task": "كان علي أن أشرح البرنامج للأم."},
            },
            themes=["communication"],
            competences=["communication.adapt"],
        )
    )
    secret = await uow.reflections.add(
        Reflection(
            learner_id=1,
            status="done",
            title="Yasmina huilt",
            situation="Yasmina huilde elke ochtend.",
            extra={"evidence_id": 2},
        )
    )
    await uow.evidence.add(
        piece(1, reflection_id=kept.id, description="وصف قصير بكلماتي.", privacy_confirmed=True)
    )
    await uow.evidence.add(
        piece(2, kind="case_discussion", title="Casus", privacy_confirmed=False)
    )
    # Not linked, but written for the left-out piece: it stays out too.
    assert secret.extra["evidence_id"] == uow.evidence.rows[1].id
    await chat.command("export")
    await chat.press("Samira")
    await chat.press("العربية")
    files = [r.file for r in chat.last if r.file is not None]
    document = Document(str(files[0].path))
    body = "\n".join(p.text for p in document.paragraphs)
    assert "Yasmina" not in body
    assert "كان علي أن أشرح البرنامج للأم." in body  # the follow-up answer
    assert "Spraakbericht (1:23): bestand reflectie-" in body
    assert "ثم تحدثت مع الأم بهدوء." in body  # the transcript, marked as such
    assert "Uitgeschreven door een computer, niet nagekeken:" in body
    assert "وصف قصير بكلماتي." in body
    # Each language its own paragraph, each in its own direction.
    dutch = ("Situatie", "Actie", "STARR-reflectie", "Bewijsstuk", "Competenties", "Spraakbericht")
    for paragraph in document.paragraphs:
        rtl = paragraph._p.pPr is not None and paragraph._p.pPr.find(f"{W}bidi") is not None
        arabic = any("\u0600" <= ch <= "\u06ff" for ch in paragraph.text)
        starts_arabic = next(
            (("\u0600" <= ch <= "\u06ff") for ch in paragraph.text if ch.isalpha()), False
        )
        assert rtl == starts_arabic, paragraph.text
        if arabic:
            assert not any(word in paragraph.text for word in dutch), paragraph.text
    with zipfile.ZipFile(files[1].path) as archive:
        data = json.loads(archive.read("portfolio.json"))
        voice_name = data["evidence"][0]["reflection"]["steps"]["action"]["voice"]["attachment"]
        assert archive.read(voice_name) == VOICE
    jsonschema.validate(data, schema(), format_checker=jsonschema.FormatChecker())
    assert "Yasmina" not in json.dumps(data)
    assert data["reflections"] == [] and data["left_out"] == [2]
    steps = data["evidence"][0]["reflection"]["steps"]
    assert steps["task"] == {
        "text": "المساعدة.",
        "voice": None,
        "followup": "كان علي أن أشرح البرنامج للأم.",
        "followup_voice": None,
    }
    assert steps["action"]["voice"]["duration_seconds"] == 83
    assert steps["action"]["voice"]["transcript"] == "ثم تحدثت مع الأم بهدوء."


async def test_a_saved_piece_can_be_changed(tmp_path: Path) -> None:
    chat, uow = await learner(tmp_path)
    await uow.evidence.add(piece(1, privacy_confirmed=True))
    await chat.command("portfolio")
    await chat.press("My evidence")
    await chat.press("1")
    await chat.press("Change this piece")
    assert chat.said.startswith("What do you want to change?")
    await chat.press("Title")
    await chat.text("Our reading corner")
    assert "Changed." in chat.said and "Title: Our reading corner" in chat.said
    await chat.press("Description")
    await chat.text("A corner where children read with their parents.")
    await chat.press("When")
    await chat.text("2023-2025")
    await chat.press("Where")
    await chat.text("Huis van het Kind")
    await chat.press("Your role")
    await chat.text("coördinator")
    await chat.press("Competences")
    await chat.press("6. Planning")
    await chat.press("1")
    await chat.press("Done")
    await chat.press("Done")
    assert "Piece 1 is saved." in chat.said
    (changed,) = uow.evidence.rows
    assert (changed.title, changed.description) == (
        "Our reading corner",
        "A corner where children read with their parents.",
    )
    assert (changed.period_start, changed.period_end) == ("2023", "2025")
    assert (changed.organisation, changed.role) == ("Huis van het Kind", "coördinator")
    assert changed.competences == ["social_map.purpose", "planning.overview"]
    assert changed.themes == ["social_map", "planning"]
    assert changed.checks == {"authentic": "yes"}  # untouched


# -- Leap2A, read the way Mahara's importer reads it --------------------------------------
def mahara_reads(xml: bytes, names: set[str]) -> dict[str, object]:
    """What Mahara's Leap2A import (htdocs/import/leap/lib.php with the file and blog
    plugins) would take from the feed, with its checks: the namespaces it needs declared,
    a supported `leap2:version`, CURIEs resolved through the declared prefixes, a journal
    (`selection` of type Blog) whose parts exist, files as `resource` entries whose `src` is
    in the ZIP, XHTML content in exactly the wrapper it strips, tags from categories
    without a scheme. Raises AssertionError where Mahara would fail or lose data."""
    from urllib.parse import unquote

    from lxml import etree

    atom, rdf = "http://www.w3.org/2005/Atom", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    leap, categories = "http://terms.leapspecs.org/", "http://wiki.leapspecs.org/2A/categories/"
    root = etree.fromstring(xml)
    assert root.tag == f"{{{atom}}}feed"
    declared = {uri: prefix for prefix, uri in root.nsmap.items()}  # getDocNamespaces, flipped
    for namespace in (atom, rdf, leap, categories):  # ensure_document_valid()
        assert namespace in declared, namespace
    (version,) = root.findall(f"{{{leap}}}version")
    assert version.text == "http://www.leapspecs.org/2010-07/2A/"  # supportedleap2aversions
    assert root.findtext(f"{{{atom}}}author/{{{atom}}}name")

    def curie(value: str | None, namespace: str, term: str) -> bool:  # curie_equals()
        prefix = declared[namespace]
        return value in (f"{prefix}:{term}", f"[{prefix}:{term}]", namespace + term)

    def is_type(entry: etree._Element, term: str) -> bool:  # is_rdf_type()
        types = entry.findall(f"{{{rdf}}}type")
        return any(curie(t.get(f"{{{rdf}}}resource"), leap, term) for t in types)

    entries = {e.findtext(f"{{{atom}}}id"): e for e in root.findall(f"{{{atom}}}entry")}
    assert len(entries) == len(root.findall(f"{{{atom}}}entry"))  # ids are unique
    for entry_id, entry in entries.items():
        assert (
            entry_id
            and entry.findtext(f"{{{atom}}}title")
            and entry.findtext(f"{{{atom}}}updated")
        )
    files = {}
    for entry_id, entry in entries.items():
        content = entry.find(f"{{{atom}}}content")
        if is_type(entry, "resource") and content is not None and content.get("src"):  # is_file()
            assert unquote(content.get("src")) in names, content.get("src")
            files[entry_id] = unquote(content.get("src"))
        elif content is not None and content.get("type") == "xhtml":  # get_entry_content()
            (div,) = list(content)
            assert div.tag == "{http://www.w3.org/1999/xhtml}div"
    # Mahara strips exactly `<div xmlns="http://www.w3.org/1999/xhtml">` from what libxml
    # writes for the div (its own declarations only): the div must declare the namespace.
    wrapped = xml.decode().count(
        '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
    )
    assert wrapped == len(root.findall(f"{{{atom}}}entry/{{{atom}}}content[@type='xhtml']"))
    journals = [
        e
        for e in entries.values()
        if is_type(e, "selection")
        and any(
            curie(c.get("scheme"), categories, "selection_type#") and c.get("term") == "Blog"
            for c in e.findall(f"{{{atom}}}category")
        )
    ]
    (journal,) = journals
    parts = [
        link.get("href")
        for link in journal.findall(f"{{{atom}}}link")
        if curie(link.get("rel"), leap, "has_part")
    ]
    posts = {}
    for part in parts:
        post = entries[part]  # get_entry_by_id(): a part that is missing is lost
        assert is_type(post, "entry")
        attached = [
            link.get("href")
            for link in post.findall(f"{{{atom}}}link")
            if curie(link.get("rel"), leap, "has_attachment")
        ]
        assert all(a in files for a in attached)
        tags = [
            c.get("label") or c.get("term")
            for c in post.findall(f"{{{atom}}}category")
            if c.get("scheme") is None
        ]
        posts[post.findtext(f"{{{atom}}}title")] = {
            "files": [files[a] for a in attached],
            "tags": tags,
            "text": etree.tostring(post.find(f"{{{atom}}}content")[0], encoding="unicode"),
        }
    return {"journal": journal.findtext(f"{{{atom}}}title"), "posts": posts, "files": files}


async def test_a_piece_number_typed_instead_of_tapped_opens_it(tmp_path: Path) -> None:
    chat, uow = await learner(tmp_path)
    await uow.evidence.add(piece(1, privacy_confirmed=True))
    await uow.evidence.add(piece(2, privacy_confirmed=True))
    await chat.command("portfolio")
    await chat.press("My evidence")
    await chat.text("2")
    assert chat.said.startswith("2. ")
    await chat.press("« Back")
    await chat.text("7")
    assert chat.said.startswith("Please tap one of the buttons.")


async def test_the_zip_is_a_leap2a_export_mahara_can_import(tmp_path: Path) -> None:
    chat, uow = await learner(tmp_path)
    await add_portfolio(uow, tmp_path, 1)
    (tmp_path / "data" / "uploads" / "v.ogg").write_bytes(VOICE)
    spoken = await uow.uploads.add(
        Upload(
            owner_id=1,
            kind="voice",
            relpath="uploads/v.ogg",
            sha256="d" * 64,
            size=len(VOICE),
            mime_type="audio/ogg",
            duration=5,
        )
    )
    uow.reflections.rows[0].extra = {
        "voice": {"result": spoken.id},
        "followups": {"task": "Ik verdeelde de taken."},
    }
    await chat.command("export")
    await chat.press("Samira")
    await chat.press("Dutch only")
    archive_path = next(
        r.file.path for r in chat.last if r.file and r.file.file_name == "portfolio.zip"
    )
    with zipfile.ZipFile(archive_path) as archive:
        names = set(archive.namelist())
        read = mahara_reads(archive.read("leap2a.xml"), names)
    assert read["journal"] == "Portfolio: EVC (Eerder Verworven Competenties)"
    posts = read["posts"]
    assert isinstance(posts, dict)
    assert sorted(posts) == [
        "Bewijsstuk 1: Rapport: ons leesproject / 2025",
        "Bewijsstuk 2: مشروع القراءة في الحي",
        "Bewijsstuk 3: Toplantı notları",
    ]  # the case left out for client privacy is not there either
    first = posts["Bewijsstuk 1: Rapport: ons leesproject / 2025"]
    assert first["files"] == [
        "attachments/01-Rapport-ons-leesproject-2025.pdf",
        f"attachments/reflectie-{uow.reflections.rows[0].id}-resultaat.ogg",
    ]
    assert (
        "1.1 Ik kan zeggen waarom mijn organisatie bestaat en voor wie ze werkt." in first["tags"]
    )
    assert "Sociale kaart en organisatie" in first["tags"]
    assert "Ik verdeelde de taken." in first["text"] and "Spraakbericht (0:05)" in first["text"]
    assert "كان الاجتماع صعبا." in first["text"]


async def test_export_from_inside_another_question(tmp_path: Path) -> None:
    chat, uow = await learner(tmp_path, language="tr")
    await uow.evidence.add(piece(1, privacy_confirmed=True))
    await chat.command("export")
    await chat.press("Samira")
    await chat.press("Sadece Felemenkçe")
    await chat.command("evidence")  # a question is open
    await chat.command("export")  # the name is known: straight to the headings
    assert chat.last[-1].flat_buttons[0].label == "Sadece Felemenkçe"
    await chat.press("Sadece Felemenkçe")
    assert next(r.file.file_name for r in chat.last if r.file) == "portfolio.docx"
    await chat.command("export", "name")
    await chat.text("Samira El Amrani")
    assert "Samira El Amrani" in chat.said
    assert uow.users.rows[1].portfolio_name == "Samira El Amrani"


async def test_transcripts_when_a_model_is_set_up(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A fake engine behind the same interface as faster-whisper (no package ships a
    Whisper model to test with); the real loader is not run here."""
    import dataclasses

    from flows import transcription

    heard: list[tuple[bytes, str | None]] = []

    def fake(path: Path, *, language: str | None) -> str | None:
        heard.append((path.read_bytes(), language))
        return "Ik heb eerst rustig met de moeder gepraat."

    monkeypatch.setattr(transcription, "load", lambda model_dir: fake)
    chat, uow = await learner(tmp_path, language="nl")
    (tmp_path / "data" / "uploads").mkdir(parents=True)
    (tmp_path / "data" / "uploads" / "v.ogg").write_bytes(VOICE)
    spoken = await uow.uploads.add(
        Upload(
            owner_id=1,
            kind="voice",
            relpath="uploads/v.ogg",
            sha256="e" * 64,
            size=len(VOICE),
            mime_type="audio/ogg",
            duration=5,
        )
    )
    kept = await uow.reflections.add(
        Reflection(
            learner_id=1, status="done", title="Ophalen", extra={"voice": {"action": spoken.id}}
        )
    )
    await uow.evidence.add(piece(1, reflection_id=kept.id, privacy_confirmed=True))
    await chat.command("export")
    await chat.press("Samira")
    assert spoken.transcript is None  # no model set up: no transcript
    chat.engine.config = dataclasses.replace(chat.engine.config, transcription_model_dir=tmp_path)
    await chat.command("export")
    assert heard == [(VOICE, "nl")]
    assert spoken.transcript == "Ik heb eerst rustig met de moeder gepraat."
    document = Document(str(next(r.file.path for r in chat.last if r.file)))
    body = "\n".join(p.text for p in document.paragraphs)
    assert "Uitgeschreven door een computer, niet nagekeken:" in body
    assert "Ik heb eerst rustig met de moeder gepraat." in body
    await chat.command("export")
    assert len(heard) == 1  # kept: not transcribed twice
