"""The charts (matplotlib): read back as PNG, numbers in the reader's language, named bars,
cached by content, erased with the learner, and the weekly chart agreeing with its text.

Looked at by eye (rendered with `render`, Dutch and Arabic): named theme bars with values
("2,7" in Dutch), the 1..4 scale with its words, a legend for the level colours; in Arabic
the letters joined, the labels and title on the right and the bars growing to the left."""

from __future__ import annotations

import io
from collections import OrderedDict
from pathlib import Path

import pytest
from PIL import Image

from flows import charts
from flows.charts import MEANINGS, Bar, Chart, chart_file, number, render
from storage.files import FileStore
from tests.fakes import ChatDriver, fake_engine

SCAN = {
    "social_map": {"score": 2.67, "level": "doorstroom"},
    "guiding": {"score": 3.5, "level": "uitstroom"},
    "collaboration": {"score": 1.5, "level": "beginner"},
}


def chart(language: str = "nl", value: float = 2.67) -> Chart:
    return Chart(
        title="Je quickscan",
        axis="van 1 (nog niet) tot 4",
        language=language,
        rtl=language == "ar",
        maximum=4,
        ticks=(1, 2, 3, 4),
        whole=False,
        bars=[
            Bar("Sociale kaart en organisatie", value, "middle"),
            Bar("Samenwerken", 1.5, "low"),
        ],
        legend=[("low", "beginner"), ("middle", "doorstroom")],
    )


def colours(png: bytes) -> set[str]:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    found = image.getcolors(maxcolors=1 << 20) or []
    return {"#{:02x}{:02x}{:02x}".format(*pixel) for _, pixel in found}


def test_numbers_are_written_as_the_language_writes_them() -> None:
    assert number(2.6667, "nl") == "2,7"
    assert number(2.6667, "en") == "2.7"
    assert number(3.0, "fr") == "3"


@pytest.mark.parametrize("language", ["nl", "ar"])
def test_a_chart_is_a_png_with_its_colours_by_meaning(language: str) -> None:
    png = render(chart(language))
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width > 600 and image.height > 200
    found = colours(png)
    assert MEANINGS["middle"] in found and MEANINGS["low"] in found
    assert MEANINGS["high"] not in found  # no level drawn that is not there


async def test_a_chart_is_cached_by_its_content(tmp_path: Path) -> None:
    files = FileStore(tmp_path)
    first = await chart_file(files, chart(), owner_id=7)
    again = await chart_file(files, chart(), owner_id=7)
    other = await chart_file(files, chart(value=3.0), owner_id=7)
    assert first == again != other
    assert first.parent == tmp_path / "charts" / "u7"
    assert first.stat().st_mtime == again.stat().st_mtime


async def test_the_portfolio_chart_is_stored_per_learner_and_erased_with_them(
    tmp_path: Path,
) -> None:
    engine, uow = fake_engine(tmp_path)
    chat = ChatDriver(engine, language="nl")
    await chat.command("start")
    await chat.press("Ja, akkoord")
    await chat.text("Lina")
    await chat.command("portfolio")
    (photo,) = [r for r in chat.last if r.file is not None]
    assert photo.file is not None and photo.file.path.exists()
    assert "in de volgorde van de lijst" in photo.text
    user = next(iter(uow.users.rows.values()))
    folder = tmp_path / "data" / "charts" / f"u{user.id}"
    assert photo.file.path.parent == folder
    await chat.command("delete")
    await chat.press("Ja, wis alles")
    await chat.press("Nu wissen")
    assert not folder.exists()


async def test_the_weekly_chart_agrees_with_the_text(tmp_path: Path) -> None:
    from flows.coach.stats import group_stats
    from storage.models import Group, Membership, Signal, User

    engine, uow = fake_engine(tmp_path)
    now = engine.clock()
    coach = await uow.users.add(User(channel="t", external_id="c", role="coach", language="nl"))
    group = await uow.groups.add(Group(coach_id=coach.id, name="Leergroep", join_code="abc"))
    learner = await uow.users.add(User(channel="t", external_id="l", language="nl"))
    await uow.memberships.add(Membership(group_id=group.id, learner_id=learner.id, joined_at=now))
    for kind in ("goal_set", "reflection_saved", "evidence_added"):
        await uow.signals.add(Signal(user_id=learner.id, kind=kind, at=now))
    stats = await group_stats(uow, group, now=now)
    assert stats.weekly[-1][1] == 3
    assert [value for _, value in stats.weekly_by_monday] == [v for _, v in stats.weekly]
    assert stats.weekly_by_monday[-1][0].weekday() == 0


async def coach_with_group(
    tmp_path: Path,
    *,
    bot: str | None,
    number: str | None = None,
    channel: str = "telegram",
    language: str = "ar",
) -> ChatDriver:
    from dataclasses import replace

    from flows.coach import create_invite

    engine, uow = fake_engine(tmp_path)
    engine.config = replace(engine.config, bot_username=bot, whatsapp_number=number)
    code = await create_invite(uow, now=engine.clock(), name="Els")
    chat = ChatDriver(engine, user="coach", channel=channel, language=language)
    await chat.command("start", f"coach_{code}")
    await chat.press_data(chat.last[-1].flat_buttons[0].data)  # agree
    await chat.text("Els")
    await chat.command("newgroup")
    await chat.text("Leergroep A")
    await chat.press_data(chat.last[-1].flat_buttons[3].data)  # Thursday
    await chat.text("18:00")
    await chat.text("Campus Brussel")
    return chat


async def test_the_qr_flyer_says_the_group_and_reads_back(tmp_path: Path) -> None:
    import zxingcpp

    chat = await coach_with_group(tmp_path, bot="opstap_bot")
    photo, pdf = [r.file for r in chat.last if r.file is not None]
    assert photo is not None and pdf is not None
    (decoded,) = zxingcpp.read_barcodes(Image.open(photo.path))
    assert decoded.text.startswith("https://t.me/opstap_bot?start=join_")
    assert pdf.kind == "document" and pdf.path.read_bytes().startswith(b"%PDF")
    assert photo.path.parent == tmp_path / "data" / "qrcodes" / "u1"


async def test_no_qr_code_with_a_placeholder_when_the_bot_name_is_unknown(
    tmp_path: Path,
) -> None:
    chat = await coach_with_group(tmp_path, bot=None, language="en")
    assert not [r for r in chat.last if r.file is not None]
    assert "<bot>" not in chat.said
    assert "/start join_" in chat.said
    assert "token" not in chat.said  # (it once told a WhatsApp-only college to get one)


async def test_a_whatsapp_coach_gets_a_wa_me_link_and_the_telegram_one_beside_it(
    tmp_path: Path,
) -> None:
    import zxingcpp

    chat = await coach_with_group(
        tmp_path, bot="opstap_bot", number="+32 470 12 34 56", channel="whatsapp", language="en"
    )
    photo, _ = [r.file for r in chat.last if r.file is not None]
    assert photo is not None
    # A QR code for each channel, the coach's own on top (read from the page, top first).
    found = zxingcpp.read_barcodes(Image.open(photo.path))
    whatsapp, telegram = sorted(found, key=lambda code: code.position.top_left.y)
    # WhatsApp opens a chat with the number, the command typed in; the learner taps send.
    assert whatsapp.text.startswith("https://wa.me/32470123456?text=%2Fstart%20join_")
    code = whatsapp.text.split("join_")[1]
    assert telegram.text == f"https://t.me/opstap_bot?start=join_{code}"
    message = next(r.text for r in chat.last if r.text.startswith("Send this link"))
    assert message.startswith(
        "Send this link to the learners of Leergroep A, or print the flyer: https://wa.me/"
    )
    assert (
        f"Learners who use Telegram can join with this link: https://t.me/opstap_bot?start=join_{code}"
        in message
    )


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[charts.Flyer]:
    """The flyers /invite draws, as they went to `flyer_files` (which still draws them)."""
    import flows.coach.groups as groups

    flyers: list[charts.Flyer] = []
    real = groups.flyer_files

    async def spy(files: FileStore, flyer: charts.Flyer, *, owner_id: int) -> tuple[Path, Path]:
        flyers.append(flyer)
        return await real(files, flyer, owner_id=owner_id)

    monkeypatch.setattr(groups, "flyer_files", spy)
    return flyers


async def test_a_whatsapp_only_flyer_names_the_number_to_write_to(
    tmp_path: Path, drawn: list[charts.Flyer]
) -> None:
    # The number as a notification's metadata gives it: digits only.
    chat = await coach_with_group(tmp_path, bot=None, number="15550783881", language="nl")
    (flyer,) = drawn
    (only,) = flyer.codes
    code = only.link.split("join_")[1]
    assert only.link == f"https://wa.me/15550783881?text=%2Fstart%20join_{code}"
    assert only.footer == (
        f"Geen camera? Stuur dit in WhatsApp naar +15550783881: /start join_{code}"
    )
    assert "t.me" not in chat.said and "Telegram" not in chat.said


async def test_an_arabic_flyer_keeps_the_bots_handle_and_the_number_in_their_order(
    tmp_path: Path, drawn: list[charts.Flyer]
) -> None:
    """Each name a learner types stands in its own directional isolate, "@" and "+" included:
    in a right-to-left sentence an "@" outside it is laid out after the name
    ("opstap_bot@"), and a number with spaces without one in reverse order."""
    import zxingcpp

    from flows.i18n import FSI, PDI

    chat = await coach_with_group(tmp_path, bot="opstap_bot", number="+32 470 12 34 56")
    (flyer,) = drawn
    assert flyer.rtl
    telegram, whatsapp = flyer.codes  # the coach's own channel first
    assert (telegram.channel, whatsapp.channel) == ("Telegram", "WhatsApp")
    assert f"{FSI}@opstap_bot{PDI}" in telegram.footer
    assert f"{FSI}+32 470 12 34 56{PDI}" in whatsapp.footer
    photo = next(r.file for r in chat.last if r.file is not None and r.file.kind == "photo")
    found = zxingcpp.read_barcodes(Image.open(photo.path))
    assert [c.text for c in sorted(found, key=lambda c: c.position.top_left.y)] == [
        telegram.link,
        whatsapp.link,
    ]


async def test_the_same_contents_are_drawn_once_for_everyone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawings: list[Chart] = []

    def draw(shown: Chart) -> bytes:
        drawings.append(shown)
        return render(shown)

    monkeypatch.setattr(charts, "render", draw)
    monkeypatch.setattr(charts, "_DRAWN", OrderedDict())
    files = FileStore(tmp_path)
    mine = await chart_file(files, chart(value=1.5), owner_id=7)
    theirs = await chart_file(files, chart(value=1.5), owner_id=8)
    assert mine != theirs and mine.read_bytes() == theirs.read_bytes()
    assert theirs.parent == tmp_path / "charts" / "u8"  # each learner's own file, erased with them
    await chart_file(files, chart(value=2.5), owner_id=8)
    assert len(drawings) == 2
