"""The composition root: database engine, unit of work factory and flow engine from settings."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from flows import Engine, FlowConfig, build_flows, default_flows
from flows.engine import Clock
from flows.nudges import NudgePolicy
from storage.db import create_engine, create_sessionmaker
from storage.migrate import upgrade
from storage.uow import SqlUnitOfWork


def utc_clock() -> datetime:
    """The real clock, in UTC."""
    return datetime.now(UTC)


@dataclass
class Runtime:
    """What one process shares between updates and jobs."""

    settings: Settings
    db: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    engine: Engine
    #: Outbox senders of channels other than Telegram, by channel (WhatsApp's), for the
    #: dispatcher of this process.
    senders: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings, *, clock: Clock = utc_clock) -> Runtime:
        """Builds the runtime; opens no connection yet."""
        db = create_engine(settings.database_url)
        sessionmaker = create_sessionmaker(db)
        engine = Engine(
            uow_factory=lambda: SqlUnitOfWork(sessionmaker),
            reader_factory=lambda: SqlUnitOfWork(sessionmaker, read_only=True),
            flows=build_flows(default_flows()),
            config=FlowConfig(
                timezone=settings.timezone,
                default_language=settings.default_language,
                data_dir=settings.data_dir,
                retention_months=settings.retention_months,
                transcription_model_dir=settings.transcription_model_dir,
            ),
            clock=clock,
        )
        return cls(settings=settings, db=db, sessionmaker=sessionmaker, engine=engine)

    def nudge_policy(self) -> NudgePolicy:
        """The scheduler's policy from the settings."""
        return NudgePolicy(timezone=self.settings.timezone, holdout=self.settings.nudge_holdout)

    def uow(self) -> SqlUnitOfWork:
        """A new unit of work."""
        return SqlUnitOfWork(self.sessionmaker)

    def reader(self) -> SqlUnitOfWork:
        """A new read-only unit of work (on SQLite it does not take the write lock)."""
        return SqlUnitOfWork(self.sessionmaker, read_only=True)

    async def close(self) -> None:
        """Closes the database connections."""
        await self.db.dispose()


#: The collector's thresholds in a running bot. CPython collects its youngest generation every
#: 700 allocations; a planning round keeps a batch of 2,000 learners' reads and plans alive
#: and was rescanned that often, which cost a third of its CPU (bench/nudges.py: a week for
#: 100,000 learners, 49.9 s of CPU at 700 and 34.5 s at 20,000; with no collection at all,
#: 35.8 s). Only garbage in reference cycles waits longer; the memory benchmark shows the cost.
GC_THRESHOLDS = (20_000, 10, 10)


def tune_collector() -> None:
    """Sets the collector's thresholds of the long-running processes, `opstap run` and
    `opstap dispatcher` (the benchmarks call it too, to measure the process as deployed)."""
    gc.set_threshold(*GC_THRESHOLDS)


def migrate(settings: Settings) -> None:
    """Brings the schema up to date. Runs outside any event loop."""
    upgrade(settings.database_url)
