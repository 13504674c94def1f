"""How features show a learner to their coach, without the coach flows knowing them.

Each feature (intake, goals, reflections, evidence, ...) registers a section provider with
`@section(order=...)`. The coach's /learner view asks every provider, in order, and shows a
section only when the learner shares it (`share` is "goals", "reflections" or "evidence", the
Membership flags; None means it is visible to the learner's coach without a separate choice).
Items are what a coach can give feedback on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from flows.engine import Context
from storage.models import Membership, User


@dataclass(frozen=True)
class Item:
    """Something a coach can answer with feedback: a goal, a reflection, a piece of evidence."""

    item_type: str  # goal | reflection | evidence
    item_id: int
    title: str
    when: datetime


@dataclass(frozen=True)
class Section:
    """Lines of text about a learner, in the coach's language, and the items among them."""

    title: str
    lines: list[str]
    share: str | None = None
    items: list[Item] = field(default_factory=list)


SectionProvider = Callable[[Context, User], Awaitable[Section | None]]
_PROVIDERS: list[tuple[int, SectionProvider]] = []


def section(*, order: int) -> Callable[[SectionProvider], SectionProvider]:
    """Registers a section provider; lower `order` comes first."""

    def register(provider: SectionProvider) -> SectionProvider:
        _PROVIDERS.append((order, provider))
        _PROVIDERS.sort(key=lambda entry: entry[0])
        return provider

    return register


def shared(section: Section, membership: Membership | None) -> bool:
    """Whether the learner shares this section with their coach."""
    if section.share is None:
        return membership is not None
    if membership is None:
        return False
    return bool(getattr(membership, f"share_{section.share}", False))


async def sections_for(
    ctx: Context, learner: User, membership: Membership | None
) -> list[Section]:
    """Every section the coach (the user of `ctx`) may see about a learner, in order."""
    found: list[Section] = []
    for _, provider in _PROVIDERS:
        result = await provider(ctx, learner)
        if result is not None and shared(result, membership):
            found.append(result)
    return found
