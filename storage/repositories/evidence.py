"""Repositories for pieces of evidence and CV lines. They never commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import bindparam, func, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CvEntry, Evidence, Reflection


@dataclass(frozen=True, slots=True)
class PieceFacts:
    """What the portfolio checks read of a piece of evidence."""

    number: int
    kind: str
    organisation: str | None
    period_start: str | None
    period_end: str | None
    themes: list[Any]
    competences: list[Any]
    checks: dict[str, Any]
    privacy_confirmed: bool | None


@dataclass(frozen=True, slots=True)
class ReflectionFacts:
    """What the portfolio checks read of a finished reflection."""

    themes: list[Any]
    competences: list[Any]


@dataclass(frozen=True, slots=True)
class PortfolioFacts:
    """A learner's evidence (by number) and finished reflections, as the portfolio counts them."""

    pieces: list[PieceFacts]
    reflections: list[ReflectionFacts]


class EvidenceRepository(Protocol):
    async def add(self, evidence: Evidence) -> Evidence: ...
    async def get(self, evidence_id: int) -> Evidence | None: ...
    async def of_learner(self, learner_id: int) -> list[Evidence]: ...
    async def by_upload(self, *, learner_id: int, upload_id: int) -> Evidence | None: ...
    async def next_number(self, learner_id: int) -> int: ...
    async def delete(self, evidence: Evidence) -> None: ...
    async def portfolio_facts(self, learner_id: int) -> PortfolioFacts: ...


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

    async def portfolio_facts(self, learner_id: int) -> PortfolioFacts:
        """The facts of the portfolio overview and its next steps, in one statement (both
        screens need the evidence and the finished reflections, on every visit)."""
        pieces: list[PieceFacts] = []
        reflections: list[ReflectionFacts] = []
        for row in await self.session.execute(_PORTFOLIO_FACTS, {"learner_id": learner_id}):
            if row.piece:
                pieces.append(
                    PieceFacts(
                        number=row.number,
                        kind=row.kind,
                        organisation=row.organisation,
                        period_start=row.period_start,
                        period_end=row.period_end,
                        themes=row.themes or [],
                        competences=row.competences or [],
                        checks=row.checks or {},
                        privacy_confirmed=row.privacy_confirmed,
                    )
                )
            else:
                reflections.append(ReflectionFacts(row.themes or [], row.competences or []))
        return PortfolioFacts(pieces, reflections)


_EVIDENCE: Any = Evidence.__table__
_REFLECTIONS: Any = Reflection.__table__
#: A learner's evidence rows (`piece` true, by number) UNION ALL their finished reflections'
#: themes and competences (the columns' types are those of the first SELECT).
_PORTFOLIO_FACTS = union_all(
    select(
        literal(True).label("piece"),
        _EVIDENCE.c.number,
        _EVIDENCE.c.kind,
        _EVIDENCE.c.organisation,
        _EVIDENCE.c.period_start,
        _EVIDENCE.c.period_end,
        _EVIDENCE.c.themes,
        _EVIDENCE.c.competences,
        _EVIDENCE.c.checks,
        _EVIDENCE.c.privacy_confirmed,
    ).where(_EVIDENCE.c.learner_id == bindparam("learner_id")),
    select(
        literal(False),
        null(),
        null(),
        null(),
        null(),
        null(),
        _REFLECTIONS.c.themes,
        _REFLECTIONS.c.competences,
        null(),
        null(),
    ).where(
        _REFLECTIONS.c.learner_id == bindparam("learner_id"),
        _REFLECTIONS.c.status == "done",
    ),
).order_by("piece", "number")


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
