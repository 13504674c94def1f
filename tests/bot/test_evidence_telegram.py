"""Evidence and export end to end: the real python-telegram-bot Application on the fake Bot
API, every media type fetched through getFile from the fake file URL, refusals, duplicates,
and the export sent back as documents."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from docx import Document
from sqlalchemy import select

from bot.runtime import Runtime
from storage.models import Evidence, Signal, Upload
from tests.fake_telegram import BotHarness, Call, FakeTelegram, running_bot

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
OGG = b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x1eOpusHead" + b"\x00" * 40
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    document = Document()
    document.add_paragraph("Verslag van ons leesproject")
    document.save(buffer)
    return buffer.getvalue()


def odt_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", "<office:document-content/>")
    return buffer.getvalue()


async def onboard(bot: BotHarness, user: int) -> None:
    await bot.say(user, "/start")
    await bot.press(user, "English")
    await bot.press(user, "Yes, I agree")
    await bot.say(user, "Fatma")


def media(telegram: FakeTelegram, kind: str, content: bytes, **extra: Any) -> dict[str, Any]:
    """The message field for a file of this kind, uploaded to the fake server."""
    file_id, unique = telegram.upload(content)
    base: dict[str, Any] = {"file_id": file_id, "file_unique_id": unique, **extra}
    if kind == "photo":
        return {"photo": [{**base, "width": 1, "height": 1}]}
    if kind == "voice":
        return {"voice": {"duration": 4, "mime_type": "audio/ogg", **base}}
    if kind == "video":
        return {"video": {"width": 2, "height": 2, "duration": 3, **base}}
    return {"document": base}


async def answer_questions(bot: BotHarness, user: int, title: str) -> list[Call]:
    project = "Neighbourhood, reading or culture project (Buurt-, voorlees- of cultuurproject)"
    await bot.press(user, project)
    await bot.say(user, title)
    await bot.say(user, "A reading afternoon I organised for parents and children.")
    await bot.say(user, "2024-2025")
    await bot.say(user, "Huis van het Kind")
    await bot.say(user, "onthaalmedewerker")
    await bot.press(user, "4. Communication")
    await bot.press(user, "3")
    await bot.press(user, "Done")
    for _ in range(5):
        sent = await bot.press(user, "Yes")
    if "No, no client can be recognised" in sent[-1].labels:  # every piece but a link
        sent = await bot.press(user, "No, no client can be recognised")
    await bot.press(user, "Later")
    return sent


async def test_every_media_type_becomes_evidence(runtime: Runtime, telegram: FakeTelegram) -> None:
    files = [
        ("photo", PNG, {}),
        ("document", PDF, {"file_name": "verslag.pdf", "mime_type": "application/pdf"}),
        ("document", docx_bytes(), {"file_name": "verslag.docx"}),
        ("document", odt_bytes(), {"file_name": "visie.odt"}),
        ("document", JPEG, {"file_name": "affiche.jpg", "mime_type": "image/jpeg"}),
        ("voice", OGG, {}),
        ("video", MP4, {"file_size": len(MP4)}),
    ]
    async with running_bot(runtime, telegram) as bot:
        await onboard(bot, 21)
        for number, (kind, content, extra) in enumerate(files, start=1):
            await bot.say(21, "/evidence")
            sent = await bot.feed(telegram.message(21, **media(telegram, kind, content, **extra)))
            assert sent[-1].text == "What is it?", (kind, sent[-1].text)
            sent = await answer_questions(bot, 21, f"Piece {kind} {number}")
            assert f"Saved as piece {number}" in sent[0].text
        # A link and a text too.
        await bot.say(21, "/evidence")
        await bot.say(21, "https://example.org/video-over-ons-project")
        await answer_questions(bot, 21, "Our video")
        await bot.say(21, "/evidence")
        await bot.say(21, "I wrote the weekly newsletter for parents.")
        await answer_questions(bot, 21, "Newsletter")
    downloads = [c for c in telegram.calls if c.method == "getFile"]
    assert len(downloads) == len(files)
    async with runtime.sessionmaker() as session:
        pieces = (await session.scalars(select(Evidence).order_by(Evidence.number))).all()
        uploads = {u.id: u for u in (await session.scalars(select(Upload))).all()}
        signals = (await session.scalars(select(Signal))).all()
    assert [p.media for p in pieces] == [
        "photo", "document", "document", "document", "document", "voice", "video", "link",
        "text",
    ]  # fmt: skip
    mimes = [uploads[p.upload_id].mime_type for p in pieces if p.upload_id]
    assert mimes == [
        "image/png",
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.oasis.opendocument.text",
        "image/jpeg",
        "audio/ogg",
        "video/mp4",
    ]
    for piece, (_, content, _) in zip(pieces, files, strict=False):
        upload = uploads[piece.upload_id or 0]
        stored = runtime.engine.files.path(upload.relpath)
        assert stored.read_bytes() == content
        assert "verslag" not in stored.name and "visie" not in stored.name
    assert [s.kind for s in signals].count("evidence_added") == 9
    assert all(p.competences == ["communication.speaking"] for p in pieces)
    assert all(p.themes == ["communication"] for p in pieces)


async def test_refusals_and_duplicates(runtime: Runtime, telegram: FakeTelegram) -> None:
    async with running_bot(runtime, telegram) as bot:
        await onboard(bot, 22)
        await bot.say(22, "/evidence")
        lying = media(telegram, "document", b"MZ\x90\x00 a program", file_name="cv.pdf",
                      mime_type="application/pdf")  # fmt: skip
        sent = await bot.feed(telegram.message(22, **lying))
        assert sent[0].text.startswith("I cannot keep this type of file.")
        declared = media(telegram, "video", MP4, file_size=21 * 1024 * 1024)
        sent = await bot.feed(telegram.message(22, **declared))
        assert "too big" in sent[0].text
        huge = media(telegram, "document", PDF + b"0" * (20 * 1024 * 1024), file_name="big.pdf")
        sent = await bot.feed(telegram.message(22, **huge))
        assert "too big" in sent[0].text
        photo = media(telegram, "photo", PNG)
        await bot.feed(telegram.message(22, **photo))
        await answer_questions(bot, 22, "Poster")
        await bot.say(22, "/evidence")
        again = media(telegram, "document", PNG, file_name="same-picture.png")
        sent = await bot.feed(telegram.message(22, **again))
        assert "You already added this file: it is piece 1, \u201cPoster\u201d." in sent[0].text
    async with runtime.sessionmaker() as session:
        assert len((await session.scalars(select(Upload))).all()) == 1
        assert len((await session.scalars(select(Evidence))).all()) == 1


async def test_export_is_sent_as_documents(
    runtime: Runtime,
    telegram: FakeTelegram,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    from flows import export

    building = export.build_docx
    said_before: list[str] = []

    def watched(*args: Any, **kwargs: Any) -> bytes:
        said_before.extend(c.text for c in telegram.sent())
        return building(*args, **kwargs)

    monkeypatch.setattr(export, "build_docx", watched)
    async with running_bot(runtime, telegram) as bot:
        await onboard(bot, 23)
        await bot.say(23, "/evidence")
        await bot.feed(telegram.message(23, **media(telegram, "document", PDF, file_name="a.pdf")))
        await answer_questions(bot, 23, "Rapport leesproject")
        await bot.say(23, "/export")
        await bot.press(23, "Fatma")
        sent = await bot.press(23, "Dutch only")
    assert sent[0].method == "sendMessage" and "putting your portfolio together" in sent[0].text
    assert "putting your portfolio together" in said_before[-1]  # sent before the work began
    documents = [c for c in sent if c.method == "sendDocument"]
    assert len(documents) == 4
    docx = Document(io.BytesIO(documents[0].files["document"]))
    assert any("Rapport leesproject" in p.text for p in docx.paragraphs)
    with zipfile.ZipFile(io.BytesIO(documents[1].files["document"])) as archive:
        assert archive.read("attachments/01-Rapport-leesproject.pdf") == PDF
        data = json.loads(archive.read("portfolio.json"))
    assert data["evidence"][0]["title"] == "Rapport leesproject"
    assert (
        json.loads(documents[2].files["document"])["framework"]["standards"][0]["standardid"] == 1
    )
    assert documents[3].files["document"].decode().startswith('"Parent id number","Id number"')
