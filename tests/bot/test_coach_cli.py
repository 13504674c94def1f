"""`opstap coach-invite` prints a one-time link whose code is stored hashed; `opstap report`
prints a group's numbers as CSV, equal to the stored data."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from flows import signals
from storage.db import create_engine, create_sessionmaker
from storage.models import CoachInvite, Group, Membership, Signal, User
from tests.bot.test_config import opstap


def read_invites(tmp_path: Path) -> list[CoachInvite]:
    async def read() -> list[CoachInvite]:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/x.db")
        async with create_sessionmaker(engine)() as session:
            rows = list(await session.scalars(select(CoachInvite)))
        await engine.dispose()
        return rows

    return asyncio.run(read())


def test_coach_invite_prints_a_link_and_stores_only_a_hash(tmp_path: Path) -> None:
    result = opstap(tmp_path, "coach-invite", "--name", "Els", "--bot", "opstap_bot")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("https://t.me/opstap_bot?start=coach_")
    code = lines[0].split("start=coach_")[1]
    assert lines[1] == f"code: coach_{code}" and len(code) >= 22
    (invite,) = read_invites(tmp_path)
    assert invite.code_hash == hashlib.sha256(code.encode()).hexdigest()
    assert invite.name == "Els" and invite.used_at is None
    assert timedelta(days=6) < invite.expires_at - invite.created_at <= timedelta(days=7)


def test_coach_invite_without_a_bot_name_says_so(tmp_path: Path) -> None:
    result = opstap(
        tmp_path,
        "coach-invite",
        OPSTAP_TELEGRAM_TOKEN="123:abc",
        OPSTAP_TELEGRAM_API_URL="http://127.0.0.1:9/bot",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("https://t.me/<bot>?start=coach_")
    assert "pass --bot USERNAME" in result.stdout
    assert "123:abc" not in result.stdout + result.stderr


def test_coach_invite_with_both_channels_prints_both_links(tmp_path: Path) -> None:
    from tests.fake_whatsapp import (
        APP_SECRET,
        PHONE_ID,
        TOKEN,
        VERIFY_TOKEN,
        FakeGraph,
        graph_server,
    )

    graph = FakeGraph()
    with graph_server(graph) as api_url:
        whatsapp = {
            "OPSTAP_WHATSAPP_TOKEN": TOKEN,
            "OPSTAP_WHATSAPP_PHONE_ID": PHONE_ID,
            "OPSTAP_WHATSAPP_APP_SECRET": APP_SECRET,
            "OPSTAP_WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
            "OPSTAP_WHATSAPP_API_URL": api_url,
        }
        result = opstap(tmp_path, "coach-invite", "--bot", "opstap_bot", **whatsapp)
        graph.number_refused = True  # Meta does not answer: a placeholder, and what to do
        refused = opstap(tmp_path, "coach-invite", **whatsapp)
    assert result.returncode == 0, result.stderr
    telegram, whatsapp, code = result.stdout.splitlines()[:3]
    secret = telegram.split("start=coach_")[1]
    assert whatsapp == f"https://wa.me/15550783881?text=%2Fstart%20coach_{secret}"
    assert code == f"code: coach_{secret}"
    assert refused.returncode == 0, refused.stderr
    assert refused.stdout.startswith("https://wa.me/<number>?text=%2Fstart%20coach_")
    assert "t.me" not in refused.stdout and "replace <number>" in refused.stdout
    assert "could not ask WhatsApp for the business number (HTTP 400)" in refused.stderr
    assert TOKEN not in result.stderr + refused.stderr


def test_report_prints_the_group_numbers_as_csv(tmp_path: Path) -> None:
    assert opstap(tmp_path, "migrate").returncode == 0
    now = datetime.now(UTC)

    async def seed() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/x.db")
        async with create_sessionmaker(engine)() as session:
            coach = User(channel="t", external_id="c", language="nl", role="coach")
            people = [
                User(channel="t", external_id=str(i), language="nl", last_seen_at=now)
                for i in range(3)
            ]
            session.add_all([coach, *people])
            await session.flush()
            group = Group(name="Leergroep A", coach_id=coach.id, join_code="abc")
            session.add(group)
            await session.flush()
            joined = now - timedelta(days=20)
            for index, person in enumerate(people):
                left = now - timedelta(days=1) if index == 2 else None
                session.add(
                    Membership(
                        group_id=group.id,
                        learner_id=person.id,
                        joined_at=joined,
                        left_at=left,
                        left_reason="health" if left else None,
                    )
                )
            for person, kind in (
                (people[0], signals.GOAL_SET),
                (people[0], signals.GOAL_REACHED),
                (people[1], signals.GOAL_REACHED),
                (people[1], signals.REFLECTION_SAVED),
                (people[2], signals.EVIDENCE_ADDED),
            ):
                session.add(Signal(user_id=person.id, kind=kind, at=now - timedelta(days=2)))
            # Before joining: not counted.
            session.add(
                Signal(
                    user_id=people[0].id, kind=signals.GOAL_REACHED, at=joined - timedelta(days=1)
                )
            )
            await session.commit()
        await engine.dispose()

    asyncio.run(seed())
    result = opstap(tmp_path, "report", "--group", "Leergroep A", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = dict(list(csv.reader(io.StringIO(result.stdout)))[1:])
    assert rows["group"] == "Leergroep A"
    assert (rows["enrolled"], rows["in_group"], rows["active_this_week"]) == ("3", "2", "2")
    assert (rows["goals_reached"], rows["reflections"], rows["evidence"]) == ("2", "1", "1")
    assert (rows["left"], rows["left_reason:health"]) == ("1", "1")
    assert rows["funnel:joined"] == "3" and rows["funnel:goal_reached"] == "2"
    assert rows["funnel:staying"] == "2"
    missing = opstap(tmp_path, "report", "--group", "Nope")
    assert missing.returncode == 1 and "no group named 'Nope'" in missing.stderr


def test_coach_invite_for_a_coordinator(tmp_path: Path) -> None:
    result = opstap(tmp_path, "coach-invite", "--coordinator", "--name", "Mia", "--bot", "b")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("https://t.me/b?start=coach_")
    assert "makes its user a coordinator" in result.stdout
    result = opstap(tmp_path, "coach-invite", "--bot", "b")
    invites = read_invites(tmp_path)
    assert [(i.name, i.role) for i in invites] == [("Mia", "coordinator"), (None, "coach")]
