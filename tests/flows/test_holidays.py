"""/holidays: coaches enter programme holidays, days without nudges."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from flows.holidays import parse_day
from storage.models import User
from tests.fakes import ChatDriver, FakeClock, fake_engine


def test_dates_are_read_the_ways_people_type_them() -> None:
    assert parse_day("24/12/2026") == date(2026, 12, 24)
    assert parse_day(" 5-1-2027 ") == date(2027, 1, 5)
    assert parse_day("2026-12-24") == date(2026, 12, 24)
    assert parse_day("31/02/2026") is None
    assert parse_day("next week") is None


async def test_a_coach_adds_and_removes_programme_holidays(tmp_path: Path) -> None:
    engine, uow = fake_engine(tmp_path, clock=FakeClock())
    await uow.users.add(
        User(
            channel="test", external_id="coach", language="en", role="coach",
            consent_version=1, display_name="Els",
        )
    )  # fmt: skip
    coach = ChatDriver(engine, user="coach")
    await coach.command("holidays")
    assert "No programme holidays are planned." in coach.said
    await coach.press("Add a holiday")
    await coach.text("30/02/2026")
    assert "I could not read that date." in coach.said
    await coach.text("01/03/2026")
    assert "That day has passed." in coach.said
    await coach.text("06/04/2026")
    await coach.text("03/04/2026")
    assert "on or after the first day" in coach.said
    await coach.text("10/04/2026")
    await coach.text("Easter holidays")
    assert "5 days added." in coach.said
    assert "Monday, April 6, 2026 - Easter holidays" in coach.said
    rows = await uow.scheduler.holidays(start=date(2026, 1, 1), end=date(2026, 12, 31))
    assert [h.day.day for h in rows] == [6, 7, 8, 9, 10]
    await coach.press("Remove a day")
    await coach.press("Apr 6, 2026")
    assert "Removed: Apr 6, 2026." in coach.said
    await coach.press("Done")
    rows = await uow.scheduler.holidays(start=date(2026, 1, 1), end=date(2026, 12, 31))
    assert len(rows) == 4


async def test_learners_cannot_enter_holidays(tmp_path: Path) -> None:
    engine, _ = fake_engine(tmp_path)
    learner = ChatDriver(engine, language="en")
    await learner.command("start")
    await learner.press("Yes, I agree")
    await learner.text("Lina")
    await learner.command("holidays")
    assert "That command is not available to you." in learner.texts[0]
