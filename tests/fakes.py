"""Test doubles: an in-memory unit of work, a clock you can move, and a chat driver."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from flows import Engine, Flow, FlowConfig, build_flows, default_flows
from flows.messages import Button, Event, IncomingFile, Reply
from storage.models import (
    Conversation,
    Feedback,
    Group,
    Membership,
    OutboxMessage,
    Preferences,
    Reflection,
    Signal,
    ThemeLevel,
    Upload,
    User,
)
from tests import fake_coach


class FakeClock:
    """A clock that stands still until moved."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # a Tuesday

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class FakeUsers:
    def __init__(self) -> None:
        self.rows: dict[int, User] = {}
        self._ids = itertools.count(1)

    async def get(self, user_id: int) -> User | None:
        return self.rows.get(user_id)

    async def by_external(self, *, channel: str, external_id: str) -> User | None:
        return next(
            (
                u
                for u in self.rows.values()
                if (u.channel, u.external_id) == (channel, external_id)
            ),
            None,
        )

    async def add(self, user: User) -> User:
        user.id = next(self._ids)
        self.rows[user.id] = user
        return user


class FakeConversations:
    def __init__(self) -> None:
        self.rows: dict[int, Conversation] = {}

    async def get(self, user_id: int) -> Conversation | None:
        return self.rows.get(user_id)

    async def add(self, conversation: Conversation) -> Conversation:
        self.rows[conversation.user_id] = conversation
        return conversation

    async def save(self, conversation: Conversation) -> None:
        self.rows[conversation.user_id] = conversation


class FakeUpdateLog:
    def __init__(self) -> None:
        self.seen_ids: dict[int, datetime] = {}

    async def seen(self, update_id: int) -> bool:
        return update_id in self.seen_ids

    async def record(self, update_id: int, *, at: datetime) -> None:
        self.seen_ids[update_id] = at


class FakeOutbox:
    def __init__(self) -> None:
        self.rows: list[OutboxMessage] = []
        self._ids = itertools.count(1)

    async def add(self, message: OutboxMessage) -> OutboxMessage | None:
        if await self.by_dedup_key(message.dedup_key) is not None:
            return None
        message.id = next(self._ids)
        self.rows.append(message)
        return message

    async def by_dedup_key(self, dedup_key: str) -> OutboxMessage | None:
        return next((m for m in self.rows if m.dedup_key == dedup_key), None)


class FakeTable:
    """Rows of one model in a list, with generated ids; the base of the simple fakes."""

    def __init__(self) -> None:
        self.rows: list[Any] = []
        self._ids = itertools.count(1)

    def _store(self, row: Any) -> Any:
        if hasattr(row, "id") and "id" not in row.__dict__:
            row.id = next(self._ids)
        self.rows.append(row)
        return row

    def where(self, **conditions: Any) -> list[Any]:
        return [r for r in self.rows if all(getattr(r, k) == v for k, v in conditions.items())]


class FakeGroups(FakeTable):
    async def add(self, group: Group) -> Group:
        return self._store(group)

    async def get(self, group_id: int) -> Group | None:
        return next(iter(self.where(id=group_id)), None)

    async def by_join_code(self, join_code: str) -> Group | None:
        return next(iter(self.where(join_code=join_code)), None)

    async def of_coach(self, coach_id: int) -> list[Group]:
        return self.where(coach_id=coach_id)


class FakeMemberships(FakeTable):
    def __init__(self, groups: FakeGroups) -> None:
        super().__init__()
        self.groups = groups

    async def add(self, membership: Membership) -> Membership:
        return self._store(membership)

    async def active_for(self, learner_id: int) -> Membership | None:
        return next(iter(self.where(learner_id=learner_id, left_at=None)), None)

    async def active_in(self, group_id: int) -> list[Membership]:
        return self.where(group_id=group_id, left_at=None)

    async def coach_id_for(self, learner_id: int) -> int | None:
        membership = await self.active_for(learner_id)
        group = await self.groups.get(membership.group_id) if membership else None
        return group.coach_id if group else None


class FakePreferences(FakeTable):
    async def get(self, user_id: int) -> Preferences | None:
        return next(iter(self.where(user_id=user_id)), None)

    async def add(self, preferences: Preferences) -> Preferences:
        return self._store(preferences)


class FakeUploads(FakeTable):
    async def add(self, upload: Upload) -> Upload:
        return self._store(upload)

    async def get(self, upload_id: int) -> Upload | None:
        return next(iter(self.where(id=upload_id)), None)

    async def by_hash(self, *, owner_id: int, sha256: str) -> Upload | None:
        return next(iter(self.where(owner_id=owner_id, sha256=sha256)), None)

    async def of_owner(self, owner_id: int) -> list[Upload]:
        return self.where(owner_id=owner_id)


class FakeSignals(FakeTable):
    async def add(self, signal: Signal) -> Signal:
        return self._store(signal)

    async def of_user(self, user_id: int, *, since: datetime | None = None) -> list[Signal]:
        return [s for s in self.where(user_id=user_id) if since is None or s.at >= since]


class FakeFeedback(FakeTable):
    async def add(self, feedback: Feedback) -> Feedback:
        return self._store(feedback)

    async def for_item(self, *, item_type: str, item_id: int) -> list[Feedback]:
        return self.where(item_type=item_type, item_id=item_id)

    async def unseen_for(self, learner_id: int) -> list[Feedback]:
        return self.where(learner_id=learner_id, seen_at=None)


class FakeThemeLevels(FakeTable):
    async def of_user(self, user_id: int) -> list[ThemeLevel]:
        return self.where(user_id=user_id)

    async def put(self, level: ThemeLevel) -> ThemeLevel:
        self.rows = [
            r for r in self.rows if (r.user_id, r.theme_id) != (level.user_id, level.theme_id)
        ]
        self.rows.append(level)
        return level


class FakeReflections(FakeTable):
    async def add(self, reflection: Reflection) -> Reflection:
        return self._store(reflection)

    async def get(self, reflection_id: int) -> Reflection | None:
        return next(iter(self.where(id=reflection_id)), None)

    async def draft_of(self, learner_id: int) -> Reflection | None:
        drafts = self.where(learner_id=learner_id, status="draft")
        return drafts[-1] if drafts else None

    async def done_of(
        self, learner_id: int, *, offset: int = 0, limit: int | None = None
    ) -> list[Reflection]:
        done = sorted(
            self.where(learner_id=learner_id, status="done"),
            key=lambda r: (r.created_at, r.id),
            reverse=True,
        )
        return done[offset : None if limit is None else offset + limit]

    async def count_done(self, learner_id: int) -> int:
        return len(self.where(learner_id=learner_id, status="done"))

    async def delete(self, reflection: Reflection) -> None:
        self.rows.remove(reflection)


class FakeUnitOfWork:
    """Keeps everything in memory; counts commits. One instance is shared by all events."""

    def __init__(self) -> None:
        self.users = FakeUsers()
        self.conversations = FakeConversations()
        self.updates = FakeUpdateLog()
        self.outbox = FakeOutbox()
        self.groups = FakeGroups()
        self.memberships = FakeMemberships(self.groups)
        self.preferences = FakePreferences()
        self.uploads = FakeUploads()
        self.signals = FakeSignals()
        self.feedback = FakeFeedback()
        self.theme_levels = FakeThemeLevels()
        self.reflections = FakeReflections()
        fake_coach.attach(self)
        self.commits = 0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def commit(self) -> None:
        self.commits += 1

    async def rollback(self) -> None:
        return None


def fake_engine(
    tmp_path: Path,
    *,
    flows: Sequence[Flow] | None = None,
    clock: Callable[[], datetime] | None = None,
    uow: FakeUnitOfWork | None = None,
) -> tuple[Engine, FakeUnitOfWork]:
    """An engine on the in-memory unit of work."""
    unit = uow or FakeUnitOfWork()
    engine = Engine(
        uow_factory=lambda: unit,
        flows=build_flows(flows if flows is not None else default_flows()),
        config=FlowConfig(data_dir=tmp_path / "data"),
        clock=clock or FakeClock(),
    )
    return engine, unit


@dataclass
class ChatDriver:
    """Talks to an engine as one user and remembers the last buttons it saw."""

    engine: Engine
    user: str = "learner-1"
    channel: str = "test"
    language: str | None = None
    last: list[Reply] = field(default_factory=list)

    async def send(self, event: Event) -> list[Reply]:
        self.last = await self.engine.handle(
            channel=self.channel, external_id=self.user, event=event, language=self.language
        )
        return self.last

    async def command(self, command: str, args: str = "") -> list[Reply]:
        return await self.send(Event(kind="command", command=command, text=args))

    async def text(self, text: str) -> list[Reply]:
        return await self.send(Event(kind="text", text=text))

    async def file(self, kind: Any, content: bytes, **details: Any) -> list[Reply]:
        async def read() -> bytes:
            return content

        incoming = IncomingFile(kind=kind, read=read, size=len(content), **details)
        return await self.send(Event(kind=kind, file=incoming))

    def button(self, label: str) -> Button:
        """The button with this label (or containing it) in the last replies."""
        buttons = [b for r in self.last for b in r.flat_buttons]
        for button in buttons:
            if button.label == label:
                return button
        matches = [b for b in buttons if label in b.label]
        if len(matches) != 1:
            raise AssertionError(f"no single button {label!r} in {[b.label for b in buttons]}")
        return matches[0]

    async def press(self, label: str) -> list[Reply]:
        return await self.send(Event(kind="button", value=self.button(label).data))

    async def press_data(self, data: str) -> list[Reply]:
        return await self.send(Event(kind="button", value=data))

    @property
    def texts(self) -> list[str]:
        return [reply.text for reply in self.last]

    @property
    def said(self) -> str:
        return "\n".join(self.texts)
