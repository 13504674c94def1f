"""The portfolio as an assessor gets it, through the real python-telegram-bot Application on
the fake Bot API: a STARR reflection with a voice Action (a real Ogg Opus file) and a
follow-up answer, a GPS-tagged photo as evidence, a case left out for client privacy; then
/export, and every file read back as its reader would (python-docx, zipfile, Pillow, JSON)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
from docx import Document
from PIL import ExifTags, Image
from sqlalchemy import select

from bot.runtime import Runtime
from flows.portfolio_export import schema
from storage.models import Upload
from tests.fake_telegram import BotHarness, Call, FakeTelegram, running_bot

VOICE = (Path(__file__).parent.parent / "fixtures" / "voice-nl-5s.ogg").read_bytes()
LEARNER = 41
CHILD = "Yasmina"  # a client's name that must never reach the export


def gps_jpeg() -> bytes:
    """A photo as a phone takes it: GPS position, time and camera in its EXIF."""
    image = Image.new("RGB", (120, 90), "teal")
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Phone 12"
    exif[ExifTags.Base.DateTime] = "2025:05:14 10:31:07"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (50.0, 51.0, 3.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (4.0, 21.0, 9.0),
    }
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def texts(sent: list[Call]) -> str:
    return "\n".join(c.text for c in sent)


def label(sent: list[Call], part: str) -> str:
    """The one button label of the last keyboard that holds `part`."""
    (found,) = [text for text in sent[-1].labels if part in text]
    return found


async def onboard(bot: BotHarness) -> None:
    await bot.say(LEARNER, "/start")
    await bot.press(LEARNER, "English")
    await bot.press(LEARNER, "Yes, I agree")
    await bot.say(LEARNER, "Sam")


async def voice(bot: BotHarness, telegram: FakeTelegram, content: bytes) -> list[Call]:
    file_id, unique = telegram.upload(content)
    # The channel says 99 seconds; the file says 5: the file wins.
    note = {"file_id": file_id, "file_unique_id": unique, "duration": 99, "mime_type": "audio/ogg"}
    return await bot.feed(telegram.message(LEARNER, voice=note))


async def reflection_with_voice(bot: BotHarness, telegram: FakeTelegram) -> None:
    await bot.say(LEARNER, "/reflect")
    await bot.say(LEARNER, "Bij het ophalen was een moeder boos over de dag van haar kind.")
    sent = await bot.say(LEARNER, "Haar helpen.")  # short: a follow-up question comes
    assert "What exactly was expected of you?" in texts(sent)
    await bot.say(LEARNER, "Ik moest haar rustig uitleggen hoe de dag van haar kind verliep.")
    sent = await voice(bot, telegram, VOICE)  # the Action, spoken
    assert "(4/5)" in texts(sent)
    await bot.say(LEARNER, "De moeder was gerust en bedankte me de volgende ochtend.")
    sent = await bot.say(LEARNER, "Ik blijf kalm, en vertel voortaan zelf meteen hoe het ging.")
    sent = await bot.press(LEARNER, label(sent, "Communication"))
    sent = await bot.press(LEARNER, "Done")
    sent = await bot.press(LEARNER, "1")
    sent = await bot.press(LEARNER, "Done")
    assert "🎤 voice note (0:05)" in texts(sent)  # measured from the file
    await bot.press(LEARNER, "💾 Save")
    await bot.press(LEARNER, "Not now")


async def photo_piece(bot: BotHarness, telegram: FakeTelegram, photo: bytes) -> list[Call]:
    await bot.say(LEARNER, "/evidence")
    file_id, unique = telegram.upload(photo)
    sizes = [{"file_id": file_id, "file_unique_id": unique, "width": 120, "height": 90}]
    await bot.feed(telegram.message(LEARNER, photo=sizes))
    # A crèche photo, filed as "other".
    await bot.press(LEARNER, "Other evidence (Ander bewijsstuk)")
    await bot.say(LEARNER, "Ons leeshoekje")
    await bot.say(LEARNER, "Ik richtte het leeshoekje in en las er elke ochtend voor.")
    await bot.say(LEARNER, "05/2025")
    await bot.say(LEARNER, "Crèche Zonneschijn")
    await bot.say(LEARNER, "kinderbegeleider")
    await bot.press(LEARNER, "2. Guiding")
    await bot.press(LEARNER, "3")
    await bot.press(LEARNER, "Done")
    for _ in range(5):
        sent = await bot.press(LEARNER, "Yes")
    return sent


async def test_an_assessor_gets_every_word_and_recording_and_no_client(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    photo = gps_jpeg()
    assert dict(Image.open(io.BytesIO(photo)).getexif())  # it does carry EXIF
    async with running_bot(runtime, telegram) as bot:
        await onboard(bot)
        await reflection_with_voice(bot, telegram)
        sent = await photo_piece(bot, telegram, photo)
        # A photo may show clients: the privacy question is asked for it too.
        assert sent[-1].text.startswith("Can someone recognise a client in it")
        sent = await bot.press(LEARNER, "No, no client can be recognised")
        sent = await bot.press(LEARNER, label(sent, "Bij het ophalen"))
        assert "Your reflection is now linked to piece 1." in texts(sent)
        # A case discussion with a child's name, left out until the names are removed, with
        # a reflection written for it.
        await bot.say(LEARNER, "/evidence")
        await bot.say(LEARNER, f"Casus: {CHILD} (4 jaar) huilt elke ochtend bij het afscheid.")
        await bot.press(LEARNER, "Case discussion (Casusbespreking)")
        await bot.say(LEARNER, f"Casus {CHILD}")
        await bot.press(LEARNER, "Skip")
        await bot.press(LEARNER, "This month")
        await bot.press(LEARNER, "Crèche Zonneschijn")
        await bot.press(LEARNER, "kinderbegeleider")
        await bot.press(LEARNER, "2. Guiding")
        await bot.press(LEARNER, "1")
        await bot.press(LEARNER, "Done")
        for _ in range(5):
            sent = await bot.press(LEARNER, "Yes")
        assert sent[-1].text == "Did you remove names and details of clients?"
        await bot.press(LEARNER, "Not yet")
        await bot.press(LEARNER, "Write one now")
        for answer in (
            f"{CHILD} huilde elke ochtend lang toen haar vader wegging.",
            f"Ik moest {CHILD} en haar vader helpen bij het afscheid.",
            f"Ik nam {CHILD} op schoot en we zwaaiden samen naar papa.",
            f"Na een week huilde {CHILD} nog maar heel even.",
            "Een vast ritueel helpt kinderen; dat doe ik voortaan vaker zo.",
        ):
            sent = await bot.say(LEARNER, answer)
        await bot.press(LEARNER, "Done")
        await bot.press(LEARNER, "Done")
        sent = await bot.press(LEARNER, "💾 Save")
        assert "Your reflection is now linked to piece 2." in texts(sent)
        # The export: the official name first, then the headings.
        sent = await bot.say(LEARNER, "/export")
        assert sent[-1].labels == ["Sam", "Not now"]
        sent = await bot.say(LEARNER, "Samira El Amrani")
        sent = await bot.press(LEARNER, "Dutch only")
    documents = {c.params.get("document_name"): c for c in sent if c.method == "sendDocument"}
    files = [c.files["document"] for c in sent if c.method == "sendDocument"]
    assert len(files) == 4, documents
    assert "Piece 2 is not in it." in texts(sent)
    docx, archive_bytes, matrix = files[0], files[1], json.loads(files[2])

    # The DOCX, read as Word would.
    document = Document(io.BytesIO(docx))
    paragraphs = [p.text for p in document.paragraphs]
    body = "\n".join(paragraphs)
    cells = "\n".join(c.text for t in document.tables for r in t.rows for c in r.cells)
    assert "Naam\nSamira El Amrani" in cells
    assert (
        "Weggelaten: bewijsstuk 2. Namen of details van cliënten zijn nog niet weggehaald." in body
    )
    assert CHILD not in body and CHILD not in cells  # not its piece, not its reflection
    assert "Andere reflecties" not in body
    assert "Ik richtte het leeshoekje in en las er elke ochtend voor." in body  # description
    assert "Ik moest haar rustig uitleggen hoe de dag van haar kind verliep." in body
    async with runtime.sessionmaker() as session:
        uploads = list(await session.scalars(select(Upload).order_by(Upload.id)))
    spoken = next(u for u in uploads if u.kind == "voice")
    assert spoken.duration == 5
    reflection_id = json.loads(zipfile.ZipFile(io.BytesIO(archive_bytes)).read("portfolio.json"))[
        "evidence"
    ][0]["reflection"]["id"]
    voice_file = f"reflectie-{reflection_id}-actie.ogg"
    assert (
        f"Spraakbericht (0:05): bestand {voice_file} in de map “attachments” van portfolio.zip"
        in body
    )
    assert "Actie: -" not in body
    assert "Thema's van deze reflectie" in body and "Communicatie" in body
    # The reflection is printed with its piece, before the next part of the document.
    assert body.index("Ons leeshoekje") < body.index("STARR-reflectie") < body.index(voice_file)
    assert "Bijlage" in cells and "01-Ons-leeshoekje.jpg in de map “attachments”" in cells
    (picture,) = [
        part for part in document.part.package.parts if part.partname.startswith("/word/media/")
    ]
    assert not dict(Image.open(io.BytesIO(picture.blob)).getexif())  # no GPS in the DOCX
    for table in document.tables:
        for row in table.rows:
            assert row._tr.trPr is not None and row._tr.trPr.xpath("./w:cantSplit")

    # The ZIP: the photo without EXIF, the voice note as it came, the JSON with every word.
    with zipfile.ZipFile(io.BytesIO(archive_bytes)) as archive:
        names = sorted(archive.namelist())
        data = json.loads(archive.read("portfolio.json"))
        assert archive.read(f"attachments/{voice_file}") == VOICE
        exported_photo = archive.read("attachments/01-Ons-leeshoekje.jpg")
    assert names == sorted(
        [
            "portfolio.docx",
            "portfolio.json",
            "portfolio.schema.json",
            "leap2a.xml",
            "attachments/01-Ons-leeshoekje.jpg",
            f"attachments/{voice_file}",
        ]
    )
    shown = Image.open(io.BytesIO(exported_photo))
    assert not dict(shown.getexif()) and shown.size == (120, 90)
    assert b"PhoneMaker" not in exported_photo and b"PhoneMaker" not in docx
    jsonschema.validate(data, schema(), format_checker=jsonschema.FormatChecker())
    assert CHILD not in json.dumps(data, ensure_ascii=False)
    assert data["learner"]["name"] == "Samira El Amrani"
    assert data["left_out"] == [2] and data["reflections"] == []
    (piece,) = data["evidence"]
    assert piece["client_details_removed"] is True
    assert piece["description"] == "Ik richtte het leeshoekje in en las er elke ochtend voor."
    steps: dict[str, Any] = piece["reflection"]["steps"]
    assert steps["task"]["text"] == "Haar helpen."
    assert steps["task"]["followup"] == (
        "Ik moest haar rustig uitleggen hoe de dag van haar kind verliep."
    )
    assert piece["reflection"]["action"] is None
    assert steps["action"]["voice"] == {
        "attachment": f"attachments/{voice_file}",
        "duration_seconds": 5,
        "sha256": spoken.sha256,
        "transcript": None,  # no transcription set up
        "transcript_checked": False,
        "transcript_corrected": False,
    }
    # The stored photo has no EXIF either (removed on arrival).
    stored = next(u for u in uploads if u.kind == "photo")
    kept = runtime.engine.files.path(stored.relpath).read_bytes()
    assert not dict(Image.open(io.BytesIO(kept)).getexif())

    # Mahara reads the evidence statuses only as a list of one-key objects.
    statuses = matrix["framework"]["evidencestatuses"]
    assert isinstance(statuses, list)
    assert [list(s) for s in statuses] == [
        ["begun"],
        ["incomplete"],
        ["partialcomplete"],
        ["completed"],
    ]


def test_the_transcription_setting_is_checked_at_start(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from bot.config import ConfigError, load_settings
    from flows import transcription

    monkeypatch.delenv("OPSTAP_TRANSCRIPTION_MODEL_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env
    assert load_settings().transcription_model_dir is None  # absent: no transcription
    monkeypatch.setenv("OPSTAP_TRANSCRIPTION_MODEL_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="OPSTAP_TRANSCRIPTION_MODEL_DIR is not valid: no such"):
        load_settings()
    monkeypatch.setenv("OPSTAP_TRANSCRIPTION_MODEL_DIR", str(tmp_path))
    if not transcription.available():
        with pytest.raises(ConfigError, match="install faster-whisper first"):
            load_settings()
