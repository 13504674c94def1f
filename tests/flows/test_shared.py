"""The shared flow helpers: uploads, charts, the competence framework, signals."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.competences import LEVELS, framework
from flows.engine import Context
from flows.i18n import LANGUAGES
from flows.messages import IncomingFile
from flows.uploads import UploadRejected, detect_type, store_upload
from storage.models import Conversation, User
from tests.fakes import FakeUnitOfWork, fake_engine

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


async def context(tmp_path: Path) -> tuple[Context, FakeUnitOfWork]:
    engine, uow = fake_engine(tmp_path)
    user = await uow.users.add(User(channel="test", external_id="1", language="en"))
    conversation = await uow.conversations.add(Conversation(user_id=user.id))
    ctx = Context(engine=engine, uow=uow, user=user, conversation=conversation, now=engine.clock())
    return ctx, uow


def incoming(data: bytes, kind: str = "photo", name: str | None = None) -> IncomingFile:
    async def read() -> bytes:
        return data

    return IncomingFile(kind=kind, read=read, size=len(data), file_name=name)  # type: ignore[arg-type]


async def test_upload_is_stored_under_a_generated_name_with_its_hash(tmp_path: Path) -> None:
    ctx, uow = await context(tmp_path)
    upload, duplicate = await store_upload(ctx, incoming(PNG, name="../../evil.exe"))
    assert not duplicate
    assert upload.mime_type == "image/png" and upload.relpath.endswith(".png")
    assert "evil" not in upload.relpath
    assert ctx.files.path(upload.relpath).read_bytes() == PNG
    again, duplicate = await store_upload(ctx, incoming(PNG))
    assert duplicate and again.id == upload.id
    assert len(uow.uploads.rows) == 1


async def test_a_file_whose_name_lies_about_its_type_is_refused(tmp_path: Path) -> None:
    ctx, uow = await context(tmp_path)
    with pytest.raises(UploadRejected) as caught:
        await store_upload(ctx, incoming(b"MZ\x90\x00 not a pdf", kind="document", name="cv.pdf"))
    assert caught.value.reason == "type"
    assert uow.uploads.rows == []


async def test_too_big_files_are_refused_before_download(tmp_path: Path) -> None:
    ctx, _ = await context(tmp_path)

    async def never() -> bytes:
        raise AssertionError("downloaded")

    huge = IncomingFile(kind="video", read=never, size=21 * 1024 * 1024)
    with pytest.raises(UploadRejected) as caught:
        await store_upload(ctx, huge)
    assert caught.value.reason == "too_big"


def test_detect_type_reads_content() -> None:
    assert detect_type(PNG) == "image/png"
    assert detect_type(b"%PDF-1.7\n...") == "application/pdf"
    assert detect_type(b"OggS\x00\x02" + b"\x00" * 40) == "audio/ogg"
    assert detect_type(b"hello") is None


def test_framework_has_six_themes_in_every_language() -> None:
    themes = framework().themes
    assert [t.id for t in themes] == [
        "social_map",
        "guiding",
        "collaboration",
        "communication",
        "reflection",
        "planning",
    ]
    assert framework().levels == LEVELS
    assert sum(len(t.competences) for t in themes) == 32
    for theme in themes:
        for language in LANGUAGES:
            assert theme.name.get(language) and len(theme.short.get(language)) <= 20
        assert all(c.theme_id == theme.id for c in theme.competences)
    assert framework().theme("planning").name.get("nl") == "Planning en organisatie"
    assert framework().number("communication") == 4


async def test_signal_is_recorded_at_the_current_time(tmp_path: Path) -> None:
    ctx, uow = await context(tmp_path)
    await ctx.signal("checkin_no_time", week="2026-W10")
    (signal,) = uow.signals.rows
    assert (signal.kind, signal.at, signal.details) == (
        "checkin_no_time",
        ctx.now,
        {"week": "2026-W10"},
    )


async def test_coach_sections_follow_what_the_learner_shares(tmp_path: Path) -> None:
    from flows import coachview
    from storage.models import Membership

    ctx, _ = await context(tmp_path)

    async def goals(ctx: Context, learner: User) -> coachview.Section:
        return coachview.Section(title="Goals", lines=["one"], share="goals")

    async def profile(ctx: Context, learner: User) -> coachview.Section:
        return coachview.Section(title="Profile", lines=["p"])

    saved = list(coachview._PROVIDERS)
    coachview._PROVIDERS.clear()  # only the two providers of this test
    try:
        coachview.section(order=20)(goals)
        coachview.section(order=10)(profile)
        member = Membership(group_id=1, learner_id=ctx.user.id, share_goals=False)
        titles = [s.title for s in await coachview.sections_for(ctx, ctx.user, member)]
        assert titles == ["Profile"]
        member.share_goals = True
        titles = [s.title for s in await coachview.sections_for(ctx, ctx.user, member)]
        assert titles == ["Profile", "Goals"]
        assert await coachview.sections_for(ctx, ctx.user, None) == []
    finally:
        coachview._PROVIDERS[:] = saved


async def test_notices_of_two_senders_to_one_recipient_at_one_moment_are_both_kept(
    tmp_path: Path,
) -> None:
    engine, uow = fake_engine(tmp_path)
    coach = await uow.users.add(User(channel="test", external_id="c", language="nl"))
    for external_id in ("a", "b"):
        user = await uow.users.add(User(channel="test", external_id=external_id, language="en"))
        conversation = await uow.conversations.add(Conversation(user_id=user.id, seq=7))
        ctx = Context(
            engine=engine, uow=uow, user=user, conversation=conversation, now=engine.clock()
        )
        assert await ctx.notify(coach.id, "{name} answered", kind="prompt_answer", name="x")
        assert await ctx.notify(coach.id, "{name} again", kind="prompt_answer", name="x")
    assert len(uow.outbox.rows) == 4
