"""The WhatsApp adapter end to end, in process: the real adapter and dispatcher on the fake
Graph API (which checks every payload, the 24-hour rule and the templates), a real database
and a movable clock."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

import bot.inbox
from bot.runtime import Runtime
from bot.whatsapp import (
    CHANNEL,
    all_templates,
    layout,
    shorten,
    template_definitions,
    update_id_of,
)
from flows.i18n import Translator
from flows.messages import Button, Reply
from storage.models import (
    Group,
    InboxUpdate,
    Membership,
    NumberedChoices,
    OutboxMessage,
    Reflection,
    Upload,
    User,
)
from storage.repositories import payload
from tests.bot.whatsapp_harness import WhatsAppHarness, fake_graph, running_whatsapp
from tests.fake_whatsapp import Sent
from tests.fakes import FakeClock

SAMIRA = "32470111222"
KARIM = "32470333444"
OGG = b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x1eOpusHead" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
LONG = "I talked with the mother in a quiet room and listened to her story first."
EN = Translator("en")


def texts(sent: list[Sent]) -> str:
    return "\n".join(s.text for s in sent)


async def rows(runtime: Runtime, model):  # type: ignore[no-untyped-def]
    async with runtime.sessionmaker() as session:
        return list((await session.scalars(select(model))).all())


async def onboard(wa: WhatsAppHarness, wa_id: str, language: str, name: str) -> list[Sent]:
    sent = await wa.say(wa_id, "hello")
    assert sent[-1].interactive == "list"  # five languages: a list message
    await wa.choose(wa_id, language)
    consent = wa.graph.to(wa_id)[-1]
    assert consent.interactive == "button"
    await wa.choose(wa_id, consent.titles[0])
    return await wa.say(wa_id, name)


# -- the webhook -------------------------------------------------------------------------------
async def test_unsigned_or_badly_signed_posts_are_refused_before_anything_is_stored(
    runtime: Runtime,
) -> None:
    graph = fake_graph(runtime)
    async with running_whatsapp(runtime, graph) as wa:
        notification = graph.text(SAMIRA, "/start")
        assert (await wa.post(notification, signed=False)).status_code == 401
        body = b'{"object": "whatsapp_business_account", "entry": []}'
        forged = await wa.client.post(
            "/whatsapp", content=body, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}
        )
        assert forged.status_code == 403
        assert await rows(runtime, User) == []
        assert graph.sent == []
        huge = await wa.client.post(
            "/whatsapp", content=b"x" * 1_000_001, headers={"X-Hub-Signature-256": "sha256=0"}
        )
        assert huge.status_code == 413
        malformed = await wa.post({"object": "page", "entry": []})
        assert malformed.status_code == 400
        assert await rows(runtime, InboxUpdate) == []  # nothing stored from those


async def test_a_message_is_stored_before_the_200_and_handled_after_a_restart(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = fake_graph(runtime)
    notification = graph.text(SAMIRA, "/start")
    async with running_whatsapp(runtime, graph) as wa:

        async def crash(*args: object) -> None:  # the process dies right after the 200
            return None

        monkeypatch.setattr(wa.adapter, "accept", crash)
        assert (await wa.post(notification)).status_code == 200
    (stored,) = await rows(runtime, InboxUpdate)
    assert (stored.channel, stored.user_key) == (CHANNEL, f"{CHANNEL}:{SAMIRA}")
    assert graph.sent == [] and await rows(runtime, User) == []
    async with running_whatsapp(runtime, graph) as wa:  # the next start
        assert await wa.adapter.accept_pending() == 1
        await wa.adapter.drain()
        assert graph.sent and len(await rows(runtime, User)) == 1
        assert await rows(runtime, InboxUpdate) == []
        assert await wa.feed(notification) == []  # Meta's retry of it: handled once


async def test_replies_kept_over_a_crash_after_the_commit_go_at_the_next_start(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = fake_graph(runtime)
    notification = graph.text(SAMIRA, "/start")
    monkeypatch.setattr(bot.inbox, "RESEND_GRACE", timedelta(0))  # one worker, also on PG
    with monkeypatch.context() as patch:
        async with running_whatsapp(runtime, graph) as wa:

            async def dies(*args: object) -> None:  # the process dies after the commit
                return None

            patch.setattr(wa.adapter, "deliver", dies)
            assert (await wa.post(notification)).status_code == 200
            await wa.adapter.drain()
    assert graph.sent == [] and len(await rows(runtime, User)) == 1  # handled, not sent
    async with running_whatsapp(runtime, graph) as wa:  # the next start
        assert await wa.adapter.accept_pending() == 0  # nothing left to handle
        assert graph.sent  # the reply went
        await wa.adapter.drain()
    sent = len(graph.sent)
    async with running_whatsapp(runtime, graph) as wa:  # and once only
        await wa.adapter.accept_pending()
        await wa.adapter.drain()
    assert len(graph.sent) == sent


async def test_the_business_number_for_join_links_comes_from_meta_or_the_first_message(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    graph = fake_graph(runtime)
    async with running_whatsapp(runtime, graph) as wa:
        await wa.adapter.learn_number()
        assert runtime.engine.config.whatsapp_number == "+1 555-078-3881"
        await wa.say(SAMIRA, "/start")  # its metadata has the same number, as digits
        assert runtime.engine.config.whatsapp_number == "+1 555-078-3881"
    runtime.engine.config = replace(runtime.engine.config, whatsapp_number=None)
    graph.number_refused = True
    async with running_whatsapp(runtime, graph) as wa:
        await wa.adapter.learn_number()  # Meta refuses: one line, and no number yet
        assert runtime.engine.config.whatsapp_number is None
        assert "could not ask WhatsApp for the business number (HTTP 400)" in caplog.text
        graph.refused.clear()
        await wa.say(SAMIRA, "Hallo")
        assert runtime.engine.config.whatsapp_number == "15550783881"


async def test_the_verification_handshake_echoes_the_challenge_for_the_right_token(
    runtime: Runtime,
) -> None:
    async with running_whatsapp(runtime, fake_graph(runtime)) as wa:
        query = {"hub.mode": "subscribe", "hub.challenge": "1158201444"}
        good = await wa.client.get(
            "/whatsapp", params={**query, "hub.verify_token": "verify-token-for-tests"}
        )
        assert (good.status_code, good.text) == (200, "1158201444")
        bad = await wa.client.get("/whatsapp", params={**query, "hub.verify_token": "guess"})
        assert bad.status_code == 403


async def test_a_duplicate_delivery_is_handled_once(runtime: Runtime) -> None:
    graph = fake_graph(runtime)
    async with running_whatsapp(runtime, graph) as wa:
        notification = graph.text(SAMIRA, "/start")
        first = await wa.feed(notification)
        again = await wa.feed(notification)  # Meta retries a delivery it thinks failed
        assert first and again == []
    assert update_id_of("wamid.A") < 0 and update_id_of("wamid.A") == update_id_of("wamid.A")


# -- what fits ---------------------------------------------------------------------------------
def test_labels_are_cut_at_a_word_boundary_with_an_ellipsis() -> None:
    assert shorten("Write a reflection", 20) == "Write a reflection"
    assert shorten("Neighbourhood, reading or culture project", 24) == "Neighbourhood, reading…"
    assert len(shorten("Sosyal alanda çalışıyorum, bu iş için diplomam yok", 24)) <= 24
    assert shorten("Competentiegerichtheidsdossier", 20) == "Competentiegerichth…"


def test_a_short_label_makes_reply_buttons_and_list_titles_that_are_not_cut() -> None:
    def reply(*buttons: Button) -> Reply:
        return Reply("Pick one", buttons=tuple((b,) for b in buttons))

    back = Button("« Back", "3:back")
    draft = Button("Stop for now, keep as draft", "3:pause", short="Keep as draft")
    fitted = layout(reply(Button("Show an example", "3:example"), draft, back), EN)
    interactive = fitted.messages[-1]["interactive"]
    assert interactive["type"] == "button"  # the short label fits 20: reply buttons
    titles = [b["reply"]["title"] for b in interactive["action"]["buttons"]]
    assert titles == ["Show an example", "Keep as draft", "« Back"]
    # Without the short label, the same three need a list, and the title is cut.
    plain = layout(reply(Button(draft.label, draft.data), back), EN).messages[-1]
    assert plain["interactive"]["type"] == "list"
    assert plain["interactive"]["action"]["sections"][0]["rows"][0]["title"].endswith("…")
    # In a list the short label is the title and the full label the description.
    many = [Button(f"Day {n}", f"3:{n}") for n in range(5)]
    rows = layout(reply(*many, draft), EN).messages[-1]["interactive"]["action"]["sections"]
    assert rows[0]["rows"][-1] == {
        "id": "3:pause",
        "title": "Keep as draft",
        "description": "Stop for now, keep as draft",
    }
    # A label that fits keeps its full words; a short label is only for a long one.
    assert (
        layout(reply(Button("Yes", "3:y", short="Y")), EN).messages[-1]["interactive"]["action"][
            "buttons"
        ][0]["reply"]["title"]
        == "Yes"
    )


def literal_button_labels() -> list[tuple[str, str | None, str]]:
    """Every button the flows make with a literal label: the label, its short label (or
    None) and where it is, read from the source (`ctx.button(ctx._("..."), ..., short=...)`,
    `ctx.command_button(...)`, `Button(t._("..."), ...)`)."""
    import ast

    import flows

    def literal(node: ast.expr | None) -> str | None:
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "_"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            return node.args[0].value
        return None

    labels: list[tuple[str, str | None, str]] = []
    root = Path(flows.__file__).parent
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name not in ("button", "command_button", "Button"):
                continue
            label = literal(node.args[0])
            if label is None:
                continue
            short = next((literal(k.value) for k in node.keywords if k.arg == "short"), None)
            labels.append((label, short, f"{path.relative_to(root.parent)}:{node.lineno}"))
    return labels


def test_no_button_label_of_the_flows_is_cut_on_whatsapp_in_any_language() -> None:
    """A label longer than a list row's title (24) in some language needs a short label,
    and a short label fits a reply button (20) in every language: WhatsApp never shows a
    flow's own button cut with an ellipsis."""
    from bot.whatsapp import BUTTON_TITLE, ROW_TITLE, cut
    from flows.i18n import LANGUAGES

    labels = literal_button_labels()
    assert len(labels) > 100  # the scan finds the flows' buttons
    problems = []
    for label, short, where in labels:
        for language in LANGUAGES:
            t = Translator(language)
            shown = t._(label) if "{" not in label else label
            button = Button(shown, "x", t._(short) if short else None)
            if cut(button, ROW_TITLE):
                problems.append(f"{where} {language}: {shown!r} needs a short label")
            if short and len(t._(short)) > BUTTON_TITLE:
                problems.append(f"{where} {language}: short {t._(short)!r} is over 20")
    assert problems == []


def test_the_label_check_finds_a_long_label_without_a_short_one() -> None:
    from bot.whatsapp import ROW_TITLE, cut

    assert cut(Button("Stop for now, keep as draft, and more", "x"), ROW_TITLE)
    assert not cut(Button("Stop for now, keep as draft, and more", "x", "Keep"), ROW_TITLE)


def test_buttons_become_reply_buttons_a_list_or_numbered_lines() -> None:
    def reply(*labels: str) -> Reply:
        return Reply(
            "Pick one", buttons=tuple((Button(x, f"3:{n}"),) for n, x in enumerate(labels))
        )

    three = layout(reply("Yes", "No", "« Back"), EN).messages
    assert [m["interactive"]["type"] for m in three] == ["button"]
    long = layout(
        reply("Yes, use it as evidence", "Neighbourhood, reading or culture project"), EN
    )
    interactive = long.messages[-1]["interactive"]
    assert interactive["type"] == "list"  # 20 characters would cut them: a list has 24
    first, second = interactive["action"]["sections"][0]["rows"]
    assert first == {"id": "3:0", "title": "Yes, use it as evidence"}
    assert second == {
        "id": "3:1",
        "title": "Neighbourhood, reading…",
        "description": "Neighbourhood, reading or culture project",
    }
    seven = layout(reply(*[f"Day {n}" for n in range(7)]), EN)
    assert seven.messages[-1]["interactive"]["type"] == "list" and not seven.numbered
    twelve = layout(reply(*[f"Theme {n}" for n in range(12)]), EN)
    assert twelve.messages[-1]["type"] == "text" and len(twelve.numbered) == 12
    assert "12. Theme 11" in twelve.messages[-1]["text"]["body"]
    body = layout(Reply("x" * 5000, buttons=((Button("OK", "1:ok"),),)), EN).messages
    assert [m["type"] for m in body] == ["text", "interactive"]
    assert len(body[-1]["interactive"]["body"]["text"]) <= 1024


# -- journeys ----------------------------------------------------------------------------------
async def test_onboarding_in_two_languages_through_lists_buttons_and_text(
    runtime: Runtime,
) -> None:
    graph = fake_graph(runtime)
    async with running_whatsapp(runtime, graph) as wa:
        sent = await onboard(wa, SAMIRA, "Nederlands", "Samira")
        assert "Samira" in texts(sent)
        sent = await onboard(wa, KARIM, "العربية", "كريم")
        assert "كريم" in texts(sent)
        # Typed commands and the word "menu" (in the learner's language, or English).
        sent = await wa.say(SAMIRA, "/help")
        assert "/goal" in texts(sent)
        sent = await wa.say(KARIM, "القائمة")
        assert Translator("ar")._("What would you like to do?") in texts(sent)
    samira, karim = sorted(await rows(runtime, User), key=lambda u: u.id)
    assert (samira.channel, samira.external_id, samira.language) == (CHANNEL, SAMIRA, "nl")
    assert (karim.language, karim.display_name) == ("ar", "كريم")
    assert graph.refused == []


async def test_numbered_lines_accept_the_number_while_they_are_current(runtime: Runtime) -> None:
    graph = fake_graph(runtime)
    async with running_whatsapp(runtime, graph) as wa:
        await onboard(wa, SAMIRA, "English", "Samira")
        await wa.say(SAMIRA, "/cancel")
        commands = ["help", "privacy", "goal", *[f"nope{n}" for n in range(9)]]
        reply = Reply("Many choices", buttons=tuple((Button(c, f"/{c}"),) for c in commands))
        sent_before = len(graph.sent)
        await wa.adapter.send_replies(SAMIRA, [reply])
        numbered = graph.sent[sent_before:][-1]
        assert numbered.type == "text" and "3. goal" in numbered.text
        (stored,) = await rows(runtime, NumberedChoices)
        assert stored.choices[2] == ["goal", "/goal"]
        sent = await wa.say(SAMIRA, "3")
        assert "Which theme" in texts(sent)  # "3" chose /goal
        # Inside the goal flow the menu's numbers are stale: "3" is text for the question in
        # hand (which asks for a tap), not /goal again.
        sent = await wa.say(SAMIRA, "3")
        assert texts(sent).startswith("Please tap one of the themes.")


async def test_a_starr_reflection_with_a_voice_note_and_a_photo_as_evidence(
    runtime: Runtime,
) -> None:
    graph = fake_graph(runtime)
    async with running_whatsapp(runtime, graph) as wa:
        await onboard(wa, SAMIRA, "English", "Samira")
        sent = await wa.say(SAMIRA, "/reflect")
        assert "S · Situation (Situatie) (1/5)" in texts(sent)
        sent = await wa.feed(graph.voice(SAMIRA, OGG))
        assert "T · Task (Taak) (2/5)" in texts(sent)
        assert len(graph.media_requests) == 1  # fetched through the media id
        await wa.say(SAMIRA, "My team leader asked me to talk with the mother alone.")
        await wa.say(SAMIRA, LONG)
        await wa.say(SAMIRA, LONG)
        await wa.choose(SAMIRA, "What did you learn about yourself?")
        sent = await wa.say(SAMIRA, LONG)
        assert "Which themes does this show?" in texts(sent)
        await wa.choose(SAMIRA, "Guiding")
        await wa.choose(SAMIRA, "Done")
        sent = await wa.choose(SAMIRA, "Done")
        assert "🎤 voice note" in texts(sent)
        await wa.choose(SAMIRA, "💾 Save")
        await wa.say(SAMIRA, "/cancel")
        sent = await wa.feed(graph.photo(SAMIRA, JPEG, caption="Our reading corner"))
        assert "Let us add this to your portfolio as a piece of evidence." in texts(sent)
    (reflection,) = await rows(runtime, Reflection)
    uploads = await rows(runtime, Upload)
    assert reflection.status == "done"
    voice = next(u for u in uploads if u.kind == "voice")
    assert reflection.extra["voice"] == {"situation": voice.id}
    photo = next(u for u in uploads if u.kind == "photo")
    assert photo.mime_type == "image/jpeg" and photo.size == len(JPEG)
    assert len(graph.media_requests) == 2  # the voice note and the photo, each by media id


# -- outside the window ------------------------------------------------------------------------
async def add_outbox(runtime: Runtime, user_id: int, kind: str, message: str, **params):  # type: ignore[no-untyped-def]
    async with runtime.sessionmaker() as session:
        row = OutboxMessage(
            user_id=user_id,
            kind=kind,
            dedup_key=f"{kind}:{user_id}:{message[:20]}",
            due_at=runtime.engine.clock(),
            payload=payload(message, buttons=[["Set my goal", "goal"]], **params),
        )
        session.add(row)
        await session.commit()
        return row.id


async def outbox(runtime: Runtime, row_id: int) -> OutboxMessage:
    async with runtime.sessionmaker() as session:
        row = await session.get(OutboxMessage, row_id)
        assert row is not None
        return row


async def test_outside_the_window_a_nudge_goes_as_its_template_and_the_rest_waits(
    runtime: Runtime, clock: FakeClock
) -> None:
    from flows import nudges
    from flows.coach.risk import REMINDERS

    graph = fake_graph(runtime)
    async with running_whatsapp(runtime, graph) as wa:
        await onboard(wa, SAMIRA, "Nederlands", "Samira")
        (samira,) = await rows(runtime, User)
        clock.advance(days=2)  # the 24-hour window has closed
        nudge = await add_outbox(
            runtime, samira.id, nudges.GOAL_PROMPT, nudges.VARIANTS[nudges.GOAL_PROMPT]["a"]
        )
        reminder = await add_outbox(
            runtime, samira.id, "coach_reminder", REMINDERS["goal"][1], name="Samira"
        )
        relay = await add_outbox(runtime, samira.id, "coach_message", "{coach} says: {text}",
                                 coach="Els", text="Tot dinsdag!")  # fmt: skip
        # One message per recipient a round (the per-chat pace): three rounds.
        counts: Counter[str] = Counter()
        sent = []
        for _ in range(3):
            result, more = await wa.dispatch()
            counts.update(result.counts)
            sent += more
        assert counts["sent"] == 2 and counts["waiting"] == 1, counts
        names = sorted(s.payload["template"]["name"] for s in sent)
        assert names == ["opstap_coach_goal", "opstap_goal_prompt"]
        template = next(s for s in sent if s.text == "opstap_goal_prompt").payload["template"]
        assert template["language"] == {"code": "nl"}
        assert template["components"][0]["parameters"] == [{"type": "text", "text": "Samira"}]
        assert (await outbox(runtime, relay)).status == "waiting"
        await wa.statuses()
        assert (await outbox(runtime, nudge)).delivered_at is not None
        # The quick-reply button of the template starts the goal; the relay goes out now.
        clock.advance(hours=3)
        sent = await wa.feed(graph.quick_reply(SAMIRA, "/goal", "Mijn leerdoel kiezen"))
        assert sent and sent[-1].interactive == "list"  # the goal's first question
        result, sent = await wa.dispatch()
        assert result["sent"] == 1 and "Tot dinsdag!" in texts(sent)
        assert (await outbox(runtime, relay)).status == "sent"
    assert (await outbox(runtime, reminder)).status == "sent"
    assert graph.refused == []


async def test_a_131047_refusal_is_recorded_and_sent_again_as_a_template(
    runtime: Runtime, clock: FakeClock
) -> None:
    from flows import nudges

    graph = fake_graph(runtime)
    async with running_whatsapp(runtime, graph) as wa:
        await onboard(wa, SAMIRA, "English", "Samira")
        (samira,) = await rows(runtime, User)
        # Opstap thinks the window is open; Meta counts otherwise (say, clocks apart).
        graph.last_inbound[SAMIRA] -= timedelta(days=2)
        graph.statuses.clear()
        row = await add_outbox(
            runtime, samira.id, nudges.CHECKIN, nudges.VARIANTS[nudges.CHECKIN]["a"]
        )
        result, sent = await wa.dispatch()
        assert result["sent"] == 1 and sent[0].type == "interactive"
        await wa.statuses()  # failed, 131047
        failed = await outbox(runtime, row)
        assert failed.status == "pending" and failed.error is not None
        assert failed.error.startswith("131047")
        result, sent = await wa.dispatch()
        assert [s.text for s in sent] == ["opstap_checkin"]
        assert (await outbox(runtime, row)).status == "sent"


async def test_an_undeliverable_learner_is_unreachable_and_the_coach_is_told(
    runtime: Runtime,
) -> None:
    from flows import nudges

    graph = fake_graph(runtime)
    async with running_whatsapp(runtime, graph) as wa:
        await onboard(wa, SAMIRA, "English", "Samira")
        async with runtime.sessionmaker() as session:
            learner = (await session.scalars(select(User))).one()
            coach = User(channel="telegram", external_id="77", language="fr", role="coach")
            session.add(coach)
            await session.flush()
            group = Group(name="Leergroep", coach_id=coach.id, join_code="abc")
            session.add(group)
            await session.flush()
            session.add(Membership(group_id=group.id, learner_id=learner.id))
            await session.commit()
        await add_outbox(runtime, learner.id, nudges.CHECKIN, nudges.VARIANTS[nudges.CHECKIN]["a"])
        graph.fail_next(400, 131026, "Message Undeliverable.")
        result, _ = await wa.dispatch()
        assert result["blocked"] == 1
    users = {u.id: u for u in await rows(runtime, User)}
    assert users[learner.id].status == "unreachable"
    notices = [m for m in await rows(runtime, OutboxMessage) if m.user_id == coach.id]
    assert [m.kind for m in notices] == [nudges.COACH_BLOCKED]


def test_every_template_has_at_most_one_variable_in_every_language() -> None:
    definitions = template_definitions(lambda language: Translator(language))
    assert len(definitions) == 5 * len(all_templates())
    for definition in definitions:
        body = definition["components"][0]["text"]
        assert body.count("{{") <= 1 and "{name}" not in body
        assert not body.startswith("{{") and not body.rstrip("!?.").endswith("}}")
        assert definition["category"] in ("UTILITY", "MARKETING")
        for component in definition["components"][1:]:
            for button in component["buttons"]:
                assert len(button["text"]) <= 25


async def test_a_nudge_refused_at_once_with_131047_goes_as_its_template_right_away(
    runtime: Runtime,
) -> None:
    from flows import nudges

    graph = fake_graph(runtime)
    async with running_whatsapp(runtime, graph) as wa:
        await onboard(wa, SAMIRA, "English", "Samira")
        (samira,) = await rows(runtime, User)
        row = await add_outbox(
            runtime, samira.id, nudges.LOOKBACK, nudges.VARIANTS[nudges.LOOKBACK]["a"]
        )
        graph.fail_next(400, 131047, "Re-engagement message")
        result, sent = await wa.dispatch()
        assert result["sent"] == 1
        assert [s.text for s in sent] == ["opstap_lookback"]  # the refused one was not sent
        assert (await outbox(runtime, row)).channel_message_id == sent[0].wamid


def test_whatsapp_settings_missing_or_malformed_name_the_variable_and_no_secret(
    tmp_path: Path,
) -> None:
    from tests.bot.test_config import opstap

    token = "EAAG-secret-token-value"
    missing = opstap(tmp_path, "run", OPSTAP_WHATSAPP_TOKEN=token)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "opstap: OPSTAP_WHATSAPP_PHONE_ID is not set: it is required with "
        "OPSTAP_WHATSAPP_TOKEN (see docs/DEPLOYMENT.md, WhatsApp)."
    ]
    given = {
        "OPSTAP_WHATSAPP_TOKEN": token,
        "OPSTAP_WHATSAPP_PHONE_ID": "1065",
        "OPSTAP_WHATSAPP_APP_SECRET": "app-secret-value",
    }
    no_verify = opstap(tmp_path, "run", **given)
    assert "OPSTAP_WHATSAPP_VERIFY_TOKEN is not set" in no_verify.stderr
    bad_url = opstap(
        tmp_path,
        "run",
        **given,
        OPSTAP_WHATSAPP_VERIFY_TOKEN="v",
        OPSTAP_WHATSAPP_API_URL="graph.facebook.com",
    )
    assert bad_url.stderr.strip() == (
        "opstap: OPSTAP_WHATSAPP_API_URL is not valid: must start with http:// or https://"
    )
    for result in (missing, no_verify, bad_url):
        assert token not in result.stderr and "app-secret-value" not in result.stderr


def test_whatsapp_templates_prints_json_for_meta() -> None:
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "bot", "whatsapp-templates"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    templates = json.loads(result.stdout)
    assert {t["language"] for t in templates} == {"nl", "fr", "en", "ar", "tr"}
    goal = next(t for t in templates if (t["name"], t["language"]) == ("opstap_goal_prompt", "nl"))
    assert goal == {
        "name": "opstap_goal_prompt",
        "language": "nl",
        "category": "UTILITY",
        "components": [
            {
                "type": "BODY",
                "text": "Hallo {{1}}! Een nieuwe week begint. Wil je een klein leerdoel kiezen?",
                "example": {"body_text": [["Samira"]]},
            },
            {
                "type": "BUTTONS",
                "buttons": [{"type": "QUICK_REPLY", "text": "Mijn leerdoel kiezen"}],
            },
        ],
    }


# -- the send budget ---------------------------------------------------------------------------
async def test_graph_sends_wait_for_the_budget_and_back_off_after_rate_limit_answers() -> None:
    """Every message goes through WhatsApp's budget; a pair-rate answer (131056) holds that
    person back, a throughput answer (130429) the whole number, and both are told to the
    outbox as 'try later' (never retried here)."""
    from bot.ratelimit import WHATSAPP, SendBudget, bulk
    from bot.scheduler import RetryLater
    from bot.whatsapp import PAIR_RATE_WAIT, THROUGHPUT_WAIT, GraphApi, GraphError, as_send_error
    from tests.bot.test_ratelimit import FakeTime
    from tests.bot.whatsapp_harness import SETTINGS
    from tests.fake_whatsapp import FakeGraph

    graph = FakeGraph()
    t = FakeTime()
    api = GraphApi(
        SETTINGS,
        transport=graph.transport,
        budget=SendBudget(WHATSAPP, clock=t.clock, sleep=t.sleep),
    )
    at: list[tuple[float, str]] = []

    async def send(to: str, *, scheduled: bool = True) -> None:
        graph.last_inbound[to] = graph.now()  # inside the 24-hour window
        try:
            if scheduled:
                with bulk():
                    await api.send({"to": to, "type": "text", "text": {"body": "hi"}})
            else:
                await api.send({"to": to, "type": "text", "text": {"body": "hi"}})
        except GraphError as error:
            at.append((t.now, f"{to} refused"))
            assert isinstance(as_send_error(error), RetryLater)
            return
        at.append((t.now, to))

    await t.run(send(SAMIRA), send(SAMIRA))  # scheduled: six seconds apart
    assert at == [(0.0, SAMIRA), (6.0, SAMIRA)]
    at.clear()
    graph.fail_next(400, 131056, "Pair rate limit hit")
    await t.run(send(KARIM, scheduled=False))
    await t.run(send(KARIM, scheduled=False), send("32470999000", scheduled=False))
    (refused, who), (other, whom), (again, who_again) = at
    assert (who, whom, who_again) == (f"{KARIM} refused", "32470999000", KARIM)
    assert other - refused < 0.1  # somebody else is not held back
    assert again >= refused + PAIR_RATE_WAIT
    at.clear()
    graph.fail_next(400, 130429, "Rate limit hit")
    start = t.now
    await t.run(send("32470999001", scheduled=False))
    await t.run(send("32470999002", scheduled=False))
    assert at[1][0] >= start + THROUGHPUT_WAIT
    await api.close()


async def test_a_graph_5xx_after_the_answer_was_stored_sends_the_reply_again(
    runtime: Runtime,
) -> None:
    """The message was handled and committed: the reply is tried again, not the message."""
    graph = fake_graph(runtime)
    async with running_whatsapp(runtime, graph) as wa:
        await wa.say(SAMIRA, "hello")
        graph.fail_next(500, 2, "Service temporarily unavailable")
        start = len(graph.sent)
        response = await wa.post(graph.choose(SAMIRA, "English"))
        assert response.status_code == 200
        await wa.adapter.drain()
        assert graph.refused == ["Service temporarily unavailable"]  # the first try
        sent = graph.sent[start:]
        assert sent and sent[-1].interactive == "button"  # then the consent question came
        (samira,) = await rows(runtime, User)
        assert samira.language == "en"
