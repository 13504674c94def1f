"""What a piece of evidence can be and what makes it good: the evidence types of the pilot and
the five quality criteria (loaded from `flows/content/evidence.yaml`), periods like "03/2025"
or "2021-2024", and the portfolio checks computed from the learner's data."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, ConfigDict

from flows.competences import CONTENT, Texts, framework


class ShowsThemes(Protocol):
    """What counts of a reflection (or a piece) for the coverage of the themes."""

    @property
    def themes(self) -> list[Any]: ...
    @property
    def competences(self) -> list[Any]: ...


class Piece(ShowsThemes, Protocol):
    """What the portfolio checks read of a piece of evidence: a stored `Evidence`, or the
    lighter `PieceFacts` of `uow.evidence.portfolio_facts`."""

    @property
    def number(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def organisation(self) -> str | None: ...
    @property
    def period_start(self) -> str | None: ...
    @property
    def period_end(self) -> str | None: ...
    @property
    def checks(self) -> dict[str, Any]: ...
    @property
    def privacy_confirmed(self) -> bool | None: ...


#: About this many pieces of evidence make a portfolio (DOMAIN.md, "The EVC portfolio").
AIM = 5
#: Evidence older than this many years is not "current" any more.
RECENT_YEARS = 5


class EvidenceType(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: Texts
    #: Whether it may hold client details (case discussions, ethics dilemmas).
    private: bool = False


class Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: Texts
    question: Texts


class EvidenceContent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    types: tuple[EvidenceType, ...]
    criteria: tuple[Criterion, ...]

    def type(self, type_id: str) -> EvidenceType:
        """The evidence type with this id ("other" when it is unknown)."""
        for kind in self.types:
            if kind.id == type_id:
                return kind
        return self.types[-1]


@cache
def content() -> EvidenceContent:
    """The evidence types and the quality criteria."""
    data = yaml.safe_load((CONTENT / "evidence.yaml").read_text(encoding="utf-8"))
    return EvidenceContent.model_validate(data)


# -- periods ------------------------------------------------------------------------------
_DATE = re.compile(
    r"(?P<m1>\d{1,2})\s*[/.\-]\s*(?P<y1>\d{4})(?!\d)"
    r"|(?P<y2>\d{4})\s*[/.\-]\s*(?P<m2>\d{1,2})(?!\d)"
    r"|(?P<y3>\d{4})(?!\d)"
)


def parse_period(text: str, *, now: datetime) -> tuple[str, str | None] | None:
    """Reads "03/2025", "2025-03", "2024", "01/2023 - 06/2024" or "2021-2024".

    Returns (start, end) as "YYYY" or "YYYY-MM" strings (end None for a single moment), or
    None when no sensible date is found (months 1-12, years from 1950 to this year).
    """
    found: list[str] = []
    for match in _DATE.finditer(text):
        year = match["y1"] or match["y2"] or match["y3"]
        month = match["m1"] or match["m2"]
        if not 1950 <= int(year) <= now.year:
            return None
        if month is not None:
            if not 1 <= int(month) <= 12:
                return None
            found.append(f"{year}-{int(month):02d}")
        else:
            found.append(year)
    if not found or len(found) > 2:
        return None
    if len(found) == 1:
        return found[0], None
    start, end = found
    if _last_month(start) > _last_month(end):
        start, end = end, start
    return start, end


def _last_month(value: str) -> str:
    """The last month a period value covers, as YYYY-MM."""
    return value if len(value) == 7 else f"{value}-12"


def period_end(evidence: Piece) -> str | None:
    """The last month the evidence covers, as YYYY-MM."""
    value = evidence.period_end or evidence.period_start
    return _last_month(value) if value else None


def is_old(evidence: Piece, *, now: datetime) -> bool:
    """True when the evidence ends more than five years ago, or the learner said so."""
    if evidence.checks.get("current") == "no":
        return True
    end = period_end(evidence)
    limit = f"{now.year - RECENT_YEARS}-{now.month:02d}"
    return end is not None and end < limit


def show_period(start: str | None, end: str | None) -> str:
    """A period as the learner typed it, in numbers: "03/2025" or "2021 - 06/2024"."""

    def one(value: str) -> str:
        return f"{value[5:]}/{value[:4]}" if len(value) == 7 else value

    if not start:
        return "-"
    return one(start) if not end else f"{one(start)} - {one(end)}"


# -- portfolio checks ---------------------------------------------------------------------
@dataclass(frozen=True)
class Warning:
    """Something missing in the portfolio, with the data needed to say it."""

    kind: str  # old | one_context | theme_empty | thin_competence | privacy
    pieces: tuple[int, ...] = ()  # evidence numbers
    theme_id: str | None = None
    competence_id: str | None = None
    place: str | None = None


@dataclass(frozen=True)
class Coverage:
    """Per theme: how many pieces of evidence and reflections show it."""

    evidence: dict[str, int]
    reflections: dict[str, int]
    competences: dict[str, int]


def coverage(pieces: Sequence[Piece], reflections: Sequence[ShowsThemes]) -> Coverage:
    """Counts evidence and finished reflections per theme, and evidence per competence."""
    themes = [theme.id for theme in framework().themes]
    per_theme = {theme: 0 for theme in themes}
    per_reflection = {theme: 0 for theme in themes}
    per_competence: Counter[str] = Counter()
    for piece in pieces:
        for theme in set(piece.themes):
            if theme in per_theme:
                per_theme[theme] += 1
        per_competence.update(set(piece.competences))
    for reflection in reflections:
        for theme in set(reflection.themes) | {c.split(".")[0] for c in reflection.competences}:
            if theme in per_reflection:
                per_reflection[theme] += 1
    return Coverage(per_theme, per_reflection, dict(per_competence))


def place_of(piece: Piece) -> str:
    """The context of a piece, for comparing: its organisation, ignoring case and spaces."""
    return " ".join((piece.organisation or "").split()).casefold()


def warnings(
    pieces: Sequence[Piece], reflections: Sequence[ShowsThemes], *, now: datetime
) -> list[Warning]:
    """What an assessor would miss, computed from the data, most urgent first."""
    found: list[Warning] = []
    private = [p.number for p in pieces if p.privacy_confirmed is False]
    if private:
        found.append(Warning("privacy", pieces=tuple(private)))
    old = [p.number for p in pieces if is_old(p, now=now)]
    if old:
        found.append(Warning("old", pieces=tuple(old)))
    places = {place_of(p) for p in pieces if place_of(p)}
    if len(pieces) >= 2 and len(places) == 1:
        place = next(p.organisation for p in pieces if p.organisation)
        found.append(Warning("one_context", place=place))
    counts = coverage(pieces, reflections)
    for theme, count in counts.evidence.items():
        if count == 0:
            found.append(Warning("theme_empty", theme_id=theme))
    for competence_id, count in sorted(counts.competences.items()):
        if count < 2:
            numbers = tuple(p.number for p in pieces if competence_id in p.competences)
            found.append(Warning("thin_competence", pieces=numbers, competence_id=competence_id))
    return found
