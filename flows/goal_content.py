"""Content for goals and STARR reflections, in five languages, loaded from YAML and validated:
the library of small goals per theme with a tip for when a learner is stuck
(`content/goals.yaml`), and an example answer per STARR step (`content/starr.yaml`)."""

from __future__ import annotations

from functools import cache

import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from flows.competences import CONTENT, Texts, framework

STARR_STEPS = ("situation", "task", "action", "result", "reflection")


class GoalExample(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    text: Texts


class ThemeGoals(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tip: Texts
    examples: tuple[GoalExample, ...]

    @model_validator(mode="after")
    def _enough_examples(self) -> ThemeGoals:
        if len(self.examples) < 5:
            raise ValueError("every theme needs at least five goal examples")
        ids = [example.id for example in self.examples]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate goal example ids: {ids}")
        return self

    def example(self, example_id: str) -> GoalExample | None:
        return next((e for e in self.examples if e.id == example_id), None)


class GoalLibrary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    themes: dict[str, ThemeGoals]

    @model_validator(mode="after")
    def _every_theme(self) -> GoalLibrary:
        expected = {theme.id for theme in framework().themes}
        if set(self.themes) != expected:
            raise ValueError(f"goal themes {sorted(self.themes)} differ from {sorted(expected)}")
        return self


class StarrContent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    examples: dict[str, Texts]

    @model_validator(mode="after")
    def _every_step(self) -> StarrContent:
        if set(self.examples) != set(STARR_STEPS):
            raise ValueError(f"STARR examples must cover exactly {STARR_STEPS}")
        return self


@cache
def goal_library() -> GoalLibrary:
    """The goal examples and tips per theme."""
    data = yaml.safe_load((CONTENT / "goals.yaml").read_text(encoding="utf-8"))
    return GoalLibrary.model_validate(data)


@cache
def starr_content() -> StarrContent:
    """The example answer of every STARR step."""
    data = yaml.safe_load((CONTENT / "starr.yaml").read_text(encoding="utf-8"))
    return StarrContent.model_validate(data)
