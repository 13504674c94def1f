"""The intake and quick scan end to end: the real python-telegram-bot Application on the fake
Bot API and the real database, with a restart halfway."""

from __future__ import annotations

from sqlalchemy import select

from bot.runtime import Runtime
from storage.models import (
    Group,
    OutboxMessage,
    Preferences,
    QuestionnaireResponse,
    Signal,
    ThemeLevel,
    Upload,
    User,
)
from tests.fake_telegram import FakeTelegram, running_bot

SCALE_TR = ["Henüz değil", "Yardımla", "Kendi başıma", "Başkalarına öğretebilirim"]


async def test_intake_in_turkish_with_a_restart_toggles_voice_and_quick_scan(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    async with running_bot(runtime, telegram) as bot:
        await bot.say(7, "/start")
        await bot.press(7, "Türkçe")
        await bot.press(7, "Evet, kabul ediyorum")
        sent = await bot.say(7, "Ayşe")
        assert sent[-1].text == "(1/14) Sana en çok hangisi uyuyor?"
        await bot.press(7, "Gönüllüyüm")
        sent = await bot.press(7, "Yaşlı bakımı")
        assert sent[-1].text.startswith("(3/14) İşin ne?")
        file_id, unique_id = telegram.upload(b"OggS" + b"\0" * 100)
        voice = {"file_id": file_id, "file_unique_id": unique_id, "duration": 4}
        sent = await bot.feed(telegram.message(7, voice=voice))
        assert sent[0].text == "Teşekkürler, sesli mesajını sakladım."
        assert sent[-1].text.startswith("(4/14) Kaç yıldır")
    # A new Application on the same database continues the intake.
    again = Runtime.create(runtime.settings, clock=runtime.engine.clock)
    try:
        async with running_bot(again, telegram) as bot:
            sent = await bot.say(7, "/intake")
            assert sent[0].text == "Kaldığın yerden devam edelim."
            assert sent[-1].text.startswith("(4/14) Kaç yıldır")
            await bot.say(7, "7")
            await bot.press(7, "Lise")
            await bot.press(7, "Türkçe")
            await bot.press(7, "B1: Bir iş arkadaşıma ne olduğunu anlatabilirim")
            sent = await bot.press(7, "Sektörü daha iyi tanımak")
            assert [c.method for c in sent] == ["editMessageText"]
            assert "✓ Sektörü daha iyi tanımak" in sent[0].labels
            await bot.press(7, "Tamam")
            await bot.press(7, "Vardiyalı veya değişken saatlerde çalışıyorum")
            await bot.press(7, "Tamam")
            await bot.press(7, "Evet, işverenim kabul ediyor")
            await bot.press(7, "Çarşamba")
            await bot.press(7, "Tamam")
            await bot.press(7, "Sabah")
            sent = await bot.press(7, "Pazartesiden cumaya")
            texts = [c.text for c in sent]
            assert any("EVC yolu sana uygun" in t for t in texts)
            await bot.press(7, "Evet, başlayalım")
            for index in range(18):
                sent = await bot.press(7, SCALE_TR[index % 4])
            photo = next(c for c in sent if c.method == "sendPhoto")
            assert photo.text.startswith("Hızlı taraman, 1'den")
            assert sent[-1].text == "Ne yapmak istersin?"
    finally:
        await again.close()
    async with runtime.sessionmaker() as session:
        intake = QuestionnaireResponse.questionnaire == "intake"
        response = (await session.scalars(select(QuestionnaireResponse).where(intake))).one()
        upload = (await session.scalars(select(Upload))).one()
        assert response.answers["job"] == {"voice": upload.id}
        assert response.answers["motivations"] == ["know_sector"]
        assert response.results["route"] == "evc"
        signals = (await session.scalars(select(Signal))).all()
        assert [(s.kind, s.details) for s in signals] == [("barrier", {"barrier": "shifts"})]
        preferences = (await session.scalars(select(Preferences))).one()
        assert (preferences.goal_weekday, preferences.preferred_time) == (2, "09:00")
        assert preferences.days_off == [5, 6]
        levels = (await session.scalars(select(ThemeLevel))).all()
        assert len(levels) == 6


async def test_outreach_link_tells_the_coach_through_the_outbox(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    async with runtime.sessionmaker() as session:
        coach = User(channel="telegram", external_id="500", role="coach", language="fr")
        session.add(coach)
        await session.flush()
        session.add(Group(name="Groupe B", coach_id=coach.id, join_code="XYZ9"))
        await session.commit()
    async with running_bot(runtime, telegram) as bot:
        await bot.say(8, "/start intake_XYZ9")
        await bot.press(8, "English")
        await bot.press(8, "Yes, I agree")
        sent = await bot.say(8, "Omar")
        assert sent[-1].text == "(1/14) What fits you best?"
        for answer in ("4", "8", "cleaner", "2", "1", "3", "2"):  # Dutch: A2 (after A1)
            await bot.say(8, answer)
        await bot.press(8, "Get a diploma as fast as possible")
        await bot.press(8, "Done")
        await bot.press(8, "The cost")
        await bot.press(8, "Done")
        await bot.say(8, "4")
        await bot.press(8, "Saturday")
        await bot.press(8, "Done")
        await bot.say(8, "2")
        sent = await bot.say(8, "3")
        assert any(c.text.startswith("The regular route suits you best") for c in sent)
    async with runtime.sessionmaker() as session:
        (message,) = (await session.scalars(select(OutboxMessage))).all()
    assert (message.user_id, message.kind) == (coach.id, "intake_done")
    assert message.payload["params"] == {
        "name": "Omar",
        "years": "2",
        "tongue": "AR",
        "dutch": "A2",
        "barriers": 1,
    }
