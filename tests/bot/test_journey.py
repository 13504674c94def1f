"""One learner's whole journey, as the people in DOMAIN.md would walk it.

In Turkish through the real python-telegram-bot Application on the fake Bot API: onboarding,
intake, quick scan, a goal, the check-in, a week later the look back, a STARR reflection
turned into evidence, evidence that asks for a reflection and gets it linked back, a photo
fetched through getFile, the portfolio overview and the export documents. And a shorter
journey in Dutch through `opstap chat` as a subprocess.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from docx import Document
from sqlalchemy import select

from bot.runtime import Runtime
from flows import signals
from flows.i18n import Translator
from storage.models import (
    Evidence,
    Goal,
    QuestionnaireResponse,
    Reflection,
    Signal,
    ThemeLevel,
    Upload,
    User,
)
from tests.fake_telegram import BotHarness, Call, FakeTelegram, running_bot
from tests.fakes import FakeClock

AYSE = 501
TR = Translator("tr")
NL = Translator("nl")
SCALE_TR = ["Henüz değil", "Yardımla", "Kendi başıma", "Başkalarına öğretebilirim"]
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
STARR_TR = [
    "Bir anne kreşte çocuğu için çok endişeliydi ve bağırıyordu.",
    "Benim görevim anneyi sakinleştirmek ve sorunu anlamaktı.",
    "Onu sessiz bir odaya götürdüm ve önce hikayesini dinledim.",
    "Anne sakinleşti, ertesi gün bana teşekkür etti ve gülümsedi.",
    "Dinlemek işe yaradı, bir dahaki sefere daha erken soru soracağım.",
]


def t(message: str, **params: object) -> str:
    """The Turkish text the learner sees for an English source string."""
    return TR._(message, **params)


def texts(sent: list[Call]) -> str:
    return "\n".join(call.text for call in sent)


async def rows(runtime: Runtime, model):  # type: ignore[no-untyped-def]
    async with runtime.sessionmaker() as session:
        order = getattr(model, "id", None) or model.theme_id
        return list((await session.scalars(select(model).order_by(order))).all())


async def onboarding_and_intake(bot: BotHarness) -> None:
    sent = await bot.say(AYSE, "/start")
    assert "Türkçe" in sent[-1].labels
    await bot.press(AYSE, "Türkçe")
    sent = await bot.press(AYSE, t("Yes, I agree"))
    assert sent[-1].text == t("What name should I call you?")
    sent = await bot.say(AYSE, "Ayşe")
    assert t("Nice to meet you, {name}!", name="Ayşe") in texts(sent)
    assert sent[-1].text == "(1/14) Sana en çok hangisi uyuyor?"
    await bot.press(AYSE, "Sosyal alanda çalışıyorum, bu iş için diplomam yok")
    await bot.press(AYSE, "Çocuk bakımı")
    await bot.say(AYSE, "Kreşte yardımcı eğitmen")
    await bot.say(AYSE, "6")
    await bot.press(AYSE, "Lise")
    await bot.press(AYSE, "Türkçe")
    await bot.press(AYSE, "A2: Markette bir şeyin nerede olduğunu sorabilirim")
    await bot.press(AYSE, "Felemenkçe konuşmak ve pratik yapmak")
    await bot.press(AYSE, "Tamam")
    await bot.press(AYSE, "Vardiyalı veya değişken saatlerde çalışıyorum")
    await bot.press(AYSE, "Tamam")
    await bot.press(AYSE, "Evet, işverenim kabul ediyor")
    await bot.press(AYSE, "Salı")
    await bot.press(AYSE, "Perşembe")
    await bot.press(AYSE, "Tamam")
    await bot.press(AYSE, "Akşam")
    sent = await bot.press(AYSE, "Pazartesiden cumaya")
    assert "EVC yolu sana uygun" in texts(sent)
    await bot.press(AYSE, "Evet, başlayalım")
    for index in range(18):
        level = 1 if index == 2 else (index // 3) % 4  # theme 1 scores 1, 1, 2
        sent = await bot.press(AYSE, SCALE_TR[level])
    photo = next(c for c in sent if c.method == "sendPhoto")
    assert photo.text.startswith("Hızlı taraman, 1'den")
    assert sent[-1].text == t("What would you like to do?")
    assert sent[-1].labels == [
        t("My goal"), t("How is it going?"), t("Reflect"), t("Add evidence"), t("My portfolio"),
        t("Settings"), t("Privacy"), t("Help"),
    ]  # fmt: skip
    assert "1. Sosyal harita: 1,3" in photo.text  # Turkish decimal comma


async def test_a_whole_learner_journey_in_turkish(
    runtime: Runtime, telegram: FakeTelegram, clock: FakeClock
) -> None:
    async with running_bot(runtime, telegram) as bot:
        await onboarding_and_intake(bot)
        (ayse,) = await rows(runtime, User)
        assert (ayse.language, ayse.display_name, ayse.status) == ("tr", "Ayşe", "active")
        assert ayse.consent_at == clock.now
        intake = [
            r for r in await rows(runtime, QuestionnaireResponse) if r.questionnaire == "intake"
        ]
        assert intake[0].answers["days"] == ["tue", "thu"]
        assert intake[0].answers["barriers"] == ["shifts"]
        levels = {level.theme_id: level.score for level in await rows(runtime, ThemeLevel)}
        assert len(levels) == 6 and min(levels.values()) < max(levels.values())

        # Tuesday: this week's goal, on a growth theme.
        sent = await bot.press(AYSE, t("My goal"))
        print(texts(sent), sent[-1].labels)
        await bot.press(AYSE, sent[-1].labels[3])
        sent = await bot.press(AYSE, "1")
        assert sent[-1].text == t("On which day will you do it?")
        await bot.press(AYSE, "Perşembe")
        await bot.say(AYSE, "Perşembe ekip toplantısında bir soru soracağım")
        sent = await bot.press(AYSE, "4")
        assert t("Your goal is saved.") in texts(sent)
        (goal,) = await rows(runtime, Goal)
        assert (goal.week, goal.theme_id, goal.weekday, goal.confidence) == (
            "2026-W10",
            "communication",
            3,
            4,
        )
        # Thursday: the check-in.
        clock.advance(days=2)
        sent = await bot.say(AYSE, "/checkin")
        assert t("How is your goal going?") in texts(sent)
        sent = await bot.press(AYSE, t("Done!"))
        assert t("Great, well done! Shall we look back on it now?") in texts(sent)
        assert sent[-1].labels == [t("Look back now"), t("Later")]
        stale = bot.last_buttons[AYSE][0]["callback_data"]
        sent = await bot.press(AYSE, t("Later"))
        assert t("Fine. Send /goal when you want to look back.") in texts(sent)
        # A button of a closed question, pressed later: nothing happens to the goal.
        sent = await bot.feed(telegram.press(AYSE, stale))
        assert t("This question is closed.") in texts(sent)
        assert sent[-1].text == t("What would you like to do?")
        # A week later, /goal starts with the look back.
        clock.advance(days=5)
        sent = await bot.say(AYSE, "/goal")
        assert "2 Mar 2026 haftasındaki hedefine geri dönüp bakalım" in texts(sent)
        await bot.press(AYSE, "Evet, yaptım")
        sent = await bot.press(AYSE, "Bir iş arkadaşım yardım etti")
        assert "1 hedefe ulaştın." in texts(sent)
        (goal,) = await rows(runtime, Goal)
        assert (goal.checkin, goal.outcome, goal.helped) == ("done", "reached", ["colleague"])
        # The STARR reflection on the goal, with one follow-up on a short answer.
        sent = await bot.press(AYSE, t("Reflect on it with STARR"))
        assert "S · " in texts(sent) and "(1/5)" in texts(sent)
        sent = await bot.say(AYSE, "Kreşte bir anne")
        assert sent[-1].text == t("Can you tell a bit more? Who was there? What did you say?")
        sent = await bot.say(AYSE, STARR_TR[0])
        assert "T · " in texts(sent)
        for answer in STARR_TR[1:]:
            sent = await bot.say(AYSE, answer)
        assert sent[-1].labels[0] == "✅ İletişim"  # the goal's theme, chosen already
        sent = await bot.press(AYSE, "Yansıtma")
        assert sent[-1].labels[:5] == [
            "✅ İletişim", "Sosyal harita", "Rehberlik", "İşbirliği", "✅ Yansıtma"
        ]  # fmt: skip
        sent = await bot.press(AYSE, "Tamam")
        print(texts(sent), sent[-1].labels)
        await bot.press(AYSE, "2")
        sent = await bot.press(AYSE, "Tamam")
        assert "↳ " + STARR_TR[0] in texts(sent)
        sent = await bot.press(AYSE, "💾 Kaydet")
        assert t("Do you want to use this reflection as evidence for your portfolio?") in texts(
            sent
        )
        (reflection,) = await rows(runtime, Reflection)
        assert (reflection.status, reflection.goal_id) == ("done", goal.id)
        assert reflection.themes == ["communication", "reflection"]
        assert reflection.competences == ["communication.colleagues"]
        # The reflection becomes a piece of evidence.
        sent = await bot.press(AYSE, t("Yes, use it as evidence"))
        assert t("Let us turn your reflection into a piece of evidence.") in texts(sent)
        await bot.press(AYSE, sent[-1].labels[0])
        sent = await bot.say(AYSE, "Endişeli bir anne")
        sent = await bot.press(AYSE, t("Skip"))  # the description: the reflection tells it
        assert sent[-1].text.startswith("Ne zamandı?")
        await bot.press(AYSE, "Bu ay")
        await bot.say(AYSE, "Kreş Güneş")
        sent = await bot.say(AYSE, "Yardımcı eğitmen")
        assert "4. İletişim ✓" in sent[-1].labels
        await bot.press(AYSE, "Tamam")
        for _ in range(5):
            sent = await bot.press(AYSE, "Evet")
        assert sent[-1].text == t("Did you remove names and details of clients?")
        sent = await bot.press(AYSE, "Evet, çıkardım")
        assert "1 numaralı kanıt olarak kaydedildi: “Endişeli bir anne”." in texts(sent)
        (first,) = await rows(runtime, Evidence)
        assert (first.number, first.reflection_id, first.media) == (1, reflection.id, "text")
        # A photo, then "write a reflection now" from /evidence, linked back when saved.
        await bot.say(AYSE, "/evidence")
        file_id, unique_id = telegram.upload(PNG)
        photo = [{"file_id": file_id, "file_unique_id": unique_id, "width": 1, "height": 1}]
        sent = await bot.feed(telegram.message(AYSE, photo=photo))
        assert sent[-1].text == t("What is it?")
        project = "Mahalle, okuma veya kültür projesi (Buurt-, voorlees- of cultuurproject)"
        await bot.press(AYSE, project)
        await bot.say(AYSE, "Mahalle okuma günü afişi")
        await bot.say(AYSE, "Okuma günü için bu afişi ben yaptım ve asıldı.")
        await bot.say(AYSE, "05/2025")
        await bot.press(AYSE, "Kreş Güneş")  # places typed before come back as buttons
        await bot.press(AYSE, "Yardımcı eğitmen")
        await bot.press(AYSE, "4. İletişim")
        await bot.press(AYSE, "5")
        await bot.press(AYSE, "Tamam")
        for _ in range(5):
            sent = await bot.press(AYSE, "Evet")
        # A photo may show clients too: asked for every file.
        sent = await bot.press(AYSE, t("No, no client can be recognised"))
        assert "2 numaralı kanıt olarak kaydedildi" in texts(sent)
        # The reflection of piece 1 is not offered again: only writing one, or later.
        assert sent[-1].labels == [t("Write one now"), t("Later")]
        sent = await bot.press(AYSE, t("Write one now"))
        assert "(1/5)" in texts(sent)
        for answer in STARR_TR:
            sent = await bot.say(AYSE, answer.replace("anne", "baba"))
        assert sent[-1].labels[0] == "✅ İletişim"  # the piece's theme, chosen already
        sent = await bot.press(AYSE, "Tamam")
        assert "✅ 5" in sent[-1].labels  # and its competence
        await bot.press(AYSE, "Tamam")
        sent = await bot.press(AYSE, "💾 Kaydet")
        assert t("Your reflection is now linked to piece {number}.", number=2) in texts(sent)
        # The portfolio overview counts both pieces and both reflections.
        sent = await bot.say(AYSE, "/portfolio")
        assert "4. İletişim: 2 / 2" in texts(sent)
        assert any(c.method == "sendPhoto" for c in sent)
        # The export: the DOCX, the ZIP with the photo, the Mahara matrix and the Moodle CSV.
        sent = await bot.say(AYSE, "/export")
        assert sent[-1].labels == ["Ayşe", "Şimdi değil"]  # the name on the portfolio, prefilled
        sent = await bot.say(AYSE, "Ayşe Yılmaz")
        sent = await bot.press(AYSE, sent[-1].labels[0])
    assert [c.method for c in telegram.calls].count("getFile") == 1
    documents = [c for c in sent if c.method == "sendDocument"]
    assert len(documents) == 4
    docx = Document(io.BytesIO(documents[0].files["document"]))
    assert any("Mahalle okuma günü afişi" in p.text for p in docx.paragraphs)
    with zipfile.ZipFile(io.BytesIO(documents[1].files["document"])) as archive:
        names = archive.namelist()
        data = json.loads(archive.read("portfolio.json"))
        attachment = next(n for n in names if n.startswith("attachments/02-"))
        assert archive.read(attachment) == PNG
    assert [e["title"] for e in data["evidence"]] == [
        "Endişeli bir anne",
        "Mahalle okuma günü afişi",
    ]
    pieces = await rows(runtime, Evidence)
    reflections = await rows(runtime, Reflection)
    assert [p.media for p in pieces] == ["text", "photo"]
    assert pieces[1].reflection_id == reflections[1].id
    assert reflections[1].extra["evidence_id"] == pieces[1].id
    (upload,) = await rows(runtime, Upload)
    assert runtime.engine.files.path(upload.relpath).read_bytes() == PNG
    kinds = [s.kind for s in await rows(runtime, Signal)]
    for kind in (signals.GOAL_SET, signals.GOAL_REACHED, signals.REFLECTION_SAVED):
        assert kind in kinds
    assert kinds.count(signals.EVIDENCE_ADDED) == 2


async def test_arabic_lines_that_start_with_latin_are_marked_right_to_left(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    ar = Translator("ar")
    async with running_bot(runtime, telegram) as bot:
        await bot.say(AYSE, "/start")
        await bot.press(AYSE, "العربية")
        await bot.press(AYSE, ar._("Yes, I agree"))
        await bot.say(AYSE, "سارة")
        sent = await bot.say(AYSE, "/reflect")
        step = sent[-1].text.split("\n")
        assert step[0] == "\u200fS · " + ar.with_dutch("Situation") + " (1/5)"
        assert not step[1].startswith("\u200f")  # Arabic first: nothing to add


def test_a_shorter_journey_in_dutch_through_the_terminal(tmp_path: Path) -> None:
    pdf = tmp_path / "verslag.pdf"
    pdf.write_bytes(PDF)
    lines = [
        "Ja, akkoord", "Samira", "1", "Kinderopvang", "begeleider in de crèche", "4", "2", "5",
        "2", "Nederlands spreken en oefenen", "Klaar", "Overslaan", "2", "Dinsdag", "Klaar",
        "1", "1", "Later",
        "/goal", "Communicatie", "1", "1", "Overslaan", "4",  # the real clock: today
        "/checkin", "Ik ben ermee bezig",
        "/reflect", "In de crèche",  # a short answer gets a follow-up
        "/cancel",  # stopping halfway keeps the draft
        "/reflect", "Verdergaan",
        "/evidence", f"@file {pdf}", "Onderzoeksrapport", "Verslag over voorlezen",
        "Mijn verslag over het voorleesuur met de peuters.", "03/2025",
        "Crèche Zonneschijn", "begeleider", "4. Communicatie", "3", "Klaar",
        "Ja", "Ja", "Ja", "Ja", "Ja", "Nee, geen cliënt herkenbaar", "Later",
        "/portfolio", "/help",
    ]  # fmt: skip
    env = {
        **os.environ,
        "OPSTAP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}",
        "OPSTAP_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("OPSTAP_TELEGRAM_TOKEN", None)
    opstap = Path(sys.executable).parent / "opstap"
    done = subprocess.run(
        [str(opstap), "chat", "--user", "samira", "--lang", "nl"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    shown = [m.strip("\n") for m in done.stdout.split("\n--\n")]
    said = "\n".join(shown)
    assert "Leuk je te leren kennen, Samira!" in said
    assert "Goed. Stuur /quickscan als je klaar bent." in said
    assert "Je leerdoel is bewaard.\n🎯 Een deel van een teamvergadering leiden" in said
    assert "Goed zo, ga zo door!" in said
    assert "Kun je wat meer vertellen? Wie was erbij? Wat zei je?" in said
    assert "Gestopt. Wat je eerder bewaard hebt, blijft bewaard." in said
    draft = next(m for m in shown if m.startswith("Je hebt een onafgewerkte reflectie van"))
    assert "  [1] Verdergaan" in draft
    resumed = shown[shown.index(draft) + 1]
    assert resumed.startswith("T · Taak (2/5)")  # the saved step is kept
    assert "Bewaard als bewijsstuk 1: \u201cVerslag over voorlezen\u201d." in said
    overview = next(m for m in shown if m.startswith("Je portfolio\n"))
    assert "4. Communicatie: 1 / 0" in overview
    assert "Je hebt 1 bewijsstuk. Verschillende soorten: 1. Verschillende plaatsen: 1." in overview
    assert overview.count("\u2022 ") == 3  # a few next steps, not a wall of text
    assert "/reflect - Een STARR-reflectie schrijven of lezen" in said
    assert not any(word in said for word in ("Choose", "Please", "Saved", "Back"))
    stored = list((tmp_path / "data").rglob("*.pdf"))
    assert [p.read_bytes() for p in stored] == [PDF]
    assert "verslag" not in stored[0].name
