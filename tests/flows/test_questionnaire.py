"""Questionnaire files: the schema's error messages, the shipped content in five languages,
and `opstap questionnaire check`."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from flows.competences import framework
from flows.i18n import LANGUAGES
from flows.questionnaire import FOLDER, QuestionnaireError, load_file, parse, questionnaire
from flows.signals import BARRIERS


def texts(word: str) -> dict[str, str]:
    return {code: f"{word} {code}" for code in LANGUAGES}


def valid() -> dict[str, Any]:
    return {
        "id": "demo",
        "version": 1,
        "title": texts("Demo"),
        "questions": [
            {
                "id": "colour",
                "type": "single",
                "text": texts("Colour?"),
                "options": [
                    {"id": "red", "text": texts("Red")},
                    {"id": "blue", "text": texts("Blue")},
                ],
            },
            {
                "id": "why",
                "type": "text",
                "text": texts("Why?"),
                "show_if": {"question": "colour", "in": ["red"]},
            },
        ],
    }


def broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(valid())
    change(data)
    return data


def refused(data: Any) -> str:
    with pytest.raises(QuestionnaireError) as error:
        parse(data, name="demo.yaml")
    return str(error.value)


def test_a_valid_questionnaire_loads() -> None:
    form = parse(valid(), name="demo.yaml")
    assert [q.id for q in form.visible({"colour": "blue"})] == ["colour"]
    assert [q.id for q in form.visible({"colour": "red"})] == ["colour", "why"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["questions"][0]["text"].pop("ar"),
            "demo.yaml: question 'colour': text is missing the language 'ar'",
        ),
        (
            lambda d: d["questions"][0]["options"][1]["text"].pop("tr"),
            "demo.yaml: question 'colour': options.1.text is missing the language 'tr'",
        ),
        (
            lambda d: d["questions"][1].pop("text"),
            "demo.yaml: question 'why': text is missing",
        ),
        (
            lambda d: d["questions"][1].update(colour="x"),
            "demo.yaml: question 'why': unknown field 'colour'",
        ),
        (
            lambda d: d["questions"][1].update(type="essay"),
            "demo.yaml: question 'why': type: Input should be 'single', 'multiple', 'text', "
            "'number', 'scale', 'date' or 'yesno'",
        ),
        (
            lambda d: d["questions"][1].update(id="colour"),
            "demo.yaml: question 'colour': this question id is used twice",
        ),
        (
            lambda d: d["questions"].reverse(),
            "demo.yaml: question 'why': show_if refers to 'colour', not an earlier question",
        ),
        (
            lambda d: d["questions"][1]["show_if"].update({"in": ["green"]}),
            "demo.yaml: question 'why': show_if names 'green', not an option of 'colour'",
        ),
        (
            lambda d: d["questions"][0].pop("options"),
            "demo.yaml: question 'colour': a single question needs options",
        ),
        (
            lambda d: d["questions"][1].update(options=[{"id": "a", "text": texts("A")}]),
            "demo.yaml: question 'why': a text question takes no options",
        ),
        (
            lambda d: d["questions"][0].update(scale="five"),
            "demo.yaml: question 'colour': unknown scale 'five'",
        ),
        (
            lambda d: d["questions"][1].update(competence="planning.nothing"),
            "demo.yaml: question 'why': unknown competence 'planning.nothing'",
        ),
        (
            lambda d: d["title"].update(nl=" "),
            "demo.yaml: title.nl: Value error, empty text",
        ),
        (lambda d: d.pop("version"), "demo.yaml: version is missing"),
    ],
)
def test_broken_files_are_refused_with_one_clear_message(change: Any, message: str) -> None:
    assert refused(broken(change)) == message


def test_not_a_mapping_and_bad_yaml_are_refused(tmp_path: Path) -> None:
    assert refused(["a list"]) == "demo.yaml: a questionnaire must be a mapping of fields"
    path = tmp_path / "bad.yaml"
    path.write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(QuestionnaireError, match=r"^bad\.yaml: not valid YAML on line 2$"):
        load_file(path)


@pytest.mark.parametrize("name", ["intake", "quickscan"])
def test_every_question_and_option_is_in_all_five_languages(name: str) -> None:
    form = questionnaire(name)
    assert form.id == name
    for question in form.questions:
        labels = {code: question.label(code) for code in LANGUAGES}
        assert all(label.strip() for label in labels.values()), question.id
        assert len(set(labels.values())) == len(LANGUAGES), question.id
        for option in question.options:
            option_texts = {option.text.get(code) for code in LANGUAGES}
            assert all(option_texts) and len(option_texts) >= 4, (question.id, option.id)
        if question.help is not None:
            assert all(question.help.get(code).strip() for code in LANGUAGES)


def test_intake_content_fits_the_contracts() -> None:
    form = questionnaire("intake")
    ids = [q.id for q in form.questions]
    for needed in ("profile", "sector", "job", "years", "education", "mother_tongue"):
        assert needed in ids
    assert len(form.question("profile").options) == 4  # type: ignore[union-attr]
    barriers = [o.id for o in form.question("barriers").options]  # type: ignore[union-attr]
    assert set(barriers) - {"other"} <= set(BARRIERS) and "other" in barriers
    levels = {o.id for o in form.question("dutch_level").options}  # type: ignore[union-attr]
    assert levels == {"a1", "a2", "b1", "b2"}  # below A2 too: those who need it most
    assert form.question("motivations").type == "multiple"  # type: ignore[union-attr]


def test_quick_scan_has_two_to_four_statements_per_theme_on_four_points() -> None:
    form = questionnaire("quickscan")
    per_theme: dict[str, int] = {}
    for question in form.questions:
        assert question.competence is not None and question.type == "scale"
        framework().competence(question.competence)
        assert [o.id for o in question.options] == [
            "not_yet",
            "with_help",
            "on_my_own",
            "can_teach",
        ]
        theme = question.competence.split(".")[0]
        per_theme[theme] = per_theme.get(theme, 0) + 1
    assert set(per_theme) == {theme.id for theme in framework().themes}
    assert all(2 <= count <= 4 for count in per_theme.values())


def test_competence_descriptions_use_tu_and_sen() -> None:
    for theme in framework().themes:
        french, turkish = theme.description.get("fr"), theme.description.get("tr")
        assert not any(word in french.split() for word in ("vous", "votre", "vos"))
        assert "niz" not in turkish and "nız" not in turkish and "nuz" not in turkish


def test_check_command_accepts_shipped_files_and_names_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped = sorted(str(path) for path in FOLDER.glob("*.yaml"))
    assert len(shipped) == 2
    assert main(["questionnaire", "check", *shipped]) == 0
    out = capsys.readouterr().out
    assert "intake.yaml: ok (intake version 1, 14 questions)" in out
    data = yaml.safe_load((FOLDER / "intake.yaml").read_text(encoding="utf-8"))
    del data["questions"][2]["text"]["fr"]
    bad = tmp_path / "intake.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert main(["questionnaire", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err == "opstap: intake.yaml: question 'job': text is missing the language 'fr'\n"
