"""A fake Bot API behind `httpx.MockTransport`, to drive the real python-telegram-bot stack.

Tests build the real Application with `HTTPXRequest(httpx_kwargs={"transport": ...})`, feed it
updates made here and read back every Bot API call it made.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from telegram import Update
from telegram.ext import Application
from telegram.request import HTTPXRequest

from tests.fake_botapi import form_parts, sent_message

TOKEN = "123456:TEST-token-never-shown"
API_URL = "http://telegram.test/bot"
FILE_URL = "http://telegram.test/file/bot"
BOT_ID = 999
SENDING = {"sendMessage", "sendPhoto", "sendDocument", "sendVoice", "sendMediaGroup"}


@dataclass
class Call:
    """One Bot API call the bot made."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def buttons(self) -> list[dict[str, Any]]:
        markup = self.params.get("reply_markup") or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]

    @property
    def labels(self) -> list[str]:
        return [b["text"] for b in self.buttons]


class FakeTelegram:
    """Answers Bot API calls like Telegram would, and records them."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.files: dict[str, bytes] = {}
        self.failures: dict[str, list[httpx.Response]] = {}
        self.pending_updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._file_ids = itertools.count(1)
        self._new_updates = asyncio.Event()
        self.transport = httpx.MockTransport(self.handle)
        #: Telegram refuses files a bot sends above this size (50 MB), with 413.
        self.upload_limit = 50 * 1024 * 1024
        #: While set and not yet opened, file downloads wait for it (a slow network).
        self.download_gate: asyncio.Event | None = None
        #: The next downloads answered with these HTTP statuses instead of the file.
        self.download_failures: list[int] = []

    # -- the Bot API side ---------------------------------------------------------------
    async def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/file/bot"):
            if self.download_gate is not None:
                await self.download_gate.wait()
            if self.download_failures:
                return httpx.Response(self.download_failures.pop(0))
            file_path = path.split("/", 3)[3]
            content = self.files.get(file_path)
            if content is None:
                return httpx.Response(404)
            return httpx.Response(200, content=content)
        method = path.rsplit("/", 1)[-1]
        params, files = self._parse(request)
        self.calls.append(Call(method, params, files))
        if self.failures.get(method):
            return self.failures[method].pop(0)
        if method in SENDING and any(len(blob) > self.upload_limit for blob in files.values()):
            body = {"ok": False, "error_code": 413, "description": "Request Entity Too Large"}
            return httpx.Response(413, json=body)
        return self._ok(await self._answer(method, params))

    def fail(self, method: str, status: int, description: str, **parameters: Any) -> None:
        """Makes the next call of `method` fail like Telegram would."""
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        self.failures.setdefault(method, []).append(httpx.Response(status, json=body))

    @staticmethod
    def _ok(result: Any) -> httpx.Response:
        return httpx.Response(200, json={"ok": True, "result": result})

    @staticmethod
    def _parse(request: httpx.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        content_type = request.headers.get("content-type", "")
        body = request.content
        raw: dict[str, str] = {}
        files: dict[str, bytes] = {}
        if content_type.startswith("multipart/form-data"):
            raw, files = form_parts(content_type, body)
        elif body:
            raw = dict(parse_qsl(body.decode(), keep_blank_values=True))
        params: dict[str, Any] = {}
        for key, value in raw.items():
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        return params, files

    async def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Opstap",
                "username": "opstap_test_bot",
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        if method == "getUpdates":
            return await self._get_updates(params)
        if method in SENDING or method.startswith("edit"):
            message_id = int(params.get("message_id") or next(self._message_ids))
            sender = {"id": BOT_ID, "is_bot": True, "first_name": "Opstap"}
            return sent_message(method, params, message_id, sender=sender)
        if method == "getFile":
            file_id = str(params["file_id"])
            return {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "file_size": len(self.files.get(f"files/{file_id}", b"")),
                "file_path": f"files/{file_id}",
            }
        return True

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        self.pending_updates = [u for u in self.pending_updates if u["update_id"] >= offset]
        if not self.pending_updates:
            self._new_updates.clear()
            try:
                await asyncio.wait_for(self._new_updates.wait(), timeout=0.2)
            except TimeoutError:
                return []
        return list(self.pending_updates)

    # -- the user side ------------------------------------------------------------------
    def queue(self, update: dict[str, Any]) -> None:
        """Offers an update to long polling."""
        self.pending_updates.append(update)
        self._new_updates.set()

    def update(self, **content: Any) -> dict[str, Any]:
        return {"update_id": next(self._update_ids), **content}

    def message(
        self,
        user_id: int,
        *,
        chat_type: str = "private",
        language: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        sender: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        if language:
            sender["language_code"] = language
        chat_id = user_id if chat_type == "private" else -100 - user_id
        return self.update(
            message={
                "message_id": next(self._message_ids),
                "date": 1_700_000_000,
                "chat": {"id": chat_id, "type": chat_type, "title": "Team"},
                "from": sender,
                **fields,
            }
        )

    def text(self, user_id: int, text: str, **options: Any) -> dict[str, Any]:
        entities = []
        if text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self.message(user_id, text=text, entities=entities, **options)

    def press(self, user_id: int, data: str, *, message_id: int = 1) -> dict[str, Any]:
        return self.update(
            callback_query={
                "id": str(next(self._message_ids)),
                "from": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"},
                "chat_instance": "ci",
                "data": data,
                "message": {
                    "message_id": message_id,
                    "date": 1_700_000_000,
                    "chat": {"id": user_id, "type": "private"},
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "Opstap"},
                    "text": "question",
                },
            }
        )

    def upload(self, content: bytes) -> tuple[str, str]:
        """Stores a file on the fake server; returns its file_id and unique id."""
        file_id = f"F{next(self._file_ids)}"
        self.files[f"files/{file_id}"] = content
        return file_id, f"u-{file_id}"

    def sent(self, since: int = 0) -> list[Call]:
        """The messages the bot sent or edited, from call number `since` on."""
        return [
            c for c in self.calls[since:] if c.method in SENDING or c.method.startswith("edit")
        ]


@dataclass
class BotHarness:
    """A running Application on the fake Bot API, with helpers to talk to it."""

    app: Application[Any, Any, Any, Any, Any, Any]
    telegram: FakeTelegram
    last_buttons: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    async def feed(self, update: dict[str, Any]) -> list[Call]:
        """Processes one update through every handler; returns what the bot sent."""
        start = len(self.telegram.calls)
        await self.app.process_update(Update.de_json(update, self.app.bot))
        sent = self.telegram.sent(start)
        for call in sent:
            if call.buttons:
                self.last_buttons[int(call.params["chat_id"])] = call.buttons
        return sent

    async def say(self, user_id: int, text: str, **options: Any) -> list[Call]:
        return await self.feed(self.telegram.text(user_id, text, **options))

    async def press(self, user_id: int, label: str) -> list[Call]:
        """Presses the button with this label from the last keyboard the user got."""
        buttons = self.last_buttons.get(user_id, [])
        data = next((b["callback_data"] for b in buttons if b["text"] == label), None)
        if data is None:
            raise AssertionError(f"no button {label!r} in {[b['text'] for b in buttons]}")
        return await self.feed(self.telegram.press(user_id, data))


def fake_request(telegram: FakeTelegram) -> HTTPXRequest:
    """An HTTPXRequest that talks to the fake Bot API."""
    return HTTPXRequest(httpx_kwargs={"transport": telegram.transport})


@asynccontextmanager
async def running_bot(runtime: Any, telegram: FakeTelegram) -> AsyncIterator[BotHarness]:
    """Starts the real Application on the fake Bot API (post_init included) and stops it."""
    from bot.ratelimit import Limits
    from bot.telegram import OutboxRateLimiter, build_application

    app = build_application(
        runtime,
        request=fake_request(telegram),
        get_updates_request=fake_request(telegram),
        # Telegram's pacing would only make the tests wait (tests/bot/test_ratelimit.py).
        rate_limiter=OutboxRateLimiter(limits=Limits.lifted()),
    )
    async with app:
        if app.post_init:
            await app.post_init(app)
        yield BotHarness(app=app, telegram=telegram)
    if app.post_shutdown:
        await app.post_shutdown(app)
