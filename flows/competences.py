"""The competence framework (six themes, their competences, three levels), loaded from
`flows/content/competences.yaml` and validated at load."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, field_validator

from flows.i18n import LANGUAGES, beside_dutch

CONTENT = Path(__file__).resolve().parent / "content"
LEVELS = ("beginner", "doorstroom", "uitstroom")


class Texts(BaseModel):
    """One text in every supported language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nl: str
    fr: str
    en: str
    ar: str
    tr: str

    @field_validator("nl", "fr", "en", "ar", "tr")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("empty text")
        return value

    def get(self, language: str) -> str:
        """The text in a language (English when the language is unknown)."""
        return str(getattr(self, language if language in LANGUAGES else "en"))

    def with_dutch(self, language: str) -> str:
        """The text in a language with the Dutch term beside it ("Étude de cas
        (Casusbespreking)"): the words a learner will use with a Dutch-speaking assessor."""
        return beside_dutch(self.get(language), self.nl, language)


class Competence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    text: Texts

    @property
    def theme_id(self) -> str:
        return self.id.split(".", 1)[0]


class Theme(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: Texts
    short: Texts
    description: Texts
    competences: tuple[Competence, ...]


class Framework(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    levels: tuple[str, ...]
    themes: tuple[Theme, ...]

    def theme(self, theme_id: str) -> Theme:
        """The theme with this id; KeyError when there is none."""
        for theme in self.themes:
            if theme.id == theme_id:
                return theme
        raise KeyError(theme_id)

    def competence(self, competence_id: str) -> Competence:
        """The competence with this id; KeyError when there is none."""
        for theme in self.themes:
            for competence in theme.competences:
                if competence.id == competence_id:
                    return competence
        raise KeyError(competence_id)

    def number(self, theme_id: str) -> int:
        """The theme's number, 1 to 6, as the programme counts them."""
        return [theme.id for theme in self.themes].index(theme_id) + 1


@cache
def framework() -> Framework:
    """The programme's competence framework."""
    data = yaml.safe_load((CONTENT / "competences.yaml").read_text(encoding="utf-8"))
    return Framework.model_validate(data)
