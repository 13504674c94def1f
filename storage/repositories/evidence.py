"""Repositories for pieces of evidence and CV lines. They never commit."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CvEntry, Evidence


class EvidenceRepository(Protocol):
    async def add(self, evidence: Evidence) -> Evidence: ...
    async def get(self, evidence_id: int) -> Evidence | None: ...
    async def of_learner(self, learner_id: int) -> list[Evidence]: ...
    async def by_upload(self, *, learner_id: int, upload_id: int) -> Evidence | None: ...
    async def next_number(self, learner_id: int) -> int: ...
    async def delete(self, evidence: Evidence) -> None: ...


class CvRepository(Protocol):
    async def add(self, entry: CvEntry) -> CvEntry: ...
    async def get(self, entry_id: int) -> CvEntry | None: ...
    async def of_learner(self, learner_id: int) -> list[CvEntry]: ...
    async def delete(self, entry: CvEntry) -> None: ...


class SqlEvidenceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, evidence: Evidence) -> Evidence:
        self.session.add(evidence)
        await self.session.flush()
        return evidence

    async def get(self, evidence_id: int) -> Evidence | None:
        return await self.session.get(Evidence, evidence_id)

    async def of_learner(self, learner_id: int) -> list[Evidence]:
        """A learner's evidence, by number."""
        query = select(Evidence).where(Evidence.learner_id == learner_id)
        return list(await self.session.scalars(query.order_by(Evidence.number)))

    async def by_upload(self, *, learner_id: int, upload_id: int) -> Evidence | None:
        query = select(Evidence).where(
            Evidence.learner_id == learner_id, Evidence.upload_id == upload_id
        )
        return (await self.session.scalars(query.order_by(Evidence.number))).first()

    async def next_number(self, learner_id: int) -> int:
        """The number the learner's next piece of evidence gets."""
        query = select(func.max(Evidence.number)).where(Evidence.learner_id == learner_id)
        return int(await self.session.scalar(query) or 0) + 1

    async def delete(self, evidence: Evidence) -> None:
        await self.session.delete(evidence)


class SqlCvRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, entry: CvEntry) -> CvEntry:
        self.session.add(entry)
        await self.session.flush()
        return entry

    async def get(self, entry_id: int) -> CvEntry | None:
        return await self.session.get(CvEntry, entry_id)

    async def of_learner(self, learner_id: int) -> list[CvEntry]:
        """A learner's CV lines, most recent start first."""
        query = select(CvEntry).where(CvEntry.learner_id == learner_id)
        rows = list(await self.session.scalars(query.order_by(CvEntry.id)))
        return sorted(rows, key=lambda e: e.start or "", reverse=True)

    async def delete(self, entry: CvEntry) -> None:
        await self.session.delete(entry)
