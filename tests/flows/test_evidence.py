"""/evidence on the fake unit of work: every step, duplicates, privacy, reflections."""

from __future__ import annotations

from pathlib import Path

from flows.engine import Context, Flow
from flows.messages import Event
from storage.models import Feedback, Reflection
from tests.fakes import ChatDriver, FakeClock, FakeUnitOfWork, fake_engine

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


def without_reflect() -> list[Flow]:
    """Every flow but /reflect, to test the evidence flow on its own."""
    from flows import default_flows

    return [flow for flow in default_flows() if flow.name != "reflect"]


async def learner(
    tmp_path: Path, *, language: str = "en", **options
) -> tuple[ChatDriver, FakeUnitOfWork]:  # type: ignore[no-untyped-def]
    options.setdefault("flows", without_reflect())
    engine, uow = fake_engine(tmp_path, **options)
    chat = ChatDriver(engine, language=language)
    await chat.command("start")
    await chat.press("Yes" if language == "en" else "Evet")
    await chat.text("Ayşe")
    return chat, uow


async def answer_all(
    chat: ChatDriver,
    *,
    kind: str = "Neighbourhood, reading or culture project",
    title: str = "Reading corner",
    when: str = "03/2025",
    place: str = "De Buurt vzw",
    role: str = "volunteer",
    checks: tuple[str, ...] = ("Yes",) * 5,
    description: str | None = "A corner with books where children read together.",
    privacy: str | None = "No, no client can be recognised",
) -> None:
    await chat.press(kind)
    await chat.text(title)
    if description is None:
        await chat.press("Skip")
    else:
        await chat.text(description)
    await chat.text(when)
    await chat.text(place)
    await chat.text(role)
    await chat.press("1. Social map")
    await chat.press("1")
    await chat.press("3")
    await chat.press("Other theme")
    await chat.press("6. Planning")
    await chat.press("2")
    await chat.press("Done")
    for check in checks:
        await chat.press(check)
    if privacy is not None and privacy in [b.label for r in chat.last for b in r.flat_buttons]:
        await chat.press(privacy)


async def test_competence_numbers_typed_instead_of_tapped_switch_them(tmp_path: Path) -> None:
    """On WhatsApp a learner may type "1 en 3" under the numbered competences: both switch
    on, typed again they switch off; other text gets the kind hint, nothing chosen."""
    chat, uow = await learner(tmp_path)
    await chat.command("evidence")
    await chat.file("photo", PNG)
    await chat.press("Neighbourhood, reading or culture project")
    await chat.text("Reading corner")
    await chat.press("Skip")
    await chat.text("03/2025")
    await chat.text("De Buurt vzw")
    await chat.text("volunteer")
    await chat.press("1. Social map")
    await chat.text("1 en 3")
    marked = [b.label for r in chat.last for b in r.flat_buttons]
    assert "\u2713 1" in marked and "\u2713 3" in marked and "2" in marked
    await chat.text("3")
    assert "3" in [b.label for r in chat.last for b in r.flat_buttons]
    await chat.text("the first one")
    assert chat.said.startswith("Please tap a number.")
    await chat.press("Done")
    for _ in range(5):
        await chat.press("Yes")
    await chat.press("No, no client can be recognised")
    (piece,) = uow.evidence.rows
    assert piece.competences == ["social_map.purpose"]


async def test_a_photo_becomes_piece_one_with_everything_asked(tmp_path: Path) -> None:
    chat, uow = await learner(tmp_path)
    await chat.command("evidence")
    assert "a photo, a document" in chat.said
    await chat.file("photo", PNG)
    assert chat.said == "What is it?"
    await answer_all(chat)
    assert "Saved as piece 1" in chat.said
    (piece,) = uow.evidence.rows
    assert (piece.number, piece.media, piece.kind, piece.title) == (
        1,
        "photo",
        "project",
        "Reading corner",
    )
    assert piece.competences == [
        "social_map.purpose",
        "social_map.own_role",
        "planning.prioritise",
    ]
    assert piece.themes == ["social_map", "planning"]
    assert (piece.period_start, piece.period_end) == ("2025-03", None)
    assert (piece.organisation, piece.role) == ("De Buurt vzw", "volunteer")
    assert set(piece.checks) == {"authentic", "current", "relevant", "sufficient", "variety"}
    assert piece.description == "A corner with books where children read together."
    assert piece.privacy_confirmed is True  # asked for a photo too: no client in it
    assert [s.kind for s in uow.signals.rows] == ["evidence_added"]
    assert uow.uploads.rows[0].id == piece.upload_id
    # No reflect flow installed: said kindly, evidence kept.
    await chat.press("Write one now")
    assert "not possible yet" in chat.said
    assert uow.evidence.rows[0].reflection_id is None


async def test_a_file_sent_outside_any_question_starts_a_piece(tmp_path: Path) -> None:
    chat, uow = await learner(tmp_path)
    await chat.command("cancel")
    await chat.file("document", PDF, file_name="report.pdf")
    assert chat.texts == [
        "Thank you! Let us add this to your portfolio as a piece of evidence.",
        "What is it?",
    ]
    await answer_all(chat)
    await chat.press("Later")
    (piece,) = uow.evidence.rows
    (upload,) = uow.uploads.rows
    assert (piece.media, piece.upload_id, upload.mime_type) == (
        "document",
        upload.id,
        "application/pdf",
    )
    await chat.file("voice", b"OggS" + b"\0" * 50)  # a voice note alone is no evidence
    assert chat.said.startswith("What would you like to do?")


async def test_the_same_file_twice_is_noticed(tmp_path: Path) -> None:
    chat, uow = await learner(tmp_path)
    await chat.command("evidence")
    await chat.file("photo", PNG)
    await answer_all(chat)
    await chat.press("Later")
    await chat.command("evidence")
    await chat.file("document", PNG, file_name="other-name.png")
    assert "already added this file: it is piece 1" in chat.said
    assert len(uow.uploads.rows) == 1 and len(uow.evidence.rows) == 1


async def test_refused_files_get_a_clear_message(tmp_path: Path) -> None:
    chat, uow = await learner(tmp_path)
    await chat.command("evidence")
    await chat.file("document", b"MZ\x90\x00 this is a program", file_name="cv.pdf")
    assert "I cannot keep this type of file" in chat.said
    await chat.file("video", b"\x00" * (20 * 1024 * 1024 + 1))
    assert "too big" in chat.said
    assert uow.uploads.rows == []
    await chat.text("https://example.org/our-project")
    assert chat.said == "What is it?"


async def test_a_link_and_earlier_places_offered_as_buttons(tmp_path: Path) -> None:
    chat, uow = await learner(tmp_path)
    await chat.command("evidence")
    await chat.text("https://example.org/our-project")
    await answer_all(chat, kind="Video about a project")
    await chat.press("Later")
    await chat.command("evidence")
    await chat.text("Our team meeting notes, written by me")
    await chat.press("Policy plan")
    await chat.text("Team plan")
    await chat.press("Skip")
    await chat.text("2021-2024")
    await chat.press("De Buurt vzw")
    await chat.press("volunteer")
    assert "First choose a theme" in chat.said
    (first,) = uow.evidence.rows
    assert (first.media, first.url) == ("link", "https://example.org/our-project")
    await chat.press("2. Guiding")
    await chat.press("1")
    await chat.press("Done")
    for _ in range(5):
        await chat.press("Not sure")
    assert chat.said.startswith("Can someone recognise a client in it")
    await chat.press("No, no client can be recognised")
    second = uow.evidence.rows[1]
    assert (second.media, second.text, second.organisation) == (
        "text",
        "Our team meeting notes, written by me",
        "De Buurt vzw",
    )
    assert (second.period_start, second.period_end, second.number) == ("2021", "2024", 2)


async def test_a_bad_date_is_asked_again(tmp_path: Path) -> None:
    chat, _ = await learner(tmp_path)
    await chat.command("evidence")
    await chat.text("My text")
    await chat.press("Other evidence")
    await chat.text("A title")
    await chat.press("Skip")
    await chat.text("someday")
    assert "could not read that date" in chat.said
    await chat.text("13/2025")
    assert "could not read that date" in chat.said
    await chat.press("This month")
    assert "Where was it?" in chat.said


async def test_case_discussions_ask_about_client_privacy(tmp_path: Path) -> None:
    chat, uow = await learner(tmp_path)
    await chat.command("evidence")
    await chat.text("The case of a family with three children.")
    await answer_all(chat, kind="Case discussion")
    assert chat.said == "Did you remove names and details of clients?"
    await chat.press("Not yet")
    assert "leave it out of your export" in chat.said
    assert uow.evidence.rows[0].privacy_confirmed is False


class FakeReflect(Flow):
    """Stands in for the reflect flow of another issue: saves a reflection and hands back."""

    name = "reflect"

    async def start(self, ctx: Context, command: str, args: str) -> None:
        evidence_id = int(args.removeprefix("evidence:"))
        reflection = await ctx.uow.reflections.add(
            Reflection(
                learner_id=ctx.user.id,
                status="done",
                title="Reading corner reflection",
                situation="Kinderen lazen weinig.",
                extra={"evidence_id": evidence_id},
            )
        )
        await ctx.finish(menu=False)
        await ctx.start_flow("evidence", args=f"linked:{reflection.id}")


async def test_writing_a_reflection_now_links_it(tmp_path: Path) -> None:
    chat, uow = await learner(tmp_path, flows=[*without_reflect(), FakeReflect()])
    await chat.command("evidence")
    await chat.file("photo", PNG)
    await answer_all(chat)
    await chat.press("Write one now")
    assert "linked to piece 1" in chat.said
    assert uow.evidence.rows[0].reflection_id == uow.reflections.rows[0].id


async def test_choosing_a_reflection_and_evidence_from_a_reflection(tmp_path: Path) -> None:
    chat, uow = await learner(tmp_path)
    user_id = next(iter(uow.users.rows))
    done = await uow.reflections.add(
        Reflection(
            learner_id=user_id,
            status="done",
            title="Leading the team meeting",
            competences=["communication.adapt"],
            themes=["communication"],
        )
    )
    await chat.command("evidence")
    await chat.file("photo", PNG)
    await answer_all(chat)
    await chat.press("Leading the team meeting")
    assert uow.evidence.rows[0].reflection_id == done.id
    # From the reflect flow's "use this as evidence".
    await chat.command("evidence", f"reflection:{done.id}")
    assert "already piece 1 of your portfolio" in chat.said
    done = await uow.reflections.add(
        Reflection(
            learner_id=user_id,
            status="done",
            title="Leading the team meeting",
            competences=["communication.adapt", "nonsense.id"],
        )
    )
    await chat.command("evidence", f"reflection:{done.id}")
    assert "turn your reflection into a piece of evidence" in chat.said
    await chat.press("Policy plan")
    await chat.press("Leading the team meeting")
    await chat.press("Skip")
    await chat.text("2025")
    await chat.press("De Buurt vzw")
    await chat.press("volunteer")
    await chat.press("Done")
    for _ in range(5):
        await chat.press("Yes")
    await chat.press("No, no client can be recognised")
    second = uow.evidence.rows[1]
    assert (second.media, second.reflection_id, second.title) == (
        "text",
        done.id,
        "Leading the team meeting",
    )
    assert second.competences == ["communication.adapt"]
    await chat.command("evidence", f"reflection:{done.id}")
    assert "already piece 2 of your portfolio" in chat.said
    assert len(uow.evidence.rows) == 2
    # A reflection of someone else is never linked.
    other = await uow.reflections.add(
        Reflection(learner_id=999, status="done", extra={"evidence_id": second.id})
    )
    await chat.command("evidence", f"linked:{other.id}")
    assert "could not find that piece of evidence" in chat.said
    assert second.reflection_id == done.id


async def test_coach_section_lists_evidence(tmp_path: Path) -> None:
    from flows import coachview
    from storage.models import Conversation, Membership, User

    chat, uow = await learner(tmp_path)
    await chat.command("evidence")
    await chat.file("photo", PNG)
    await answer_all(chat)
    engine = chat.engine
    learner_user = uow.users.rows[1]
    coach = await uow.users.add(User(channel="test", external_id="c", language="nl", role="coach"))
    conversation = Conversation(user_id=coach.id)
    ctx = Context(
        engine=engine, uow=uow, user=coach, conversation=conversation, now=engine.clock()
    )
    member = Membership(group_id=1, learner_id=learner_user.id, share_evidence=True)
    sections = await coachview.sections_for(ctx, learner_user, member)
    (section,) = [s for s in sections if s.share == "evidence"]
    assert section.items[0].item_type == "evidence"
    assert (
        "Reading corner" in section.lines[0]
        and "Buurt-, voorlees- of cultuurproject" in section.lines[0]
    )
    member.share_evidence = False
    assert not [s for s in await coachview.sections_for(ctx, learner_user, member) if s.share]
    # Feedback is shown beside the piece in /portfolio.
    await uow.feedback.add(
        Feedback(
            learner_id=learner_user.id,
            coach_id=coach.id,
            item_type="evidence",
            item_id=uow.evidence.rows[0].id,
            text="Mooi voorbeeld!",
        )
    )
    await chat.command("portfolio")
    await chat.press("My evidence")
    assert "1 note from your coach" in chat.said
    await chat.press("1")
    assert "Mooi voorbeeld!" in chat.said
    assert uow.feedback.rows[0].seen_at is not None


async def test_evidence_in_turkish(tmp_path: Path) -> None:
    chat, _ = await learner(tmp_path, language="tr", clock=FakeClock())
    await chat.command("evidence")
    assert chat.said.startswith("Kanıtını")
    _ = Event


async def test_portfolio_confirms_privacy_and_links_a_reflection_later(tmp_path: Path) -> None:
    chat, uow = await learner(tmp_path)
    await chat.command("evidence")
    await chat.text("The case of a family with three children.")
    await answer_all(chat, kind="Case discussion")
    await chat.press("Not yet")
    await chat.press("Later")
    await chat.command("portfolio")
    assert "please remove the names and details of clients" in chat.said
    await chat.press("My evidence")
    await chat.press("1")
    assert "Client details: not yet removed." in chat.said
    await chat.press("Client details are removed")
    assert "Piece 1 will be in your export" in chat.said
    assert uow.evidence.rows[0].privacy_confirmed is True
    assert "Client details are removed" not in [b.label for r in chat.last for b in r.flat_buttons]
    done = await uow.reflections.add(
        Reflection(learner_id=uow.evidence.rows[0].learner_id, status="done", title="Casus")
    )
    await chat.press("Link a reflection")
    await chat.press("Casus")
    assert "linked to piece 1" in chat.said
    assert uow.evidence.rows[0].reflection_id == done.id
    await chat.command("portfolio")
    await chat.press("My evidence")
    await chat.press("1")
    await chat.press("Delete this piece")
    assert "This cannot be undone." in chat.said
    await chat.press("No, keep it")
    assert len(uow.evidence.rows) == 1
    await chat.press("Delete this piece")
    await chat.press("Yes, delete it")
    assert "Piece 1 is deleted." in chat.said and "no evidence yet" in chat.said
    assert uow.evidence.rows == []
