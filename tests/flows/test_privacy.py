"""/privacy, /mydata, /delete, renewed consent and retention, on the real database (SQLite, or
PostgreSQL when OPSTAP_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime
from flows import onboarding
from flows.messages import Event, Reply
from flows.privacy import months_before, purge
from storage.models import (
    AccessLog,
    Base,
    Conversation,
    ErasedLearner,
    Feedback,
    Group,
    Membership,
    OutboxMessage,
    Preferences,
    ProcessedUpdate,
    Reflection,
    Signal,
    ThemeLevel,
    Upload,
    User,
)
from tests.fakes import ChatDriver, FakeClock, fake_engine


@dataclass
class Seeded:
    learner: int
    other: int
    coach: int
    file: Path
    other_file: Path


async def seed(runtime: Runtime, *, last_seen: datetime | None = None) -> Seeded:
    """A coach with a group of two learners, each with a row in every table and a file."""
    now = runtime.engine.clock()
    store = runtime.engine.files
    async with runtime.sessionmaker() as session:
        coach = User(
            channel="telegram", external_id="900", language="nl", role="coach", display_name="Ann"
        )
        session.add(coach)
        await session.flush()
        group = Group(name="Leergroep A", coach_id=coach.id, join_code="abc")
        session.add(group)
        await session.flush()
        ids, paths = [], []
        for external, name in (("1", "Samira"), ("2", "Jonas")):
            user = User(
                channel="telegram",
                external_id=external,
                language="en",
                language_chosen=True,
                display_name=name,
                status="active",
                consent_version=onboarding.CONSENT_VERSION,
                consent_at=now,
                last_seen_at=last_seen or now,
            )
            session.add(user)
            await session.flush()
            stored = store.save(f"voice of {name}".encode(), folder=f"uploads/u{user.id}")
            upload = Upload(
                owner_id=user.id,
                kind="voice",
                relpath=stored.relpath,
                sha256=stored.sha256,
                size=stored.size,
                mime_type="audio/ogg",
            )
            reflection = Reflection(learner_id=user.id, situation=f"{name} led a team meeting")
            session.add_all(
                [
                    upload,
                    reflection,
                    Conversation(user_id=user.id),
                    Preferences(user_id=user.id),
                    Membership(group_id=group.id, learner_id=user.id, share_goals=True),
                    Signal(user_id=user.id, kind="goal_set", at=now, details={"goal_id": 1}),
                    ThemeLevel(user_id=user.id, theme_id="planning", score=2.5, level="beginner"),
                    AccessLog(learner_id=user.id, coach_id=coach.id, what="goals", at=now),
                    OutboxMessage(
                        user_id=user.id,
                        kind="nudge",
                        dedup_key=f"nudge:{user.id}",
                        due_at=now,
                        payload={"message": "Hi", "params": {}, "buttons": []},
                    ),
                ]
            )
            await session.flush()
            session.add(
                Feedback(
                    learner_id=user.id,
                    coach_id=coach.id,
                    item_type="reflection",
                    item_id=reflection.id,
                    text=f"Well done, {name}",
                )
            )
            ids.append(user.id)
            paths.append(store.path(stored.relpath))
        await session.commit()
        return Seeded(ids[0], ids[1], coach.id, paths[0], paths[1])


async def send(runtime: Runtime, external_id: str, event: Event) -> list[Reply]:
    return await runtime.engine.handle(channel="telegram", external_id=external_id, event=event)


async def command(runtime: Runtime, external_id: str, name: str) -> list[Reply]:
    return await send(runtime, external_id, Event(kind="command", command=name))


async def press(
    runtime: Runtime, external_id: str, replies: list[Reply], label: str
) -> list[Reply]:
    button = next(b for r in replies for b in r.flat_buttons if b.label == label)
    return await send(runtime, external_id, Event(kind="button", value=button.data))


async def rows_naming(runtime: Runtime, user_id: int) -> dict[str, int]:
    """For every table with a foreign key to users.id: how many rows name this user."""
    found: dict[str, int] = {}
    async with runtime.sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            for fk in table.foreign_keys:
                if fk.column.table.name == "users":
                    count = await session.scalar(
                        select(func.count()).select_from(table).where(fk.parent == user_id)
                    )
                    if count:
                        found[f"{table.name}.{fk.parent.name}"] = int(count)
        users = Base.metadata.tables["users"]
        count = await session.scalar(
            select(func.count()).select_from(users).where(users.c.id == user_id)
        )
        if count:
            found["users.id"] = int(count)
    return found


async def test_privacy_says_what_is_stored_and_who_looked(runtime: Runtime) -> None:
    await seed(runtime)
    replies = await command(runtime, "1", "privacy")
    text = "\n".join(r.text for r in replies)
    assert "What I store:" in text and "Who sees it:" in text
    assert "12 months after your last message" in text
    assert "You share with your coach: your goals." in text
    assert "Who looked at your data:" in text
    assert "Ann looked at your goals." in text


async def test_privacy_without_access_says_so(runtime: Runtime) -> None:
    await seed(runtime)
    async with runtime.sessionmaker() as session:
        await session.execute(AccessLog.__table__.delete())
        await session.commit()
    replies = await command(runtime, "2", "privacy")
    assert replies[-1].text == "No coach has looked at your data yet."


async def test_access_log_record_is_what_the_coach_workspace_calls(runtime: Runtime) -> None:
    seeded = await seed(runtime)
    async with runtime.uow() as uow:
        later = runtime.engine.clock() + timedelta(hours=1)
        await uow.access_log.record(
            coach_id=seeded.coach, learner_id=seeded.learner, what="reflections", at=later
        )
        await uow.commit()
    async with runtime.uow() as uow:
        entries = [e.what for e in await uow.access_log.of_learner(seeded.learner)]
    assert entries == ["reflections", "goals"]


async def test_mydata_sends_every_linked_row_and_file(runtime: Runtime) -> None:
    seeded = await seed(runtime)
    replies = await command(runtime, "1", "mydata")
    assert replies[0].file is not None and replies[0].file.file_name == "opstap-mydata.zip"
    with zipfile.ZipFile(replies[0].file.path) as archive:
        data = json.loads(archive.read("data.json"))
        names = archive.namelist()
        upload_path = data["tables"]["uploads"][0]["relpath"]
        assert archive.read(f"files/{upload_path}") == b"voice of Samira"
    tables = data["tables"]
    expected = {
        "users",
        "conversations",
        "preferences",
        "memberships",
        "signals",
        "theme_levels",
        "reflections",
        "uploads",
        "feedback",
        "access_log",
        "outbox",
    }
    assert expected <= set(tables)
    assert tables["users"][0]["display_name"] == "Samira"
    assert tables["reflections"][0]["situation"] == "Samira led a team meeting"
    assert "Jonas" not in json.dumps(data)
    assert len([n for n in names if n.startswith("files/")]) == 1
    assert seeded.file.exists()


async def test_mydata_on_a_full_disk_says_so_and_keeps_nothing(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(runtime)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("zipfile.ZipFile.writestr", full)
    replies = await command(runtime, "1", "mydata")
    assert replies[0].text.startswith("I could not make your file right now.")
    exports = runtime.engine.files.root / "exports"
    assert not [p for p in exports.rglob("*") if p.is_file()]


async def test_delete_twice_erases_every_row_and_file_and_tells_the_coach(
    runtime: Runtime,
) -> None:
    seeded = await seed(runtime)
    await command(runtime, "1", "mydata")  # an export lying around is erased too
    # Samira writes to her coach: that notice goes to the coach but is about her.
    await command(runtime, "1", "reply")
    await send(runtime, "1", Event(kind="text", text="Samira here, I am stuck"))
    async with runtime.sessionmaker() as session:
        coach_outbox = list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.user_id == seeded.coach)
            )
        )
        # One sent earlier and still on record: a past notice is erased too.
        session.add(
            OutboxMessage(
                user_id=seeded.coach,
                kind="intake_done",
                dedup_key="intake_done:past",
                due_at=runtime.engine.clock(),
                payload={"message": "{name} finished", "params": {"name": "Samira"}},
                status="sent",
                about_user_id=seeded.learner,
            )
        )
        await session.commit()
    assert [m.about_user_id for m in coach_outbox] == [seeded.learner]
    before_other = await rows_naming(runtime, seeded.other)
    replies = await command(runtime, "1", "delete")
    assert "erase everything" in replies[0].text
    replies = await press(runtime, "1", replies, "Yes, erase everything")
    assert replies[0].text.startswith("Are you sure?")
    replies = await press(runtime, "1", replies, "Erase now")
    assert replies[-1].text.startswith("Everything is erased.")

    assert await rows_naming(runtime, seeded.learner) == {}
    assert await rows_naming(runtime, seeded.other) == before_other
    assert not seeded.file.exists() and seeded.other_file.exists()
    store = runtime.engine.files.root
    assert not (store / f"uploads/u{seeded.learner}").exists()
    assert not (store / f"exports/u{seeded.learner}").exists()
    leftovers = [p for p in store.rglob("*") if p.is_file()]
    assert leftovers == [seeded.other_file]
    async with runtime.sessionmaker() as session:
        notice = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == "learner_left")
            )
        ).one()
        tombstone = (await session.scalars(select(ErasedLearner))).one()
        everything = json.dumps(
            [
                [dict(r._mapping) for r in (await session.execute(select(t))).all()]
                for t in Base.metadata.sorted_tables
            ],
            default=str,
        )
    assert notice.user_id == seeded.coach
    assert notice.payload["params"] == {"group": "Leergroep A"}
    assert notice.about_user_id is None  # it must reach the coach after the erasure
    assert tombstone.reason == "delete" and tombstone.counts["reflections"] == 1
    assert tombstone.counts["signals_by_kind"] == {"goal_set": 1}
    assert "Samira" not in everything
    # Writing again starts afresh, as a new user.
    replies = await command(runtime, "1", "start")
    assert "Choose your language." in replies[0].text


async def test_delete_can_be_called_off_at_each_step(runtime: Runtime) -> None:
    seeded = await seed(runtime)
    replies = await command(runtime, "1", "delete")
    replies = await press(runtime, "1", replies, "No, keep my data")
    assert replies[0].text == "Good, I keep everything."
    replies = await command(runtime, "1", "delete")
    replies = await press(runtime, "1", replies, "Yes, erase everything")
    replies = await press(runtime, "1", replies, "No, keep my data")
    assert replies[0].text == "Good, I keep everything."
    assert "users.id" in await rows_naming(runtime, seeded.learner)
    assert seeded.file.exists()


async def test_a_new_consent_text_is_asked_and_agreeing_continues(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(runtime)
    replies = await command(runtime, "1", "language")  # mid-flow when the text changes
    monkeypatch.setattr(onboarding, "CONSENT_VERSION", onboarding.CONSENT_VERSION + 1)
    replies = await command(runtime, "1", "help")  # allowed: help is about the bot itself
    replies = await send(runtime, "1", Event(kind="text", text="hello"))
    assert replies[0].text.startswith("I have a new text about your data.")
    replies = await press(runtime, "1", replies, "Yes, I agree")
    assert replies[0].text == "Thank you! Let us go on."
    assert replies[-1].text.startswith("Choose your language.")  # back at /language
    replies = await press(runtime, "1", replies, "Français")
    assert "français" in replies[0].text
    async with runtime.sessionmaker() as session:
        user = (await session.scalars(select(User).where(User.external_id == "1"))).one()
    assert user.consent_version == onboarding.CONSENT_VERSION


async def test_declining_a_new_consent_text_ends_politely(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = await seed(runtime)
    monkeypatch.setattr(onboarding, "CONSENT_VERSION", onboarding.CONSENT_VERSION + 1)
    replies = await send(runtime, "2", Event(kind="text", text="hi"))
    replies = await press(runtime, "2", replies, "No, thanks")
    assert replies[-1].text.startswith("That is fine. I will not use your data any more")
    async with runtime.sessionmaker() as session:
        user = await session.get(User, seeded.other)
        notices = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.kind == "learner_left")
            )
        ).all()
    assert user is not None and user.status == "declined" and user.consent_version is None
    assert [n.user_id for n in notices] == [seeded.coach]
    # /delete still works without consent.
    replies = await command(runtime, "2", "delete")
    assert "erase everything" in replies[0].text


async def test_retention_erases_only_long_inactive_learners(
    runtime: Runtime, clock: FakeClock
) -> None:
    old = clock.now - timedelta(days=400)
    seeded = await seed(runtime, last_seen=old)
    async with runtime.sessionmaker() as session:
        jonas = await session.get(User, seeded.other)
        assert jonas is not None
        jonas.last_seen_at = clock.now - timedelta(days=20)
        session.add_all(
            [
                ProcessedUpdate(update_id=1, processed_at=clock.now - timedelta(days=10)),
                ProcessedUpdate(update_id=2, processed_at=clock.now - timedelta(days=1)),
            ]
        )
        await session.commit()
    files = runtime.engine.files
    due = await purge(runtime.uow, files, now=clock.now, months=12, dry_run=True)
    assert [item.user_id for item in due] == [seeded.learner]
    assert "users.id" in await rows_naming(runtime, seeded.learner)
    done = await purge(runtime.uow, files, now=clock.now, months=12)
    assert [item.user_id for item in done] == [seeded.learner]
    assert await rows_naming(runtime, seeded.learner) == {}
    assert "users.id" in await rows_naming(runtime, seeded.other)
    assert "users.id" in await rows_naming(runtime, seeded.coach)  # coaches are not purged
    assert not seeded.file.exists() and seeded.other_file.exists()
    async with runtime.sessionmaker() as session:
        tombstone = (await session.scalars(select(ErasedLearner))).one()
        kept_updates = list(await session.scalars(select(ProcessedUpdate.update_id)))
    assert tombstone.reason == "retention"
    assert kept_updates == [2]  # handled update ids are forgotten after a week


def test_months_before_clamps_to_the_end_of_the_month() -> None:
    assert months_before(datetime(2026, 3, 31, 9, tzinfo=UTC), 1) == datetime(
        2026, 2, 28, 9, tzinfo=UTC
    )
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 12) == datetime(
        2025, 1, 15, tzinfo=UTC
    )
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 13) == datetime(
        2024, 12, 15, tzinfo=UTC
    )


async def test_delete_on_the_fake_unit_of_work(tmp_path: Path) -> None:
    engine, uow = fake_engine(tmp_path)
    chat = ChatDriver(engine, language="en")
    await chat.command("start")
    await chat.press("Yes, I agree")
    await chat.text("Lina")
    user = next(iter(uow.users.rows.values()))
    await uow.signals.add(Signal(user_id=user.id, kind="goal_set", at=engine.clock()))
    await chat.command("delete")
    await chat.press("Yes, erase everything")
    await chat.press("Erase now")
    assert chat.texts[-1].startswith("Everything is erased.")
    assert uow.users.rows == {} and uow.signals.rows == []
    assert uow.privacy.erased[0].counts["signals"] == 1


async def test_privacy_and_renewed_consent_on_the_fake_unit_of_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, uow = fake_engine(tmp_path)
    chat = ChatDriver(engine, language="en")
    await chat.command("start")
    await chat.press("Yes, I agree")
    await chat.text("Lina")
    coach = await uow.users.add(
        User(channel="test", external_id="c", language="nl", role="coach", display_name="Ann")
    )
    learner = await uow.users.by_external(channel="test", external_id="learner-1")
    assert learner is not None
    await uow.access_log.record(
        coach_id=coach.id, learner_id=learner.id, what="timeline", at=engine.clock()
    )
    await chat.command("privacy")
    assert "Ann looked at your timeline." in chat.said
    assert "You share" not in chat.said  # not in a group
    monkeypatch.setattr(onboarding, "CONSENT_VERSION", onboarding.CONSENT_VERSION + 1)
    await chat.command("privacy")  # still open
    assert "What I store:" in chat.said
    await chat.text("hello")
    assert chat.texts[0].startswith("I have a new text about your data.")
    await chat.press("Yes, I agree")
    # Back where the learner was: the intake's first question.
    assert chat.texts[-1] == "(1/14) What fits you best?"
    assert learner.consent_version == onboarding.CONSENT_VERSION


async def test_delete_erases_rows_linked_only_through_other_tables(runtime: Runtime) -> None:
    """Rows that reach the learner only through another table (a note on her reflection, a
    receipt of an outbox notice about her) go too: the erasure follows the keys, not names."""
    from sqlalchemy import Column, ForeignKey, Integer, String, Table, insert

    seeded = await seed(runtime)
    notes = Table(
        "test_reflection_notes",
        Base.metadata,
        Column("id", Integer, primary_key=True),
        Column("reflection_id", ForeignKey("reflections.id"), nullable=False),
        Column("text", String(80)),
    )
    receipts = Table(
        "test_outbox_receipts",
        Base.metadata,
        Column("id", Integer, primary_key=True),
        Column("outbox_id", ForeignKey("outbox.id"), nullable=False),
        Column("text", String(80)),
    )
    try:
        async with runtime.sessionmaker() as session:
            await session.run_sync(
                lambda s: Base.metadata.create_all(s.connection(), tables=[notes, receipts])
            )
            for learner, name in ((seeded.learner, "Samira"), (seeded.other, "Jonas")):
                reflection = (
                    await session.scalars(
                        select(Reflection).where(Reflection.learner_id == learner)
                    )
                ).one()
                notice = OutboxMessage(
                    user_id=seeded.coach,
                    kind="learner_message",
                    dedup_key=f"about:{learner}",
                    due_at=runtime.engine.clock(),
                    payload={"message": "{name} wrote", "params": {"name": name}},
                    about_user_id=learner,
                )
                session.add(notice)
                await session.flush()
                await session.execute(
                    insert(notes).values(reflection_id=reflection.id, text=f"note on {name}")
                )
                await session.execute(
                    insert(receipts).values(outbox_id=notice.id, text=f"read: {name}")
                )
            await session.commit()
        replies = await command(runtime, "1", "delete")
        replies = await press(runtime, "1", replies, "Yes, erase everything")
        replies = await press(runtime, "1", replies, "Erase now")
        assert replies[-1].text.startswith("Everything is erased.")
        async with runtime.sessionmaker() as session:
            left = [
                str(row.text)
                for t in (notes, receipts)
                for row in await session.execute(select(t))
            ]
            outbox = list(await session.scalars(select(OutboxMessage)))
        assert sorted(left) == ["note on Jonas", "read: Jonas"]
        assert "Samira" not in json.dumps([m.payload for m in outbox])
        assert any(m.about_user_id == seeded.other for m in outbox)
    finally:
        async with runtime.sessionmaker() as session:
            await session.run_sync(
                lambda s: Base.metadata.drop_all(s.connection(), tables=[receipts, notes])
            )
            await session.commit()
        Base.metadata.remove(receipts)
        Base.metadata.remove(notes)
