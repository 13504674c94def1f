"""The coach workspace on the fake unit of work: invitations, groups and joining, the risk
view with reasons, relays, sessions and attendance, prompts, leaving and statistics."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows import nudges, signals
from flows.coach import create_invite
from flows.coach.invites import MAX_FAILURES
from storage.models import Signal, User
from tests.fakes import ChatDriver, FakeClock, FakeUnitOfWork, fake_engine


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def engine(tmp_path: Path, uow: FakeUnitOfWork, clock: FakeClock):  # type: ignore[no-untyped-def]
    engine, _ = fake_engine(tmp_path, uow=uow, clock=clock)
    engine.config = replace(engine.config, bot_username="opstap_test_bot")
    return engine


async def make_coach(engine, uow: FakeUnitOfWork, clock: FakeClock, user: str = "coach"):  # type: ignore[no-untyped-def]
    code = await create_invite(uow, now=clock(), name="Els")
    chat = ChatDriver(engine, user=user, language="en")
    await chat.command("start", f"coach_{code}")
    assert "Welcome, coach!" in chat.said
    await chat.press("Yes, I agree")
    await chat.press("Els")
    assert "Start with /newgroup" in chat.said
    assert any(r.command_menu == ("coach", "en") for r in chat.last)
    return chat


async def make_group(coach: ChatDriver, name: str = "Leergroep A") -> str:
    await coach.command("newgroup")
    await coach.text(name)
    await coach.press("Tuesday")
    await coach.press("18:00")
    await coach.text("Campus Brussel")
    assert "The group is ready: " + name in coach.said
    reply = next(r for r in coach.last if r.file is not None)
    assert reply.file is not None and reply.file.path.exists()
    return reply.text.split("start=join_")[1].split()[0]


async def make_learner(engine, code: str, user: str, name: str, *, share: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    chat = ChatDriver(engine, user=user, language="en")
    await chat.command("start", f"join_{code}")
    await chat.press("Yes, I agree")
    await chat.text(name)
    assert "What may your coach see?" in chat.said
    for label in ("my goals", "my reflections", "my evidence"):
        if label.removeprefix("my ") in share:
            await chat.press(label)
    await chat.press("Done")
    assert "Welcome to" in chat.said
    return chat


def user_named(uow: FakeUnitOfWork, name: str) -> User:
    return next(u for u in uow.users.rows.values() if u.display_name == name)


async def test_a_coach_invitation_works_once_and_wrong_codes_are_limited(
    engine, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    code = await create_invite(uow, now=clock())
    assert len(code) >= 22 and uow.coach_invites.rows[0].code_hash != code
    first = ChatDriver(engine, user="a", language="en")
    await first.command("start", f"coach_{code}")
    assert "Welcome, coach!" in first.said
    second = ChatDriver(engine, user="b", language="en")
    await second.command("start", f"coach_{code}")
    assert "does not work" in second.said
    for _ in range(MAX_FAILURES - 1):
        await second.command("start", "coach_" + "x" * 22)
    await second.command("start", f"coach_{code}")
    assert "Too many wrong codes" in second.said
    roles = {u.external_id: u.role for u in uow.users.rows.values()}
    assert roles == {"a": "coach", "b": "learner"}


async def test_an_expired_invitation_is_refused(
    engine, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    code = await create_invite(uow, now=clock())
    clock.advance(days=8)
    chat = ChatDriver(engine, user="late", language="en")
    await chat.command("start", f"coach_{code}")
    assert "does not work" in chat.said


async def test_joining_sharing_and_the_learner_view(
    engine, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    coach = await make_coach(engine, uow, clock)
    code = await make_group(coach)
    learner = await make_learner(engine, code, "l1", "Fatima", share=("goals",))
    member = uow.memberships.rows[0]
    assert (member.share_goals, member.share_reflections, member.share_evidence) == (
        True,
        False,
        False,
    )
    assert any(m.kind == "group_joined" for m in uow.outbox.rows)
    await learner.command("sharing")
    await learner.press("my evidence")
    await learner.press("my goals")
    await learner.press("Done")
    assert member.share_evidence and not member.share_goals
    fatima = user_named(uow, "Fatima")
    await coach.command("learner", str(fatima.id))
    assert "Fatima · Leergroep A" in coach.said and "Timeline:" in coach.said
    assert [(e.what, e.allowed) for e in uow.access_log.rows] == [("view", True)]


async def test_risk_order_and_reasons(engine, uow: FakeUnitOfWork, clock: FakeClock) -> None:
    coach = await make_coach(engine, uow, clock)
    code = await make_group(coach)
    for user, name in (("1", "Amal"), ("2", "Bram"), ("3", "Cem")):
        await make_learner(engine, code, user, name)
    amal, bram, cem = (user_named(uow, n) for n in ("Amal", "Bram", "Cem"))
    start = clock()
    clock.advance(days=12)

    def signal(user: User, kind: str, days_ago: float, **details: object) -> None:
        uow.signals.rows.append(
            Signal(
                user_id=user.id, kind=kind, at=clock() - timedelta(days=days_ago), details=details
            )
        )

    # Amal: silent for 12 days, two goals missed after one reached, works shifts.
    signal(amal, signals.GOAL_REACHED, 11)
    signal(amal, signals.GOAL_MISSED, 8)
    signal(amal, signals.GOAL_MISSED, 1)
    signal(amal, signals.BARRIER, 12, barrier="shifts")
    # Bram: active today, but said "no time" and missed the last session.
    bram.last_seen_at = clock()
    signal(bram, signals.CHECKIN_NO_TIME, 2)
    signal(bram, signals.SESSION_PRESENT, 9)
    signal(bram, signals.SESSION_ABSENT, 2)
    # Cem: active today, nothing wrong.
    cem.last_seen_at = clock()
    assert amal.last_seen_at == start
    await coach.command("atrisk")
    lines = coach.said.splitlines()
    ranked = [line for line in lines if line[:2] in ("1.", "2.", "3.")]
    assert ranked[0].startswith("1. Amal")
    assert "no reply for 12 days" in ranked[0]
    assert "2 goals missed in a row" in ranked[0] and "intake: works shifts" in ranked[0]
    assert ranked[1].startswith("2. Bram")
    assert "said: no time this week" in ranked[1] and "missed the last session" in ranked[1]
    assert ranked[2].startswith("3. Cem") and "all fine" in ranked[2]
    listed = {(e.what, e.learner_id) for e in uow.access_log.rows}
    assert {("atrisk_list", u.id) for u in (amal, bram, cem)} <= listed
    # Snoozing Amal moves her to the end; logging a call is a COACH_CONTACT signal.
    await coach.press("1. Amal")
    await coach.press("I called them")
    assert any(
        s.kind == signals.COACH_CONTACT and s.user_id == amal.id and s.details["how"] == "called"
        for s in uow.signals.rows
    )
    await coach.press("Amal")
    await coach.press("Snooze for a week")
    ranked = [line for line in coach.said.splitlines() if line[:2] in ("1.", "2.", "3.")]
    assert ranked[0].startswith("1. Bram") and ranked[2].startswith("3. Amal")
    await coach.command("learner", str(amal.id))
    assert "the coach called" in coach.said and "intake: works shifts" in coach.said
    await coach.command("atrisk")
    await coach.press("Bram")
    await coach.press("Send a reminder")
    await coach.press("Set a small goal")
    reminder = [m for m in uow.outbox.rows if m.kind == "coach_reminder"][-1]
    assert reminder.user_id == bram.id and reminder.payload["params"]["name"] == "Bram"


async def test_messages_are_relayed_both_ways(
    engine, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    coach = await make_coach(engine, uow, clock)
    code = await make_group(coach)
    learner = await make_learner(engine, code, "l1", "Youssef")
    youssef = user_named(uow, "Youssef")
    await coach.command("message", str(youssef.id))
    await coach.text("Hoe gaat het met je?")
    to_learner = uow.outbox.rows[-1]
    assert to_learner.user_id == youssef.id and to_learner.kind == "coach_message"
    assert to_learner.payload["params"] == {"coach": "Els", "text": "Hoe gaat het met je?"}
    assert to_learner.payload["buttons"] == [["Reply", "reply"]]
    await learner.command("reply")
    assert "What do you want to tell Els?" in learner.said
    await learner.text("Goed, dank je!")
    to_coach = uow.outbox.rows[-1]
    coach_user = user_named(uow, "Els")
    assert to_coach.user_id == coach_user.id and to_coach.kind == "learner_message"
    assert to_coach.about_user_id == youssef.id and to_learner.about_user_id is None
    assert to_coach.payload["buttons"] == [["Answer", f"message {youssef.id}"]]
    # The answer button starts the coach's message to that learner.
    await coach.press_data(f"/message {youssef.id}")
    assert "Type your message to Youssef" in coach.said
    # A voice note goes to the coach with a button to listen; only that coach may listen.
    await learner.command("reply")
    await learner.file("voice", b"OggS\x00\x02" + b"\x01" * 200, duration=7)
    assert "Sent to your coach." in learner.said
    voice = uow.outbox.rows[-1]
    upload_id = uow.uploads.rows[-1].id
    assert voice.user_id == coach_user.id and voice.kind == "learner_voice"
    assert voice.about_user_id == youssef.id
    assert voice.payload["buttons"][0] == ["Listen", f"listen {upload_id}"]
    await coach.press_data(f"/listen {upload_id}")
    (heard,) = [r for r in coach.last if r.file is not None]
    assert heard.text == "Youssef" and heard.file is not None and heard.file.path.exists()
    other = await make_coach(engine, uow, clock, user="other")
    await other.command("listen", str(upload_id))
    assert "only do this for your own groups" in other.said
    assert not [r for r in other.last if r.file is not None]
    # An upload the learner did not send to the coach stays closed.
    await learner.command("reply")
    await learner.file("voice", b"OggS\x00\x02" + b"\x02" * 200)
    uow.outbox.rows.pop()  # as if it had never been relayed
    await coach.command("listen", str(uow.uploads.rows[-1].id))
    assert "only do this for your own groups" in coach.said
    # Without a learner named, /message asks which one.
    await coach.command("message")
    await coach.press("Youssef (Leergroep A)")
    assert "Type your message to Youssef" in coach.said


async def test_attendance_plans_a_warm_message_the_next_day(
    engine, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    coach = await make_coach(engine, uow, clock)
    code = await make_group(coach)
    await make_learner(engine, code, "l1", "Amal")
    await make_learner(engine, code, "l2", "Bram")
    await coach.command("session")
    await coach.press("Plan sessions")
    await coach.press("Tuesday Mar 10, 2026")  # the group's next meeting day, offered
    await coach.press("Every 2 weeks")
    await coach.press("4")
    assert "Planned 4 sessions" in coach.said
    starts = [s.starts_at for s in uow.sessions.rows]
    assert starts[0] == datetime(2026, 3, 10, 17, 0, tzinfo=UTC)  # 18:00 in Brussels
    assert [(b - a).days for a, b in itertools.pairwise(starts)] == [14, 14, 14]
    reminders = [m for m in uow.outbox.rows if m.kind == "session_reminder"]
    assert len(reminders) == 4 * 2 * 2
    assert all(m.expires_at in starts for m in reminders)
    assert len({m.dedup_key for m in reminders}) == len(reminders)
    clock.advance(days=7, hours=10)  # after the first session
    await coach.command("session")
    await coach.press("Take attendance")
    await coach.press("Bram")  # Bram was not there
    await coach.press("Save")
    assert "1 learner was absent" in coach.said
    bram = user_named(uow, "Bram")
    missed = [m for m in uow.outbox.rows if m.kind == "session_missed"]
    assert [m.user_id for m in missed] == [bram.id]
    assert missed[0].due_at.date() == (starts[0] + timedelta(days=1)).date()
    assert missed[0].payload["buttons"] == [["Reply to my coach", "reply"]]
    assert reminders[0].payload["message"].endswith("Place: {place}")
    kinds = {(s.user_id, s.kind) for s in uow.signals.rows}
    assert (bram.id, signals.SESSION_ABSENT) in kinds
    assert (user_named(uow, "Amal").id, signals.SESSION_PRESENT) in kinds


async def test_a_group_question_in_each_language_and_the_answers(
    engine, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    coach = await make_coach(engine, uow, clock)
    code = await make_group(coach)
    amal = await make_learner(engine, code, "l1", "Amal")
    await amal.command("language", "fr")
    await make_learner(engine, code, "l2", "Bram")
    await coach.command("prompt")
    await coach.press("New question")
    await coach.text("What went well this week?")
    await coach.press("Français")
    await coach.text("Qu'est-ce qui a bien marché cette semaine ?")
    await coach.press("Send to the group")
    assert "Sent to 2 learners" in coach.said
    sent = {
        m.user_id: m.payload["params"]["question"]
        for m in uow.outbox.rows
        if m.kind == "group_prompt"
    }
    assert sent[user_named(uow, "Amal").id].startswith("Qu'est-ce")
    assert sent[user_named(uow, "Bram").id] == "What went well this week?"
    prompt_id = uow.prompts.rows[0].id
    await amal.press_data(f"/answer {prompt_id}")
    assert "Qu'est-ce qui a bien" in amal.said
    await amal.text("J'ai animé la réunion.")
    bram = ChatDriver(engine, user="l2", language="en")
    await bram.press_data(f"/answer {prompt_id}")
    await bram.file("photo", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    assert "voice note" in bram.said  # a photo is no answer; asked again
    await bram.file("voice", b"OggS\x00\x02" + b"\x00" * 200, duration=5)
    assert "Your coach reads your answer" in bram.said
    assert uow.outbox.rows[-1].payload["message"].startswith("{name} answered your question with")
    await coach.command("prompt")
    await coach.press("(2 answers)")
    assert "Amal: J'ai animé la réunion." in coach.said
    assert "Bram: (voice note, below)" in coach.said
    voice = next(r for r in coach.last if r.file is not None)
    assert voice.text == "Bram" and voice.file is not None and voice.file.path.exists()


async def test_leaving_tells_the_coach_why_and_stats_count_it(
    engine, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    coach = await make_coach(engine, uow, clock)
    code = await make_group(coach)
    amal = await make_learner(engine, code, "l1", "Amal")
    await make_learner(engine, code, "l2", "Bram")
    bram = user_named(uow, "Bram")
    for kind in (signals.GOAL_SET, signals.GOAL_REACHED, signals.REFLECTION_SAVED):
        uow.signals.rows.append(Signal(user_id=bram.id, kind=kind, at=clock()))
    await amal.command("stop")
    await amal.press("Yes, I stop")
    await amal.press("Work and family take too much time")
    member = uow.memberships.where(learner_id=user_named(uow, "Amal").id)[0]
    assert member.left_at is not None and member.left_reason == "work_family"
    (notice,) = [m for m in uow.outbox.rows if m.kind.startswith("learner_left")]
    assert notice.about_user_id == member.learner_id
    assert notice.payload["params"]["reason"] == {"msgid": "Work and family take too much time"}
    els = user_named(uow, "Els")
    dutch = nudges.render(notice, engine.translator("nl"))
    assert notice.user_id == els.id
    assert dutch.text == (
        "Amal is gestopt met de leergroep Leergroep A. "
        "De reden: “Werk en gezin vragen te veel tijd”"
    )
    await coach.command("stats")
    said = coach.said
    assert "Enrolled: 2" in said and "In the group now: 1" in said and "Left: 1" in said
    assert "Goals reached: 1" in said and "Reflections: 1" in said and "Evidence: 0" in said
    assert "Work and family take too much time: 1" in said
    assert sum(1 for r in coach.last if r.file is not None) == 2


async def test_a_new_coach_can_put_the_consent_off_and_is_asked_again(
    engine, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    """The coach consent offers a way out ("Not now" when the language was known, Back to
    the language otherwise); the coach tools still wait for the consent."""
    code = await create_invite(uow, now=clock(), name="Els")
    chat = ChatDriver(engine, user="coach", language="en")
    await chat.command("start", f"coach_{code}")
    await chat.press("Not now")
    await chat.command("atrisk")
    assert "Before you go on, please read this and agree." in chat.said
    await chat.press("Yes, I agree")
    assert "Which name should your learners see?" in chat.said
    # A coach who still has to choose a language can go back to it from the consent.
    other = await create_invite(uow, now=clock(), name="Sam")
    sam = ChatDriver(engine, user="sam", language=None)
    await sam.command("start", f"coach_{other}")
    await sam.press("English")
    await sam.press("« Back")
    await sam.press("Français")
    assert "Bienvenue" in sam.said


async def test_yes_i_stop_tapped_by_mistake_can_be_taken_back(
    engine, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    """The reason question after "Yes, I stop" has a Back button (found by a generated walk
    in Arabic: no way back there, and every reason button ends the membership)."""
    coach = await make_coach(engine, uow, clock)
    code = await make_group(coach)
    amal = await make_learner(engine, code, "l1", "Amal")
    await amal.command("stop")
    await amal.press("Yes, I stop")
    assert "May I ask why?" in amal.said
    await amal.press("« Back")
    assert "Do you want to stop with Opstap?" in amal.said
    await amal.press("No, I go on")
    assert "Good to have you here!" in amal.said
    member = uow.memberships.where(learner_id=user_named(uow, "Amal").id)[0]
    assert member.left_at is None and user_named(uow, "Amal").status != "left"
    assert not [m for m in uow.outbox.rows if m.kind.startswith("learner_left")]


async def test_stats_of_several_groups_is_one_overview_with_a_button_to_each(
    engine, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    """A coach of twelve groups gets one message of ten groups, not 36 messages; a button
    opens a group's numbers and charts; a group that is not theirs is refused."""
    coach = await make_coach(engine, uow, clock)
    codes = [await make_group(coach, f"Group {n:02}") for n in range(1, 13)]
    await make_learner(engine, codes[10], "l1", "Amal")
    await coach.command("stats")
    (overview,) = coach.last
    assert overview.file is None
    assert "Group 01: 0 in the group, 0 active in the last 7 days, 0 at risk" in overview.text
    assert "Group 10" in overview.text and "Group 11" not in overview.text
    labels = [b.label for b in overview.flat_buttons]
    assert labels == [f"Group {n:02}" for n in range(1, 11)] + ["More"]
    await coach.press("More")
    assert "Group 11: 1 in the group, 1 active in the last 7 days" in coach.said
    assert [b.label for r in coach.last for b in r.flat_buttons] == ["Group 11", "Group 12"]
    await coach.press("Group 11")
    assert "Enrolled: 1" in coach.said and "In the group now: 1" in coach.said
    assert sum(1 for r in coach.last if r.file is not None) == 2
    # Another coach with two groups of their own cannot open one of Els's by a forged button.
    other = await make_coach(engine, uow, clock, user="other")
    await make_group(other, "Mine 1")
    await make_group(other, "Mine 2")
    await other.command("stats")
    button = other.button("Mine 1")
    mine = int(button.data.split(":g:")[1])
    forged = button.data.replace(f":g:{mine}", f":g:{uow.groups.rows[0].id}")
    await other.press_data(forged)
    assert "only do this for your own groups" in other.said
    assert "Enrolled" not in other.said


async def test_a_coach_is_refused_on_someone_elses_group(
    engine, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    coach = await make_coach(engine, uow, clock)
    code = await make_group(coach)
    await make_learner(engine, code, "l1", "Amal", share=("goals",))
    amal = user_named(uow, "Amal")
    group_id = uow.groups.rows[0].id
    other = await make_coach(engine, uow, clock, user="other")
    for command, args in (
        ("learner", str(amal.id)),
        ("feedback", str(amal.id)),
        ("message", str(amal.id)),
        ("atrisk", str(amal.id)),
        ("invite", str(group_id)),
        ("session", str(group_id)),
    ):
        await other.command(command, args)
        assert "only do this for your own groups" in other.said, command
    await other.command("atrisk")
    assert "Amal" not in other.said
    refused = [e for e in uow.access_log.rows if not e.allowed]
    assert len(refused) == 6
    learner = ChatDriver(engine, user="l1", language="en")
    for command in ("atrisk", "learner", "newgroup", "groups", "stats", "prompt", "session"):
        await learner.command(command)
        assert "not available to you" in learner.said


@pytest.fixture
def sections():  # type: ignore[no-untyped-def]
    """A goals section (shared with the goals flag) and a reflections section."""
    from flows import coachview

    async def goals(ctx, learner):  # type: ignore[no-untyped-def]
        item = coachview.Item("goal", 7, "Lead a team meeting", ctx.now)
        return coachview.Section("Goals", ["Lead a team meeting"], share="goals", items=[item])

    async def reflections(ctx, learner):  # type: ignore[no-untyped-def]
        item = coachview.Item("reflection", 3, "The difficult parent", ctx.now)
        return coachview.Section(
            "Reflections", ["The difficult parent"], share="reflections", items=[item]
        )

    entries = [(20, goals), (30, reflections)]
    coachview._PROVIDERS.extend(entries)
    yield
    for entry in entries:
        coachview._PROVIDERS.remove(entry)


async def test_feedback_by_text_and_voice_on_shared_items_only(
    engine, uow: FakeUnitOfWork, clock: FakeClock, sections
) -> None:
    coach = await make_coach(engine, uow, clock)
    code = await make_group(coach)
    await make_learner(engine, code, "l1", "Amal", share=("goals",))
    amal = user_named(uow, "Amal")
    await coach.command("feedback", str(amal.id))
    assert "Lead a team meeting" in coach.said
    assert "The difficult parent" not in coach.said  # reflections are not shared
    await coach.press("Answer: Lead a team meeting")
    await coach.text("Goed gedaan! Hoe reageerde je team?")
    (feedback,) = uow.feedback.rows
    assert (feedback.item_type, feedback.item_id, feedback.learner_id) == ("goal", 7, amal.id)
    assert feedback.text == "Goed gedaan! Hoe reageerde je team?"
    notice = uow.outbox.rows[-1]
    assert notice.user_id == amal.id and notice.kind == "coach_feedback"
    assert notice.payload["params"]["title"] == "Lead a team meeting"
    assert notice.payload["buttons"] == [["My goal", "goal"]]  # where she sees it
    await coach.command("learner", str(amal.id))
    await coach.press("Answer: Lead a team meeting")
    await coach.file("voice", b"OggS\x00\x02" + b"\x00" * 200, duration=4)
    voice = uow.feedback.rows[-1]
    assert voice.upload_id is not None and voice.text is None
    assert "voice note" in uow.outbox.rows[-1].payload["message"]
    # The learner stops sharing goals: feedback on the old button is refused.
    membership = uow.memberships.rows[0]
    await coach.command("learner", str(amal.id))
    membership.share_goals = False
    await coach.press("Answer: Lead a team meeting")
    await coach.text("Nog iets")
    assert "only do this for your own groups" in coach.said
    assert len(uow.feedback.rows) == 2


async def test_an_onboarded_learner_joins_moves_and_is_removed(
    engine, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    coach = await make_coach(engine, uow, clock)
    first = await make_group(coach, "Leergroep A")
    second = await make_group(coach, "Leergroep B")
    learner = await make_learner(engine, first, "l1", "Amal")
    await learner.command("start", f"join_{first}")
    assert "already in the group Leergroep A" in learner.said
    await learner.command("start", f"join_{second}")
    await learner.press("Yes, move")
    await learner.press("Done")
    assert "Welcome to Leergroep B" in learner.said
    active = [m for m in uow.memberships.rows if m.left_at is None]
    assert len(active) == 1 and uow.groups.rows[active[0].group_id - 1].name == "Leergroep B"
    await learner.command("start", "join_nonsense")
    assert "does not work" in learner.said
    await coach.command("groups")
    await coach.press("Leergroep B")
    await coach.press("Amal")
    await coach.press("Remove from the group")
    assert "Amal is no longer in Leergroep B" in coach.said
    assert all(m.left_at is not None for m in uow.memberships.rows)
    assert uow.outbox.rows[-1].kind == "group_removed"


async def test_forged_buttons_of_another_coach_are_refused(
    engine, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    coach = await make_coach(engine, uow, clock)
    code = await make_group(coach)
    await make_learner(engine, code, "l1", "Amal")
    amal = user_named(uow, "Amal")
    group_id = uow.groups.rows[0].id
    other = await make_coach(engine, uow, clock, user="other")
    z_code = await make_group(other, "Leergroep Z")
    await make_group(other, "Leergroep Y")
    await make_learner(engine, z_code, "l9", "Zoë")

    def seq() -> int:
        user = next(u for u in uow.users.rows.values() if u.external_id == "other")
        return uow.conversations.rows[user.id].seq

    for command in ("groups", "invite", "session", "prompt"):
        await other.command(command)
        await other.press_data(f"{seq()}:g:{group_id}")
        assert "only do this for your own groups" in other.said, command
    await other.command("groups")
    await other.press("Leergroep Z")
    await other.press_data(f"{seq()}:l:{amal.id}")
    assert "only do this for your own groups" in other.said and "Amal" not in other.said
    await other.command("atrisk")
    await other.press_data(f"{seq()}:l:{amal.id}")
    assert "only do this for your own groups" in other.said
    await other.command("learner")
    await other.press_data(f"{seq()}:l:{amal.id}")
    assert "only do this for your own groups" in other.said and "Amal" not in other.said
    refused = [e for e in uow.access_log.rows if not e.allowed]
    assert len(refused) == 7


async def test_a_coordinator_invitation_makes_a_coordinator_who_sees_every_group(  # type: ignore[no-untyped-def]
    engine, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    coach = await make_coach(engine, uow, clock)
    await make_group(coach, "Leergroep A")
    code = await create_invite(uow, now=clock(), name="Mia", role="coordinator")
    chat = ChatDriver(engine, user="coordinator", language="en")
    await chat.command("start", f"coach_{code}")
    assert chat.texts[0].startswith("Welcome, coordinator!")
    assert "You see numbers, not what learners write or send." in chat.said
    await chat.press("Yes, I agree")
    await chat.press("Mia")
    assert "Done, Mia. Send /stats for the numbers of every group." in chat.said
    assert any(r.command_menu == ("coordinator", "en") for r in chat.last)
    assert user_named(uow, "Mia").role == "coordinator"
    await chat.command("stats")
    assert "Leergroep A" in chat.said and "Enrolled: 0" in chat.said
    await chat.command("newgroup")  # a coach's command: not for a coordinator
    assert chat.texts[0].startswith("That command is not available to you.")
    with pytest.raises(ValueError):
        await create_invite(uow, now=clock(), role="learner")


async def test_coach_commands_wait_for_the_coach_consent_then_run(  # type: ignore[no-untyped-def]
    engine, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    code = await create_invite(uow, now=clock(), name="Els")
    coach = ChatDriver(engine, user="coach", language="en")
    await coach.command("start", f"coach_{code}")
    assert "Do you agree?" in coach.said
    # The coach leaves the consent unanswered and tries a coach command.
    await coach.command("newgroup")
    assert coach.texts[0] == "Before you go on, please read this and agree."
    assert "Do you agree?" in coach.said
    (user,) = [u for u in uow.users.rows.values() if u.role == "coach"]
    assert user.consent_at is None and not uow.groups.rows
    await coach.command("groups")  # again: still asked, the last command is kept
    assert "Do you agree?" in coach.said
    await coach.press("Yes, I agree")
    await coach.press("Els")
    assert coach.texts[0] == "Thank you, Els. Let us go on."
    assert coach.texts[1] == "You have no groups yet. Make one with /newgroup."
    assert user.consent_at == clock.now
    # Consent given: commands run straight away from now on.
    await coach.command("newgroup")
    assert coach.texts[0] != "Before you go on, please read this and agree."


async def test_picking_one_of_many_learners_goes_page_by_page(
    engine, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    coach = await make_coach(engine, uow, clock)
    codes = [await make_group(coach, name) for name in ("Groep B", "Groep A")]
    for n in range(23):
        await make_learner(engine, codes[n % 2], f"l{n}", f"Lerende {n:02d}")

    def labels() -> list[str]:
        return [b.label for r in coach.last for b in r.flat_buttons]

    await coach.command("message")
    first = labels()
    assert len(first) == 11 and first[-1] == "More"
    assert first[0] == "Lerende 01 (Groep A)" and first[1] == "Lerende 03 (Groep A)"
    await coach.press("More")
    assert coach.last[0].replace  # the same message, turned to the next page
    second = labels()
    assert len(second) == 11 and not set(first[:-1]) & set(second[:-1])
    await coach.press("More")
    third = labels()
    assert len(third) == 3 and "More" not in third  # 23 = 10 + 10 + 3
    await coach.press(third[0])
    assert "Type your message to" in coach.said

    await coach.command("learner")
    assert labels() == first


async def test_attendance_taken_days_later_does_not_say_yesterday(
    engine, uow: FakeUnitOfWork, clock: FakeClock
) -> None:
    coach = await make_coach(engine, uow, clock)
    code = await make_group(coach)
    await make_learner(engine, code, "l1", "Amal")
    await coach.command("session")
    await coach.press("Plan sessions")
    await coach.press("Tuesday Mar 10, 2026")
    await coach.press("Only once")
    clock.now = datetime(2026, 3, 13, 9, tzinfo=UTC)  # Friday, three days after the session
    await coach.command("session")
    await coach.press("Take attendance")
    await coach.press("Amal")
    await coach.press("Save")
    (missed,) = [m for m in uow.outbox.rows if m.kind == "session_missed"]
    assert missed.payload["message"].startswith("We missed you at the last group session")
    assert missed.due_at == clock.now
