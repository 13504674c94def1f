"""The access log, and finding, exporting and erasing everything stored about one user.

Nothing here names a table: `linked_rows` walks `Base.metadata` from `users.id` along every
foreign key, so tables other features add later are covered by themselves:

- a row reached through a NOT NULL foreign key belongs to the user (their goal, their
  reflection, their membership, and rows hanging from those, like a reflection's links); it is
  exported and erased;
- a row reached through a nullable foreign key declared ON DELETE CASCADE is about the user
  (an outbox notice to a coach that names them, an access-log entry on them); it belongs to
  them like the above, although it may be sent to or read by someone else;
- a row reached through another nullable foreign key only mentions the user (a coach's feedback
  names its coach; an access-log entry names its coach); it is exported, and on erasure that
  column is set to NULL while the row stays with its owner.

Files: a column named `relpath` (or ending in `_relpath`) of an owned row is a file in the
file store; `linked_files` lists them so they can be exported and deleted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ForeignKey, Table, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AccessLog, Base, ErasedLearner, ProcessedUpdate, User

USERS = "users"


class AccessLogRepository(Protocol):
    async def add(self, entry: AccessLog) -> None: ...
    async def record(
        self, *, coach_id: int, learner_id: int, what: str, at: datetime
    ) -> AccessLog: ...
    async def of_learner(self, learner_id: int, *, limit: int = 20) -> list[AccessLog]: ...


@dataclass
class LinkedRows:
    """Rows linked to one user: `owned[table]` belong to them, `mentions[table]` name them
    in the listed nullable columns."""

    owned: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    mentions: dict[str, list[tuple[dict[str, Any], list[str]]]] = field(default_factory=dict)

    def all_rows(self) -> dict[str, list[dict[str, Any]]]:
        """Every row, owned or mentioning, per table (for the export)."""
        tables = dict(self.owned)
        for name, rows in self.mentions.items():
            tables[name] = tables.get(name, []) + [row for row, _ in rows]
        return {name: rows for name, rows in sorted(tables.items()) if rows}


class PrivacyRepository(Protocol):
    async def linked_rows(self, user_id: int) -> LinkedRows: ...
    async def erase(self, user_id: int, *, reason: str, at: datetime) -> ErasedLearner | None: ...
    async def due_for_erasure(self, *, inactive_since: datetime) -> list[User]: ...
    async def stored_files(self) -> set[str]: ...
    async def prune_processed_updates(self, *, before: datetime) -> int: ...


def owns(fk: ForeignKey) -> bool:
    """Tells whether rows reached through a foreign key belong to the row it points at: a
    NOT NULL key, or a nullable one that goes with it (ON DELETE CASCADE)."""
    return not fk.parent.nullable or (fk.ondelete or "").upper() == "CASCADE"


def is_file_column(name: str) -> bool:
    """Tells whether a column holds a file-store path."""
    return name == "relpath" or name.endswith("_relpath")


def linked_files(rows: LinkedRows) -> list[str]:
    """The file-store paths held by owned rows."""
    found: list[str] = []
    for table_rows in rows.owned.values():
        for row in table_rows:
            found += [v for k, v in row.items() if is_file_column(k) and isinstance(v, str)]
    return sorted(set(found))


def tombstone_counts(rows: LinkedRows) -> dict[str, Any]:
    """How many rows each table held, and per `kind` where the table has one: no content."""
    counts: dict[str, Any] = {}
    for name, table_rows in sorted(rows.owned.items()):
        if name == USERS or not table_rows:
            continue
        counts[name] = len(table_rows)
        if "kind" in table_rows[0]:
            kinds = Counter(str(row["kind"]) for row in table_rows)
            counts[f"{name}_by_kind"] = dict(sorted(kinds.items()))
    return counts


def _pk(table: Table, row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[c.name] for c in table.primary_key.columns)


class SqlAccessLogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, entry: AccessLog) -> None:
        """Adds an entry made by the coach workspace (a look, an action or a refusal)."""
        self.session.add(entry)

    async def record(
        self, *, coach_id: int, learner_id: int, what: str, at: datetime
    ) -> AccessLog:
        """Records that a coach looked at `what` of a learner's data at `at`."""
        entry = AccessLog(learner_id=learner_id, coach_id=coach_id, what=what[:32], at=at)
        self.session.add(entry)
        return entry

    async def of_learner(self, learner_id: int, *, limit: int = 20) -> list[AccessLog]:
        """The latest entries about a learner, newest first."""
        query = (
            select(AccessLog)
            .where(AccessLog.learner_id == learner_id)
            .order_by(AccessLog.at.desc(), AccessLog.id.desc())
            .limit(limit)
        )
        return list(await self.session.scalars(query))


class SqlPrivacyRepository:
    """Export and erasure by walking the foreign keys of every table."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def linked_rows(self, user_id: int) -> LinkedRows:
        """Every row linked to a user, following foreign keys from `users.id` outwards."""
        await self.session.flush()
        tables = Base.metadata.tables
        result = LinkedRows()
        users = tables[USERS]
        user_rows = (await self.session.execute(select(users).where(users.c.id == user_id))).all()
        result.owned[USERS] = [dict(r._mapping) for r in user_rows]
        # Known values of referenced columns of owned rows: (table, column) -> values.
        known: dict[tuple[str, str], set[Any]] = {(USERS, "id"): {user_id}}
        seen: dict[str, set[tuple[Any, ...]]] = {USERS: {(user_id,)}}
        mentioned: set[tuple[str, tuple[Any, ...]]] = set()
        referenced = {
            (fk.column.table.name, fk.column.name)
            for table in Base.metadata.sorted_tables
            for fk in table.foreign_keys
        }
        changed = True
        while changed:
            changed = False
            for table in Base.metadata.sorted_tables:
                if table.name == USERS:
                    continue
                for fk in table.foreign_keys:
                    values = known.get((fk.column.table.name, fk.column.name))
                    if not values:
                        continue
                    query = select(table).where(fk.parent.in_(sorted(values)))
                    for row in (await self.session.execute(query)).all():
                        data = dict(row._mapping)
                        pk = _pk(table, data)
                        if pk in seen.setdefault(table.name, set()):
                            continue
                        if fk.parent.nullable and not owns(fk):
                            if (table.name, pk) not in mentioned:
                                mentioned.add((table.name, pk))
                                columns = [
                                    f.parent.name
                                    for f in table.foreign_keys
                                    if f.parent.nullable
                                    and not owns(f)
                                    and data[f.parent.name]
                                    in known.get((f.column.table.name, f.column.name), set())
                                ]
                                result.mentions.setdefault(table.name, []).append((data, columns))
                            continue
                        seen[table.name].add(pk)
                        result.owned.setdefault(table.name, []).append(data)
                        changed = True
                        for column in table.columns:
                            value = data.get(column.name)
                            if (table.name, column.name) in referenced and value is not None:
                                known.setdefault((table.name, column.name), set()).add(value)
        # A row first seen as a mention may turn out to be owned through another key.
        for name in list(result.mentions):
            table = tables[name]
            result.mentions[name] = [
                (row, cols)
                for row, cols in result.mentions[name]
                if _pk(table, row) not in seen.get(name, set())
            ]
        return result

    async def erase(self, user_id: int, *, reason: str, at: datetime) -> ErasedLearner | None:
        """Deletes the user and every row they own, clears mentions of them, and leaves an
        anonymous tombstone; None when the user is already gone. Objects of this session are
        detached afterwards."""
        rows = await self.linked_rows(user_id)
        tables = Base.metadata.tables
        if not rows.owned[USERS]:
            return None
        user = rows.owned[USERS][0]
        for name, mentions in rows.mentions.items():
            table = tables[name]
            for row, columns in mentions:
                key = zip(table.primary_key.columns, _pk(table, row), strict=True)
                condition = and_(*(c == v for c, v in key))
                await self.session.execute(
                    update(table).where(condition).values({c: None for c in columns})
                )
        for table in reversed(Base.metadata.sorted_tables):
            owned = rows.owned.get(table.name)
            if not owned:
                continue
            keys = [_pk(table, row) for row in owned]
            columns = list(table.primary_key.columns)
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                condition = or_(
                    *(and_(*(c == v for c, v in zip(columns, key, strict=True))) for key in chunk)
                )
                await self.session.execute(delete(table).where(condition))
        joined: datetime = user["created_at"]
        tombstone = ErasedLearner(
            erased_on=at.date().isoformat(),
            reason=reason,
            role=str(user["role"]),
            status=str(user["status"]),
            joined_month=joined.strftime("%Y-%m"),
            counts=tombstone_counts(rows),
        )
        self.session.expunge_all()
        self.session.add(tombstone)
        await self.session.flush()
        return tombstone

    async def due_for_erasure(self, *, inactive_since: datetime) -> list[User]:
        """Learners whose last activity (or sign-up, if they never wrote) is before the date."""
        last = func.coalesce(User.last_seen_at, User.created_at)
        query = select(User).where(User.role == "learner", last < inactive_since).order_by(User.id)
        return list(await self.session.scalars(query))

    async def stored_files(self) -> set[str]:
        """Every file-store path any row of any table points at."""
        found: set[str] = set()
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if is_file_column(column.name):
                    query = select(column).where(column.is_not(None)).distinct()
                    found.update(str(v) for v in await self.session.scalars(query))
        return found

    async def prune_processed_updates(self, *, before: datetime) -> int:
        """Forgets handled update ids older than `before` (Telegram repeats an update for a
        day at most); returns how many."""
        result = await self.session.execute(
            delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)
