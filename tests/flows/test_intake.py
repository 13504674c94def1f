"""The intake and the quick scan on the fake unit of work: branching, back, skip, multiple
choice, resuming, editing, versions, derived results, outreach links and the coach view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from flows import coachview
from flows.engine import Context, Engine
from flows.intake import intake_results
from flows.questionnaire import FOLDER, Questionnaire, parse, questionnaire
from flows.quickscan import level_for, scan_results, strengths_and_growth
from flows.signals import BARRIER
from storage.models import Conversation, Group, Membership, User
from tests.fakes import ChatDriver, FakeUnitOfWork, fake_engine

INTAKE = questionnaire("intake")
SCAN = questionnaire("quickscan")


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def engine(tmp_path: Path, uow: FakeUnitOfWork) -> Engine:
    return fake_engine(tmp_path, uow=uow)[0]


@pytest.fixture
def chat(engine: Engine) -> ChatDriver:
    return ChatDriver(engine)


def learner(uow: FakeUnitOfWork, external_id: str = "learner-1") -> User:
    return next(u for u in uow.users.rows.values() if u.external_id == external_id)


def answers_of(uow: FakeUnitOfWork, name: str = "intake") -> dict[str, Any]:
    (row,) = [r for r in uow.responses.rows if r.questionnaire == name]
    return dict(row.answers)


async def onboard(chat: ChatDriver, language: str = "English", name: str = "Samira") -> None:
    await chat.command("start")
    await chat.press(language)
    await chat.press_data(chat.last[-1].flat_buttons[0].data)  # agree
    await chat.text(name)


async def answer_until_barriers(
    chat: ChatDriver, *, years: str = "5", tongue: str = "Arabic"
) -> None:
    await chat.press("I am a volunteer")
    await chat.press("Youth work")
    await chat.text("youth worker in a school")
    await chat.text(years)
    await chat.press("Secondary school")
    await chat.press(tongue)
    if tongue != "Dutch":
        await chat.press("A2")
    await chat.press("Speak and practise Dutch")
    await chat.press("Done")


async def answer_the_rest(chat: ChatDriver) -> None:
    await chat.press("I have not asked yet")
    await chat.press("Tuesday")
    await chat.press("Thursday")
    await chat.press("Done")
    await chat.press("In the evening")
    await chat.press("Only on the days I chose")


async def full_intake(chat: ChatDriver, **options: str) -> None:
    await onboard(chat)
    await answer_until_barriers(chat, **options)
    await chat.press("Little time")
    await chat.press("I am afraid it will be too hard")
    await chat.press("Done")
    await answer_the_rest(chat)


# -- the conversation ---------------------------------------------------------------------
async def test_onboarding_hands_over_and_the_whole_intake_runs(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await onboard(chat)
    assert chat.texts[-1] == "(1/14) What fits you best?"
    assert [b.label for b in chat.last[-1].flat_buttons][2] == "I am a volunteer"
    await answer_until_barriers(chat)
    assert chat.texts[-1].startswith("(9/14) What could make learning hard for you?")
    await chat.press("Little time")
    await chat.press("I am afraid it will be too hard")
    await chat.press("Done")
    assert chat.texts[-1] == "(11/14) Does your employer support your learning?"
    await answer_the_rest(chat)
    said = chat.said
    assert "You have 5 years of experience: that is a lot! The EVC route suits you:" in said
    assert "Extra support for your Dutch can help you a lot." in said
    assert "When you join your learning group, your coach sees it" in said  # no coach yet
    assert chat.texts[-1].startswith("One more thing: a quick scan of five minutes.")
    user = learner(uow)
    assert [s.details for s in uow.signals.rows if s.kind == BARRIER] == [
        {"barrier": "time"},
        {"barrier": "fear"},
    ]
    (preferences,) = uow.preferences.rows
    assert (preferences.goal_weekday, preferences.preferred_time) == (1, "19:00")
    assert preferences.days_off == [0, 2, 4, 5, 6]
    (row,) = uow.responses.rows
    assert (row.user_id, row.version, row.language) == (user.id, 1, "en")
    assert row.completed_at is not None
    assert row.results["route"] == "evc" and row.results["language_support"] is True
    assert row.answers["job"] == "youth worker in a school"


async def test_dutch_mother_tongue_skips_the_level_question(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await onboard(chat)
    await answer_until_barriers(chat, tongue="Dutch", years="1")
    assert "dutch_level" not in answers_of(uow)
    await chat.press("Skip")
    await answer_the_rest(chat)
    assert "The regular route suits you best for now" in chat.said
    assert "Extra support for your Dutch" not in chat.said
    results = uow.responses.rows[0].results
    assert results["route"] == "regular" and results["barriers"] == []


async def test_other_barrier_asks_what_else_and_accepts_a_voice_note(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await onboard(chat)
    await answer_until_barriers(chat)
    await chat.press("Something else")
    await chat.press("Done")
    assert chat.texts[-1].startswith("(10/14) What else makes it hard?")
    await chat.file("voice", b"OggS" + b"\0" * 60, duration=3)
    assert chat.texts[0] == "Thank you, I kept your voice note."
    (upload,) = uow.uploads.rows
    assert answers_of(uow)["barriers_other"] == {"voice": upload.id}
    assert upload.kind == "voice" and upload.mime_type == "audio/ogg"


async def test_back_returns_to_the_previous_question_with_the_answer_marked(
    chat: ChatDriver,
) -> None:
    await onboard(chat)
    await chat.press("I am a volunteer")
    await chat.press("Youth work")
    assert chat.texts[-1].startswith("(3/14) What is your job?")
    await chat.press("« Back")
    assert chat.texts[-1] == "(2/14) What kind of work are you in?"
    assert "✓ Youth work" in [b.label for b in chat.last[-1].flat_buttons]
    await chat.press("« Back")
    assert chat.texts[-1] == "(1/14) What fits you best?"
    labels = [b.label for b in chat.last[-1].flat_buttons]
    assert "« Back" not in labels and "✓ I am a volunteer" in labels
    await chat.press("I am looking for work or want to change jobs")
    assert chat.texts[-1].startswith("(3/14) What is your job?")  # the first open question


async def test_skip_only_where_allowed(chat: ChatDriver, uow: FakeUnitOfWork) -> None:
    await onboard(chat)
    assert "Skip" not in [b.label for b in chat.last[-1].flat_buttons]
    await answer_until_barriers(chat)
    assert "Skip" in [b.label for b in chat.last[-1].flat_buttons]
    await chat.press("Skip")
    assert answers_of(uow)["barriers"] is None
    assert chat.texts[-1] == "(11/14) Does your employer support your learning?"


async def test_multiple_choice_toggles_in_place_and_needs_one_when_required(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await onboard(chat)
    await answer_until_barriers(chat)  # motivations answered with one choice
    await chat.press("« Back")
    assert "✓ Speak and practise Dutch" in [b.label for b in chat.last[-1].flat_buttons]
    replies = await chat.press("Speak and practise Dutch")
    assert len(replies) == 1 and replies[0].replace
    assert "Speak and practise Dutch" in [b.label for b in replies[0].flat_buttons]
    await chat.press("Done")
    assert chat.texts[0].startswith("Please choose at least one, then tap Done.\n\n(")
    await chat.press("Get a diploma as fast as possible")
    await chat.press("See if further study is for me")
    await chat.text("hello")
    assert chat.texts[0].startswith("Tap everything that fits, then tap Done.\n\n(")
    await chat.press("Done")
    assert answers_of(uow)["motivations"] == ["higher_studies", "diploma"]


async def test_bad_answers_get_kind_messages(chat: ChatDriver, uow: FakeUnitOfWork) -> None:
    await onboard(chat)
    await chat.text("3")  # the third option, by number
    assert answers_of(uow)["profile"] == "volunteer"
    await chat.text("Youth work")  # the option, by its label
    await chat.text("x" * 201)
    assert chat.texts[0].startswith("That is a bit long. Please use at most 200 characters.\n\n(")
    await chat.text("cook")
    await chat.text("many")
    assert chat.texts[0].startswith("Please type a number, for example 4.\n\n(")
    await chat.text("80")
    assert chat.texts[0].startswith("Please type a number from 0 to 50.\n\n(")
    await chat.file("photo", b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    assert chat.texts[0] == (
        "I keep photos, documents and videos as evidence. Finish this first, then send "
        "/evidence and the file again."
    )
    assert chat.texts[1].startswith("(4/14)")  # the same question again
    await chat.text("2,5")
    assert answers_of(uow)["years"] == 2.5
    await chat.text("maybe")
    assert chat.texts[0].startswith("Please tap one of the buttons.\n\n(")


async def test_resume_after_restart_with_intake_and_start(
    tmp_path: Path, uow: FakeUnitOfWork, chat: ChatDriver
) -> None:
    await onboard(chat)
    await chat.press("I am a volunteer")
    await chat.press("Youth work")
    # A new engine on the same storage: a restart.
    again = ChatDriver(fake_engine(tmp_path, uow=uow)[0])
    await again.command("cancel")
    await again.command("intake")
    assert again.texts == [
        "Let us continue where you left off.",
        "(3/14) What is your job? Write it in a few words, or send a voice note.\n\n"
        "For example: assistant in a day nursery.",
    ]
    await again.text("cook")
    await again.command("cancel")
    await again.command("start")
    assert again.texts[-1].startswith("(4/14) How many years")
    assert answers_of(uow)["job"] == "cook"


async def test_after_completion_intake_shows_answers_and_changes_one(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await full_intake(chat, years="1")
    await chat.press("Later")
    assert chat.texts[0] == "Fine. Send /quickscan when you are ready."
    await chat.command("intake")
    assert chat.texts[0].startswith("These are your intake answers:")
    assert "→ I am a volunteer" in chat.texts[0]
    assert "→ Little time, I am afraid it will be too hard" in chat.texts[0]
    await chat.press("Change an answer")
    await chat.press("How many years have you worked in")
    assert chat.texts[-1].startswith("(4/14) How many years")
    await chat.text("6")
    assert chat.texts[0] == "Thank you, I changed your answer."
    assert "→ 6" in chat.said and "The EVC route suits you:" in chat.said
    row = uow.responses.rows[0]
    assert row.answers["years"] == 6 and row.results["route"] == "evc"
    # Adding a barrier records only the new one.
    await chat.press("Change an answer")
    await chat.press("What could make learning hard")
    await chat.press("Dutch is hard for me")
    await chat.press("Done")
    barriers = [s.details["barrier"] for s in uow.signals.rows if s.kind == BARRIER]
    assert barriers == ["time", "fear", "language"]
    await chat.press("That is all")
    assert chat.texts[-1].startswith("One more thing")


def version_two() -> Questionnaire:
    data = yaml.safe_load((FOLDER / "intake.yaml").read_text(encoding="utf-8"))
    data["version"] = 2
    sector = data["questions"][1]
    sector["options"] = [o for o in sector["options"] if o["id"] != "youth"]
    data["questions"].insert(
        3,
        {
            "id": "mentor",
            "type": "yesno",
            "text": {
                "nl": "Heb je een mentor op je werk?",
                "fr": "As-tu un mentor au travail ?",
                "en": "Do you have a mentor at work?",
                "ar": "هل لديك مرشد في العمل؟",
                "tr": "İşte bir mentorun var mı?",
            },
        },
    )
    return parse(data, name="intake.yaml")


async def test_a_new_version_keeps_old_answers_and_asks_only_what_is_new(
    chat: ChatDriver, uow: FakeUnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    await full_intake(chat)
    await chat.press("Later")
    old = uow.responses.rows[0]
    before = (dict(old.answers), dict(old.results), old.completed_at)
    two = version_two()
    monkeypatch.setattr(
        "flows.questionnaire_flow.questionnaire", lambda name: two if name == "intake" else SCAN
    )
    await chat.command("intake")
    assert chat.texts == [
        "Let us continue where you left off.",
        "(2/15) What kind of work are you in?",
    ]
    await chat.press("Childcare")
    assert chat.texts[-1] == "(4/15) Do you have a mentor at work?"
    await chat.press("Yes")
    assert chat.texts[-1].startswith("One more thing")
    assert (dict(old.answers), dict(old.results), old.completed_at) == before
    assert old.answers["sector"] == "youth" and old.version == 1
    new = next(r for r in uow.responses.rows if r.version == 2)
    assert new.answers["sector"] == "childcare" and new.answers["mentor"] == "yes"
    assert new.answers["job"] == old.answers["job"]
    # The barriers did not change: no signal twice.
    assert len([s for s in uow.signals.rows if s.kind == BARRIER]) == 2


async def test_quick_scan_stores_theme_levels_and_shows_a_chart(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await full_intake(chat)
    await chat.press("Yes, let us start")
    assert chat.texts[-1].startswith(
        "Theme 1: Social map and organisation (Sociale kaart en organisatie)\n\n(1/18) I can"
    )
    scale = ["Not yet", "With help", "On my own", "I can teach others"]
    assert [b.label for b in chat.last[-1].flat_buttons][:4] == scale
    points = [1, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 2, 2, 2, 1, 2, 1]
    for point in points:
        await chat.press(scale[point - 1])
    photo = next(r for r in chat.last if r.file is not None)
    assert photo.file is not None and photo.file.kind == "photo"
    assert photo.file.path.read_bytes().startswith(b"\x89PNG")
    assert "1. Social map: 1" in photo.text and "4. Communication: 4" in photo.text
    assert (
        "You are already strong in: 4. Communication and 3. Collaboration. Well done!" in chat.said
    )
    assert "You can grow most in: 1. Social map and 6. Planning." in chat.said
    assert chat.texts[-1] == "What would you like to do?"
    user = learner(uow)
    levels = {
        row.theme_id: (row.score, row.level) for row in await uow.theme_levels.of_user(user.id)
    }
    assert levels == {
        "social_map": (1.0, "beginner"),
        "guiding": (2.33, "beginner"),
        "collaboration": (3.0, "doorstroom"),
        "communication": (4.0, "uitstroom"),
        "reflection": (2.0, "beginner"),
        "planning": (1.33, "beginner"),
    }
    await chat.command("quickscan")
    assert any(r.file for r in chat.last)
    assert chat.texts[-1] == "Do you want to do the quick scan again?"


async def test_start_after_intake_offers_the_scan_then_the_menu(chat: ChatDriver) -> None:
    await full_intake(chat)
    await chat.command("cancel")
    await chat.command("start")
    assert chat.texts[-1].startswith("One more thing")


async def test_intake_in_arabic_uses_the_learners_language(chat: ChatDriver) -> None:
    await onboard(chat, language="العربية", name="Amal")
    assert chat.texts[-1] == "(1/14) ما الذي يناسب وضعك أكثر؟"
    assert chat.last[-1].rtl


# -- outreach -----------------------------------------------------------------------------
async def coach_with_group(uow: FakeUnitOfWork) -> tuple[User, Group]:
    coach = await uow.users.add(
        User(channel="test", external_id="coach-1", role="coach", language="nl")
    )
    group = await uow.groups.add(Group(name="Leergroep A", coach_id=coach.id, join_code="ABC123"))
    return coach, group


async def test_outreach_link_runs_onboarding_then_intake_and_tells_the_coach(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    coach, group = await coach_with_group(uow)
    await chat.command("start", "intake_ABC123")
    await chat.press("Français")
    await chat.press("Oui, d'accord")
    await chat.text("Karim")
    assert chat.texts[-1] == "(1/14) Qu'est-ce qui te correspond le mieux ?"
    await chat.text("1")
    for _ in range(2):
        await chat.text("1")  # sector, then a job named "1"
    await chat.text("4")
    await chat.text("2")  # secondary school
    await chat.text("2")  # French
    await chat.press("B1 : je peux raconter à un collègue ce qui s'est passé")
    await chat.press("Grandir comme personne et dans mon travail")
    await chat.press("Terminé")
    await chat.press("Passer")
    await chat.text("1")
    await chat.press("Mardi")
    await chat.press("Terminé")
    await chat.text("1")
    await chat.text("3")
    assert "Le parcours EVC te convient." in chat.said
    (message,) = [m for m in uow.outbox.rows if m.kind == "intake_done"]
    assert message.user_id == coach.id and message.about_user_id is not None
    assert message.payload["params"] == {
        "name": "Karim",
        "years": "4",
        "tongue": "FR",
        "dutch": "B1",
        "barriers": 0,
    }
    assert message.payload["message"].endswith("Suggested route: EVC.")
    assert uow.responses.rows[0].group_id == group.id
    # The same link again does not tell the coach twice.
    await chat.command("start", "intake_ABC123")
    assert len([m for m in uow.outbox.rows if m.kind == "intake_done"]) == 1


async def test_unknown_outreach_code_gets_a_kind_message_and_the_intake_runs(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await onboard(chat)
    await chat.command("start", "intake_NOPE")
    assert chat.texts[0].startswith("I do not know that code. No problem")
    assert chat.texts[-1] == "(1/14) What fits you best?"
    assert uow.responses.rows[0].group_id is None


# -- derived results ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        (
            {
                "years": 3,
                "mother_tongue": "tr",
                "dutch_level": "a2",
                "barriers": ["time", "other"],
            },
            {"route": "evc", "language_support": True, "barriers": ["time"]},
        ),
        (
            {"years": 2.5, "mother_tongue": "fr", "dutch_level": "b1", "barriers": None},
            {"route": "regular", "language_support": False, "barriers": []},
        ),
        (
            # A level given before the mother tongue changed to Dutch no longer counts.
            {"years": 12, "mother_tongue": "nl", "dutch_level": "a2"},
            {"route": "evc", "language_support": False, "barriers": []},
        ),
        ({}, {"route": "regular", "language_support": False, "barriers": []}),
    ],
)
def test_intake_results_for_hand_made_answers(
    answers: dict[str, Any], expected: dict[str, Any]
) -> None:
    results = intake_results(INTAKE, answers)
    assert {key: results[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        (
            {"days": ["thu", "tue"], "time_of_day": "morning", "reminders": "learning_days"},
            {"goal_weekday": 1, "preferred_time": "09:00", "days_off": [0, 2, 4, 5, 6]},
        ),
        (
            {"days": ["sat"], "time_of_day": "evening", "reminders": "weekdays"},
            {"goal_weekday": 5, "preferred_time": "19:00", "days_off": [5, 6]},
        ),
        (
            {"days": ["mon"], "reminders": "any_day"},
            {"goal_weekday": 0, "preferred_time": None, "days_off": []},
        ),
    ],
)
def test_preferences_from_hand_made_answers(
    answers: dict[str, Any], expected: dict[str, Any]
) -> None:
    results = intake_results(INTAKE, answers)
    assert {key: results[key] for key in expected} == expected


def test_scan_results_levels_strengths_and_growth() -> None:
    answers = {q.id: "on_my_own" for q in SCAN.questions}
    answers.update(sm_purpose="not_yet", sm_own_role="not_yet", sm_referral="with_help")
    answers.update(pl_overview="can_teach", pl_prioritise="can_teach", pl_ask_help="can_teach")
    themes = scan_results(SCAN, answers)["themes"]
    assert themes["social_map"] == {"score": 1.33, "level": "beginner"}
    assert themes["guiding"] == {"score": 3.0, "level": "doorstroom"}
    assert themes["planning"] == {"score": 4.0, "level": "uitstroom"}
    strengths, growth = strengths_and_growth(themes)
    assert strengths == ["planning", "guiding"]
    assert growth == ["social_map", "collaboration"]
    assert [level_for(s) for s in (1.0, 2.49, 2.5, 3.24, 3.25, 4.0)] == [
        "beginner",
        "beginner",
        "doorstroom",
        "doorstroom",
        "uitstroom",
        "uitstroom",
    ]


# -- coach view ---------------------------------------------------------------------------
async def test_coach_view_section_in_the_coachs_language(
    engine: Engine, chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    coach, group = await coach_with_group(uow)
    await full_intake(chat)
    await chat.press("Yes, let us start")
    for _ in SCAN.questions:
        await chat.press("With help")
    user = learner(uow)
    membership = await uow.memberships.add(Membership(group_id=group.id, learner_id=user.id))
    conversation = await uow.conversations.add(Conversation(user_id=coach.id))
    ctx = Context(
        engine=engine, uow=uow, user=coach, conversation=conversation, now=engine.clock()
    )
    sections = await coachview.sections_for(ctx, user, membership)
    section = next(s for s in sections if s.title == "Intake")
    assert section.share is None
    assert section.lines[:4] == [
        "Voorgesteld traject: EVC (erkennen van eerder verworven competenties)",
        "Jaren ervaring: 5",
        "Nederlands (eigen inschatting): A2",
        "Taalondersteuning voorgesteld.",
    ]
    assert "Drempels: Weinig tijd, Ik ben bang dat het te moeilijk is" in section.lines
    assert "1. Sociale kaart: beginner (2)" in section.lines
    assert await coachview.sections_for(ctx, user, None) == []


def demo_form() -> Questionnaire:
    def texts(word: str) -> dict[str, str]:
        return {code: f"{word} ({code})" for code in ("nl", "fr", "en", "ar", "tr")}

    return parse(
        {
            "id": "intake",
            "version": 9,
            "title": texts("Demo"),
            "questions": [
                {"id": "since", "type": "date", "text": texts("Since when?")},
                {"id": "kids", "type": "number", "min": 0, "max": 9, "text": texts("Kids?")},
                {
                    "id": "care",
                    "type": "yesno",
                    "text": texts("Childcare found?"),
                    "show_if": {"question": "kids", "min": 1},
                },
            ],
        },
        name="demo.yaml",
    )


async def test_dates_numbers_yes_no_and_a_numeric_condition(
    chat: ChatDriver, uow: FakeUnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    form = demo_form()
    monkeypatch.setattr(
        "flows.questionnaire_flow.questionnaire", lambda name: form if name == "intake" else SCAN
    )
    await onboard(chat)
    assert chat.texts[-1].startswith("(1/3) Since when? (en)")
    await chat.text("31-02-2024")
    assert chat.texts[0].startswith("Type a date, for example 25-09-2026.\n\n(")
    # The question's own line saying the same moved to the top: said once.
    assert chat.texts[0].count("Type a date") == 1 and not chat.texts[0].endswith("\n")
    await chat.text("1/9/2024")
    await chat.text("0")
    assert chat.texts[-1].startswith("One more thing")  # no kids: no childcare question
    assert answers_of(uow) == {"since": "2024-09-01", "kids": 0}
    await chat.press("Later")
    await chat.command("intake")
    assert "→ Sep 1, 2024" in chat.texts[0]
    await chat.press("Change an answer")
    await chat.press("Kids? (en)")
    await chat.text("2")
    assert chat.texts[-1] == "(3/3) Childcare found? (en)"
    await chat.text("yes")
    assert answers_of(uow)["care"] == "yes"
    assert chat.texts[0] == "Thank you, I changed your answer."


async def test_an_interrupted_intake_is_offered_again_in_the_menu(
    chat: ChatDriver, uow: FakeUnitOfWork
) -> None:
    await onboard(chat)
    await chat.press("I am a volunteer")
    await chat.press("Youth work")
    assert chat.texts[-1].startswith("(3/14)")
    # /goal comes in between and is finished: the menu offers the intake first.
    await chat.command("goal")
    await chat.press("Communication")
    await chat.press("1")
    await chat.press("Thursday")
    await chat.press("Skip")
    await chat.press("4")
    menu = chat.last[-1]
    assert menu.text == "What would you like to do?"
    assert menu.buttons[0][0].label == "Continue your intake"
    assert menu.buttons[0][0].data == "/intake"
    # /cancel in another flow and the plain menu offer it too.
    await chat.command("reflect")
    await chat.command("cancel")
    assert chat.last[-1].buttons[0][0].label == "Continue your intake"
    await chat.text("hello")
    assert chat.last[-1].buttons[0][0].label == "Continue your intake"
    # It picks up at the next question with the answers kept.
    await chat.press("Continue your intake")
    assert chat.texts[-1].startswith("(3/14)")
    assert answers_of(uow)["profile"] is not None
    await chat.text("youth worker in a school")
    await chat.text("5")
    await chat.press("Secondary school")
    await chat.press("Arabic")
    await chat.press("A2")
    await chat.press("Speak and practise Dutch")
    await chat.press("Done")
    await chat.press("Little time")
    await chat.press("Done")
    await answer_the_rest(chat)
    await chat.command("cancel")
    labels = [b.label for b in chat.last[-1].flat_buttons]
    assert "Continue your intake" not in labels and "My goal" in labels
