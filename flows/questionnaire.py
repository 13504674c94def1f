"""Questionnaires as data: YAML files under `flows/questionnaires/`, validated at load.

A questionnaire has an id, a version and questions. A question has an id, a type (`single`,
`multiple`, `text`, `number`, `scale`, `date`, `yesno`), options (or a named `scale`), whether it
is required, a condition on earlier answers (`show_if`), optional help text and a length limit,
and its texts in every supported language. A quick-scan statement may name a `competence`
instead of giving a text: the text then comes from the competence framework.

A broken file is refused with one message naming the file, the question and what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flows.competences import Texts, framework
from flows.i18n import LANGUAGES

FOLDER = Path(__file__).resolve().parent / "questionnaires"
QuestionType = Literal["single", "multiple", "text", "number", "scale", "date", "yesno"]
CHOICE_TYPES = frozenset({"single", "multiple", "scale"})
#: A stored answer: an option id, option ids, text, a number, an ISO date, a voice note
#: (`{"voice": upload_id}`), or None when the learner skipped the question.
Answer = str | int | float | list[str] | dict[str, int] | None


class QuestionnaireError(ValueError):
    """A questionnaire file that cannot be used; the message names the file and the question."""


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9_]{1,24}$")
    text: Texts
    #: What the option means to the program (a time, a weekday number), when it matters.
    value: str | int | None = None


class Condition(BaseModel):
    """Show a question only when an earlier answer fits: one of `in`, at least `min`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    question: str
    in_: tuple[str, ...] | None = Field(default=None, alias="in")
    not_in: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None

    def holds(self, answer: Answer) -> bool:
        """Whether an earlier answer meets the condition (an unanswered one never does)."""
        if answer is None:
            return False
        if self.min is not None or self.max is not None:
            if not isinstance(answer, int | float) or isinstance(answer, bool):
                return False
            low = self.min if self.min is not None else float("-inf")
            high = self.max if self.max is not None else float("inf")
            return low <= answer <= high
        chosen = set(answer) if isinstance(answer, list) else {str(answer)}
        if self.in_ is not None:
            return bool(chosen & set(self.in_))
        if self.not_in is not None:
            return not chosen & set(self.not_in)
        return True


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=r"^[a-z0-9_]{1,24}$")
    type: QuestionType
    text: Texts | None = None
    help: Texts | None = None
    options: tuple[Option, ...] = ()
    scale: str | None = None
    required: bool = True
    show_if: Condition | None = None
    max_length: int = Field(default=500, ge=1, le=4000)
    min: float | None = None
    max: float | None = None
    competence: str | None = None

    def option(self, option_id: str) -> Option | None:
        return next((o for o in self.options if o.id == option_id), None)

    def label(self, language: str) -> str:
        """The question's text in a language."""
        if self.text is not None:
            return self.text.get(language)
        assert self.competence is not None
        return framework().competence(self.competence).text.get(language)


class Questionnaire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9_]{1,32}$")
    version: int = Field(ge=1)
    title: Texts
    scales: dict[str, tuple[Option, ...]] = Field(default_factory=dict)
    questions: tuple[Question, ...] = Field(min_length=1)

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    def visible(self, answers: Mapping[str, Answer]) -> list[Question]:
        """The questions shown for these answers, in order."""
        return [q for q in self.questions if shown(q, answers)]

    def expected(self, answers: Mapping[str, Answer]) -> list[Question]:
        """The questions shown, plus those whose condition is not decided yet (for progress)."""
        return [
            q
            for q in self.questions
            if shown(q, answers) or (q.show_if is not None and q.show_if.question not in answers)
        ]

    def first_open(self, answers: Mapping[str, Answer]) -> Question | None:
        """The first shown question without an answer (a skipped one counts as answered)."""
        return next((q for q in self.visible(answers) if q.id not in answers), None)


def shown(question: Question, answers: Mapping[str, Answer]) -> bool:
    """Whether a question is shown, given the earlier answers."""
    condition = question.show_if
    return condition is None or condition.holds(answers.get(condition.question))


def valid_answer(question: Question, answer: Answer) -> bool:
    """Whether a stored answer still fits a question (used to carry answers to a new version)."""
    if answer is None:
        return not question.required
    if question.type in ("single", "scale"):
        return isinstance(answer, str) and question.option(answer) is not None
    if question.type == "multiple":
        return isinstance(answer, list) and all(question.option(str(a)) for a in answer)
    if question.type == "yesno":
        return answer in ("yes", "no")
    if question.type == "number":
        return isinstance(answer, int | float) and not isinstance(answer, bool)
    if question.type == "date":
        if not isinstance(answer, str):
            return False
        try:
            date.fromisoformat(answer)
        except ValueError:
            return False
        return True
    return isinstance(answer, str) or (isinstance(answer, dict) and "voice" in answer)


def _problem(error: ValidationError, raw: Any) -> tuple[str | None, str]:
    """The question id and a plain description of the first validation error."""
    first = error.errors()[0]
    location = list(first["loc"])
    question_id: str | None = None
    if len(location) >= 2 and location[0] == "questions" and isinstance(location[1], int):
        index = location[1]
        questions = raw.get("questions") if isinstance(raw, dict) else None
        entry = questions[index] if isinstance(questions, list) else None
        found = entry.get("id") if isinstance(entry, dict) else None
        question_id = str(found) if found is not None else f"number {index + 1}"
        location = location[2:]
    where = ".".join(str(part) for part in location)
    if first["type"] == "missing" and location and location[-1] in LANGUAGES:
        parent = ".".join(str(part) for part in location[:-1])
        return question_id, f"{parent} is missing the language {location[-1]!r}"
    if first["type"] == "missing":
        return question_id, f"{where or 'a field'} is missing"
    if first["type"] == "extra_forbidden":
        return question_id, f"unknown field {where!r}"
    return question_id, f"{where}: {first['msg']}" if where else str(first["msg"])


def _check(questionnaire: Questionnaire) -> tuple[str | None, str] | None:
    """Checks what a schema cannot: references between questions, options, the framework."""
    seen: dict[str, Question] = {}
    for question in questionnaire.questions:
        qid = question.id
        if qid in seen:
            return qid, "this question id is used twice"
        if question.scale is not None:
            if question.scale not in questionnaire.scales:
                return qid, f"unknown scale {question.scale!r}"
            if question.options:
                return qid, "give either options or a scale, not both"
        if question.type in CHOICE_TYPES and not (question.options or question.scale):
            return qid, f"a {question.type} question needs options"
        if question.type not in CHOICE_TYPES and (question.options or question.scale):
            return qid, f"a {question.type} question takes no options"
        ids = [o.id for o in question.options]
        if len(set(ids)) != len(ids):
            return qid, "an option id is used twice"
        if question.text is None and question.competence is None:
            return qid, "text is missing"
        if question.competence is not None:
            try:
                framework().competence(question.competence)
            except KeyError:
                return qid, f"unknown competence {question.competence!r}"
        condition = question.show_if
        if condition is not None:
            earlier = seen.get(condition.question)
            if earlier is None:
                return qid, f"show_if refers to {condition.question!r}, not an earlier question"
            options = {o.id for o in resolved_options(questionnaire, earlier)} | {"yes", "no"}
            for option in (condition.in_ or ()) + (condition.not_in or ()):
                if option not in options:
                    return qid, f"show_if names {option!r}, not an option of {earlier.id!r}"
        seen[qid] = question
    return None


def resolved_options(questionnaire: Questionnaire, question: Question) -> tuple[Option, ...]:
    return question.options or questionnaire.scales.get(question.scale or "", ())


def parse(data: Any, *, name: str) -> Questionnaire:
    """Validates questionnaire data; `name` (the file name) is used in the error message."""
    if not isinstance(data, dict):
        raise QuestionnaireError(f"{name}: a questionnaire must be a mapping of fields")
    try:
        questionnaire = Questionnaire.model_validate(data)
    except ValidationError as error:
        question_id, problem = _problem(error, data)
        where = f"question {question_id!r}: " if question_id else ""
        raise QuestionnaireError(f"{name}: {where}{problem}") from None
    problem_at = _check(questionnaire)
    if problem_at is not None:
        question_id, problem = problem_at
        raise QuestionnaireError(f"{name}: question {question_id!r}: {problem}")
    # Scales are written once and shared: fill them into their questions.
    questions = tuple(
        q.model_copy(update={"options": resolved_options(questionnaire, q)})
        for q in questionnaire.questions
    )
    return questionnaire.model_copy(update={"questions": questions})


def load_file(path: Path) -> Questionnaire:
    """Reads and validates one questionnaire file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise QuestionnaireError(f"{path.name}: cannot be read ({error.strerror})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" on line {mark.line + 1}" if mark is not None else ""
        raise QuestionnaireError(f"{path.name}: not valid YAML{line}") from None
    return parse(data, name=path.name)


@cache
def questionnaire(name: str) -> Questionnaire:
    """A shipped questionnaire by id (`intake`, `quickscan`)."""
    return load_file(FOLDER / f"{name}.yaml")
