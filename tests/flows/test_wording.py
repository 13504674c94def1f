"""Every message reads right: each slip seen in issue 17, with the test that would have caught
it (plural forms, doubled full stops, weekdays mid-sentence, labels cut mid-word, dead ends,
honest answers, a way back from /language)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.i18n import Translator, shorten, tidy
from flows.menu_words import wanted_command
from storage.models import Evidence
from tests.fakes import ChatDriver, FakeClock, FakeUnitOfWork, fake_engine


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


async def onboarded(tmp_path: Path, uow: FakeUnitOfWork, language: str) -> ChatDriver:
    engine, _ = fake_engine(tmp_path, uow=uow, clock=FakeClock())
    chat = ChatDriver(engine, language=language)
    await chat.command("start")
    await chat.press_data(chat.last[-1].flat_buttons[0].data)  # agree
    await chat.text("Samira")
    await chat.command("cancel")  # leave the intake: at the main menu
    return chat


def test_a_quoted_competence_ending_in_a_full_stop_gets_no_second_one() -> None:
    t = Translator("nl")
    text = t._(
        "Only piece {numbers} shows \u201c{competence}\u201d. Add a second piece for this "
        "competence.",
        numbers="1",
        competence="Taken uitvoeren.",
    )
    assert ".\u201d." not in text and "uitvoeren.\u201d" in text
    assert tidy("Ik kan ...\u201d en") == "Ik kan ...\u201d en"  # an ellipsis stays


def test_weekdays_are_lower_case_inside_dutch_and_french_sentences() -> None:
    nl, fr = Translator("nl"), Translator("fr")
    assert nl._("Today ({day})", day=nl.weekday(2)) == "Vandaag (woensdag)"
    assert nl.weekday_label(2) == "Woensdag" and fr.weekday(0) == "lundi"
    assert Translator("tr").weekday(3) == "Perşembe"  # Turkish writes them with a capital


def test_labels_are_shortened_at_a_word_boundary_with_an_ellipsis() -> None:
    label = shorten("Kinderdagverblijf De Speelboom, Molenbeek-Sint-Jan")
    assert label == "Kinderdagverblijf De Speelboom\u2026"
    assert shorten("Kort") == "Kort"
    assert len(shorten("x" * 80)) == 40


def test_limits_use_the_plural_form_of_each_language() -> None:
    ar = Translator("ar")
    one = ar.n_(
        "Please keep it under {limit} character.",
        "Please keep it under {limit} characters.",
        300,
        limit=300,
    )
    assert one.endswith("حرف.")  # 100 and more: the singular noun, as Arabic counts
    nl = Translator("nl").n_(
        "Please keep it under {limit} character.",
        "Please keep it under {limit} characters.",
        1,
        limit=1,
    )
    assert nl == "Houd het onder 1 teken."


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("hallo, ik weet niet wat ik moet doen", None),
        ("ik wil een doel", "goal"),
        ("mes objectifs", "goal"),
        ("أريد الهدف", "goal"),
        ("hedefim", "goal"),
        ("een bewijsstuk toevoegen", "evidence"),
        ("dilekçe", None),
        ("doel en bewijs", None),  # two wishes: the menu, not a guess
    ],
)
def test_menu_words_in_five_languages(text: str, command: str | None) -> None:
    assert wanted_command(text) == command


async def test_free_text_at_the_menu_gets_words_and_a_way_forward(
    tmp_path: Path, uow: FakeUnitOfWork
) -> None:
    chat = await onboarded(tmp_path, uow, "nl")
    await chat.text("hallo, ik weet niet wat ik moet doen")
    assert chat.texts[0].startswith("Tik op een knop, of zeg wat je wilt doen")
    assert chat.last[-1].flat_buttons  # and the menu
    await chat.text("ik wil een leerdoel")
    assert "Rond welk thema wil je deze week werken?" in chat.said


async def test_language_marks_the_current_one_and_has_a_way_back(
    tmp_path: Path, uow: FakeUnitOfWork
) -> None:
    chat = await onboarded(tmp_path, uow, "fr")
    await chat.command("language")
    labels = [b.label for b in chat.last[-1].flat_buttons]
    assert "\u2713 Français" in labels and "Nederlands" in labels
    assert chat.texts[-1] == "Choisis ta langue. Maintenant : Français."
    await chat.press("« Retour")
    (user,) = uow.users.rows.values()
    assert user.language == "fr"
    assert "Que veux-tu faire ?" in chat.said


async def test_dutch_level_offers_a_step_below_a2(tmp_path: Path, uow: FakeUnitOfWork) -> None:
    from flows.questionnaire import questionnaire

    level = questionnaire("intake").question("dutch_level")
    assert level is not None and level.options[0].id == "a1"
    assert level.options[0].text.get("nl").startswith("A1:")


async def test_no_time_without_a_coach_does_not_promise_one(
    tmp_path: Path, uow: FakeUnitOfWork
) -> None:
    chat = await onboarded(tmp_path, uow, "ar")
    await chat.command("goal")
    await chat.press_data(chat.last[-1].flat_buttons[0].data)  # a theme
    await chat.press_data(chat.last[-1].flat_buttons[0].data)  # the first example
    await chat.press_data(chat.last[-1].flat_buttons[0].data)  # today
    await chat.text("أسأل مسؤولة الفريق")
    await chat.press("4")
    await chat.command("checkin")
    await chat.press_data(chat.last[-1].flat_buttons[3].data)  # no time this week
    assert "مدرب" not in chat.texts[0]  # no "your coach will know" without a coach
    assert chat.texts[0].startswith("شكرًا لأنك أخبرتني.")


async def test_the_example_first_step_names_the_chosen_day(
    tmp_path: Path, uow: FakeUnitOfWork
) -> None:
    chat = await onboarded(tmp_path, uow, "nl")
    await chat.command("goal")
    await chat.press("Communicatie")
    await chat.press("1")
    await chat.press("Donderdag")
    assert "\u201cOp donderdag vraag ik" in chat.texts[-1]
    assert "Maandag" not in chat.texts[-1]


async def test_a_refused_file_is_not_thanked_for_first(
    tmp_path: Path, uow: FakeUnitOfWork
) -> None:
    chat = await onboarded(tmp_path, uow, "fr")
    await chat.file("document", b"this is no pdf at all", file_name="fake.pdf")
    assert not any(text.startswith("Merci !") for text in chat.texts)
    assert not uow.evidence.rows


async def test_every_next_step_can_be_seen(tmp_path: Path, uow: FakeUnitOfWork) -> None:
    chat = await onboarded(tmp_path, uow, "nl")
    (user,) = uow.users.rows.values()
    for number in (1, 2):
        await uow.evidence.add(
            Evidence(
                learner_id=user.id,
                number=number,
                kind="project",
                media="text",
                title=f"Stuk {number}",
                organisation="De Buurt vzw",
                period_start="2025-03",
                competences=["social_map.purpose"],
                themes=["social_map"],
                checks={"authentic": "yes"},
            )
        )
    await chat.command("portfolio")
    overview = chat.texts[-1]
    assert "\u2026 en nog" in overview and "volgende stap" in overview
    await chat.press("Alle volgende stappen")
    steps = chat.texts[-1]
    assert steps.count("\u2022") > overview.count("\u2022")
    await chat.press("« Terug")
    assert "Je portfolio" in chat.said


async def test_what_is_evc_is_answered_from_help_and_the_portfolio(
    tmp_path: Path, uow: FakeUnitOfWork
) -> None:
    chat = await onboarded(tmp_path, uow, "tr")
    await chat.command("help")
    assert "/evc" in chat.said
    await chat.command("portfolio")
    await chat.press("EVC nedir?")
    assert "Eerder Verworven Competenties" in chat.said


def test_the_dutch_term_stands_beside_starr_steps_evidence_kinds_and_checks() -> None:
    from flows.evidence_content import content

    assert Translator("fr").with_dutch("Situation") == "Situation (Situatie)"
    assert Translator("ar").with_dutch("Task").endswith("(\u2068Taak\u2069)")
    assert Translator("nl").with_dutch("Action") == "Actie"  # Dutch readers: once
    assert Translator("en").with_dutch("Result") == "Result (Resultaat)"
    case = content().type("case_discussion").name
    assert case.with_dutch("tr") == "Vaka tartışması (Casusbespreking)"
    authentic = content().criteria[0].name
    assert authentic.with_dutch("fr") == "Authentique (Authentiek)"
    assert authentic.with_dutch("nl") == "Authentiek"


async def test_evidence_kinds_are_offered_with_their_dutch_names(
    tmp_path: Path, uow: FakeUnitOfWork
) -> None:
    chat = await onboarded(tmp_path, uow, "fr")
    await chat.command("evidence")
    await chat.text("Un compte rendu de la réunion de parents")
    assert "(Casusbespreking)" in " ".join(b.label for b in chat.last[-1].flat_buttons)
