"""A bad-input campaign with hypothesis through the real Application on the fake Bot API.

Generated updates: text with right-to-left marks, emoji, zero-width and control characters, up
to 5,000 characters; commands with odd arguments; malformed, stale and replayed button data;
presses of the buttons last shown (which walks deep into the flows); media Opstap does not use;
edited messages; messages in groups and channels; updates delivered twice. After each run: no
error was logged by any handler, every message sent is plain text (no parse_mode), 1 to 4,096
characters, with valid buttons, and the database is consistent.

Deterministic (derandomize) and moderate (a few dozen runs), so the suite stays fast.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.runtime import Runtime
from flows.engine import Flow
from flows.messages import parse_id
from storage.models import Conversation, ProcessedUpdate, User
from tests.fake_telegram import BotHarness, FakeTelegram, running_bot

PRIVATE_USERS = (1, 2, 3)
GROUP_USER = 50  # only ever writes in groups and channels: must never be stored
ODD = "\u200f\u200e\u202e\u2067\u2069\u200b\u200d\ufeff\u0000\u0007\u001b\u007f\n\t"
EMOJI = "🙂👩🏽‍⚕️🇧🇪✨"
WORDS = ["yes", "no", "Nederlands", "English", "العربية", "Samira", "/start", "ok", " "]

chars = st.text(
    alphabet=st.one_of(
        st.sampled_from(ODD + EMOJI),
        st.characters(exclude_categories=("Cs",), max_codepoint=0x2FFFF),
    ),
    max_size=40,
)
long_text = st.builds(
    lambda piece, n: (piece * n)[:5000], chars.filter(bool), st.integers(1, 5000)
)
texts = st.one_of(chars, long_text, st.sampled_from(WORDS))
commands = st.builds(
    lambda name, args: f"/{name}" + (f" {args}" if args else ""),
    st.sampled_from(
        ["start", "help", "language", "privacy", "mydata", "delete", "cancel", "x", "Start@bot"]
    )
    | st.text(min_size=1, max_size=10),
    st.one_of(st.just(""), chars, st.sampled_from(["join_abc", "join_" + "x" * 60, "fr"])),
)
button_data = st.one_of(
    st.text(max_size=64).filter(lambda d: len(d.encode()) <= 64),
    st.builds(
        lambda seq, value: f"{seq}:{value}",
        st.integers(-1, 12),
        st.sampled_from(["yes", "no", "keep", "erase", "lang:fr", "lang:xx", "<", ""]),
    ),
    st.sampled_from(["/start", "/delete", "/nonsense", "/mydata", ":", "1:", "/"]),
)
users = st.sampled_from(PRIVATE_USERS)
actions = st.one_of(
    st.tuples(st.just("text"), users, texts),
    st.tuples(st.just("command"), users, commands),
    st.tuples(st.just("press"), users, button_data),
    st.tuples(st.just("tap"), users, st.integers(0, 10)),
    st.tuples(st.just("tap"), users, st.integers(0, 10)),
    st.tuples(
        st.just("media"),
        users,
        st.sampled_from(["sticker", "location", "contact", "dice", "voice", "photo", "document"]),
    ),
    st.tuples(st.just("edited"), users, texts),
    st.tuples(st.just("group"), st.just(GROUP_USER), st.one_of(texts, commands)),
    st.tuples(st.just("channel"), st.just(GROUP_USER), texts),
    st.tuples(st.just("replay"), users, st.integers(0, 50)),
)

STICKER = {
    "file_id": "s",
    "file_unique_id": "s",
    "type": "regular",
    "width": 1,
    "height": 1,
    "is_animated": False,
    "is_video": False,
}


def build(
    telegram: FakeTelegram, bot: BotHarness, action: tuple[Any, ...], fed: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The update for one action (None when there is nothing to press)."""
    kind, user, value = action
    if kind == "text":
        return telegram.message(user, text=value)
    if kind == "command":
        return telegram.text(user, value)
    if kind == "press":
        return telegram.press(user, value)
    if kind == "tap":
        buttons = bot.last_buttons.get(user) or []
        if not buttons:
            return None
        return telegram.press(user, buttons[value % len(buttons)]["callback_data"])
    if kind == "media":
        if value in ("voice", "photo", "document"):
            file_id, unique = telegram.upload(b"\x00garbage" * 10)
            media: Any = {"file_id": file_id, "file_unique_id": unique}
            if value == "voice":
                media["duration"] = 2
            if value == "photo":
                media = [dict(media, width=1, height=1)]
            return telegram.message(user, **{value: media})
        fields: dict[str, Any] = {
            "sticker": {"sticker": STICKER},
            "location": {"location": {"latitude": 50.85, "longitude": 4.35}},
            "contact": {"contact": {"phone_number": "+3220000000", "first_name": "Mo"}},
            "dice": {"dice": {"emoji": "🎲", "value": 3}},
        }[value]
        return telegram.message(user, **fields)
    if kind == "edited":
        update = telegram.message(user, text=value)
        update["edited_message"] = dict(update.pop("message"), edit_date=1_700_000_100)
        return update
    if kind == "group":
        return telegram.text(user, value, chat_type="group")
    if kind == "channel":
        update = telegram.message(user, text=value, chat_type="channel")
        update["channel_post"] = update.pop("message")
        update["channel_post"].pop("from")
        return update
    if kind == "replay":
        return fed[value % len(fed)] if fed else None
    raise AssertionError(kind)


def check_sent(telegram: FakeTelegram, start: int) -> None:
    for call in telegram.sent(start):
        assert "parse_mode" not in call.params, call
        text = call.params.get("text", call.params.get("caption"))
        if call.method in ("sendMessage", "editMessageText"):
            assert isinstance(text, str) and text.strip() and len(text) <= 4096, call
        for button in call.buttons:
            assert button["text"].strip(), call
            assert len(button["callback_data"].encode()) <= 64, call


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(script=st.lists(actions, min_size=1, max_size=15))
async def test_bad_input_never_breaks_the_bot(
    runtime: Runtime,
    telegram: FakeTelegram,
    caplog: pytest.LogCaptureFixture,
    script: list[tuple[Any, ...]],
) -> None:
    caplog.clear()
    caplog.set_level(logging.WARNING)
    fed: list[dict[str, Any]] = []
    handled: set[int] = set()
    async with running_bot(runtime, telegram) as bot:
        for action in script:
            update = build(telegram, bot, action, fed)
            if update is None:
                continue
            start = len(telegram.calls)
            await bot.feed(update)
            check_sent(telegram, start)
            fed.append(update)
            if "callback_query" in update or (
                "message" in update and update["message"]["chat"]["type"] == "private"
            ):
                handled.add(update["update_id"])
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    async with runtime.sessionmaker() as session:
        processed = set(await session.scalars(select(ProcessedUpdate.update_id)))
        stored_users = list(await session.scalars(select(User)))
        conversations = list(await session.scalars(select(Conversation)))
    assert handled <= processed
    assert all(u.external_id != str(GROUP_USER) for u in stored_users)
    flows = runtime.engine.flows
    for conversation in conversations:
        if conversation.flow is not None:
            flow = flows[conversation.flow]
            # A step is an ask_<step> method, unless the flow asks its own steps (the
            # questionnaires' "q:<question id>").
            own_steps = type(flow).ask is not Flow.ask
            assert own_steps or hasattr(flow, f"ask_{conversation.step}"), conversation


def test_ids_out_of_the_column_range_are_no_ids() -> None:
    assert parse_id("17") == 17 and parse_id(" 2147483647 ") == 2**31 - 1
    for text in ("0", "2147483648", "99999999999999999999", "-3", "٣", "1e3", "", "x"):
        assert parse_id(text) is None, text


async def test_huge_ids_in_arguments_and_buttons_get_a_kind_answer(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    # On PostgreSQL these once crashed the handler (integer out of range for int4).
    huge = str(2**40)
    async with running_bot(runtime, telegram) as bot:
        await bot.say(7, "/start")
        await bot.press(7, "English")
        await bot.press(7, "Yes, I agree")
        await bot.say(7, "Samira")
        for text in (f"/reflect evidence:{huge}", f"/evidence linked:{huge}", f"/learner {huge}"):
            sent = await bot.say(7, text)
            assert sent and "something went wrong" not in sent[-1].text, text
        async with runtime.sessionmaker() as session:
            seq = (await session.scalars(select(Conversation.seq))).one()
        for data in (f"{seq}:v:{huge}", f"{seq}:p:{huge}", f"{seq}:r:{huge}"):
            sent = await bot.feed(telegram.press(7, data))
            assert sent and "something went wrong" not in sent[-1].text, data
