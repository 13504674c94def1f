"""A small fake Bot API as a real HTTP server in a thread, for `opstap run` as a process.

It keeps updates for long polling with Telegram's rule (an update is gone once a getUpdates
asks for a higher offset), answers the methods Opstap calls and records every call.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

BOT = {"id": 999, "is_bot": True, "first_name": "Opstap", "username": "opstap_bot"}


class BotApiServer:
    """The state of the fake: queued updates and the calls made."""

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.changed = threading.Condition()
        self.url = ""
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        #: Files a learner sent (served by getFile and the file URL), by file_id.
        self.stored: dict[str, bytes] = {}
        #: The files of each upload call (sendDocument, sendPhoto), in order, with its fields.
        self.uploads: list[tuple[str, dict[str, Any], dict[str, bytes]]] = []
        #: How many of the next calls to a method are answered 502 with an HTML page, as
        #: Telegram's front servers do; those calls are kept in `refused`, not in `calls`.
        self.fail: dict[str, int] = {}
        self.refused: list[tuple[str, dict[str, Any]]] = []

    # -- the learner side -------------------------------------------------------------------
    def text(self, user: int, text: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": 1_700_000_000,
            "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": f"User{user}"},
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
            ]
        return {"update_id": next(self._update_ids), "message": message}

    def file(self, content: bytes) -> dict[str, Any]:
        """Keeps a file as if a learner's phone had sent it; returns its ids for a message."""
        number = len(self.stored) + 1
        self.stored[f"file-{number}"] = content
        return {"file_id": f"file-{number}", "file_unique_id": f"unique-{number}"}

    def media(self, user: int, **media: Any) -> dict[str, Any]:
        """A message carrying a file: `voice={...}`, `photo=[...]` or `document={...}`."""
        update = self.text(user, "")
        del update["message"]["text"]
        update["message"].update(media)
        return update

    def press(self, user: int, data: str) -> dict[str, Any]:
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": str(next(self._message_ids)),
                "from": {"id": user, "is_bot": False, "first_name": f"User{user}"},
                "chat_instance": "ci",
                "data": data,
                "message": {
                    "message_id": 1,
                    "date": 1_700_000_000,
                    "chat": {"id": user, "type": "private"},
                    "from": BOT,
                    "text": "question",
                },
            },
        }

    def queue(self, *updates: dict[str, Any]) -> None:
        with self.changed:
            self.updates.extend(updates)
            self.changed.notify_all()

    def sent(self) -> list[dict[str, Any]]:
        """The messages sent and edited, in order."""
        with self.changed:
            return [p for m, p in self.calls if m in ("sendMessage", "editMessageText")]

    def wait(self, condition: Any, seconds: float = 180.0) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: condition(self), timeout=seconds):
                raise AssertionError(f"timed out waiting for the bot ({len(self.sent())} sent)")

    # -- the Bot API side -------------------------------------------------------------------
    def answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT
        if method == "getUpdates":
            offset = int(params.get("offset") or 0)
            timeout = min(float(params.get("timeout") or 0), 0.5)
            with self.changed:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                if not self.updates:
                    self.changed.wait(timeout)
                return list(self.updates[:100])
        if method in ("sendMessage", "editMessageText", "sendDocument", "sendPhoto"):
            return sent_message(method, params, next(self._message_ids), sender=BOT)
        if method == "getFile":
            file_id = str(params.get("file_id"))
            if file_id not in self.stored:
                return None
            return {
                "file_id": file_id,
                "file_unique_id": file_id.replace("file-", "unique-"),
                "file_size": len(self.stored[file_id]),
                "file_path": f"files/{file_id}",
            }
        return True


def form_parts(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """The fields and the files of a multipart/form-data body (a call that uploads a file)."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    form = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in form.iter_parts():
        name = str(part.get_param("name", header="content-disposition"))
        decoded = part.get_payload(decode=True)
        payload = decoded if isinstance(decoded, bytes) else b""
        if part.get_filename() is not None:
            files[name] = payload
        else:
            fields[name] = payload.decode()
    return fields, files


def sent_message(
    method: str, params: dict[str, Any], message_id: int, *, sender: dict[str, Any]
) -> dict[str, Any]:
    """The Message a sending method returns: its text or caption, and a document or photo."""
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": 0,
        "chat": {"id": int(params.get("chat_id", 0)), "type": "private"},
        "from": sender,
    }
    for key in ("text", "caption"):
        if key in params:
            message[key] = params[key]
    if method == "sendDocument":
        message["document"] = {"file_id": "doc", "file_unique_id": "doc"}
    if method == "sendPhoto":
        message["photo"] = [
            {"file_id": "photo", "file_unique_id": "photo", "width": 1, "height": 1}
        ]
    return message


@contextmanager
def bot_api_server() -> Iterator[BotApiServer]:
    """Runs the fake on a free loopback port; `url` is its base (add `/bot` for the API)."""
    state = BotApiServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            kind = self.headers.get("content-type") or ""
            params: dict[str, Any]
            try:
                if len(raw) < length:  # the bot was killed while it sent: nothing was sent
                    raise ValueError("incomplete request")
                if kind.startswith("multipart/form-data"):  # an upload: its fields, not the file
                    fields, files = form_parts(kind, raw)
                    params = dict(fields)
                    with state.changed:
                        state.uploads.append((self.path.rsplit("/", 1)[-1], params, files))
                else:
                    body = raw.decode()
                    params = json.loads(body) if body.startswith("{") else dict(parse_qsl(body))
            except ValueError:
                self.send_error(400, "Bad Request: the request could not be read")
                return
            for key in ("reply_markup", "allowed_updates"):
                if isinstance(params.get(key), str):
                    params[key] = json.loads(params[key])
            method = self.path.rsplit("/", 1)[-1]
            with state.changed:
                refuse = state.fail.get(method, 0) > 0
                if refuse:
                    state.fail[method] -= 1
                    state.refused.append((method, params))
                    state.changed.notify_all()
            if refuse:
                self.send_error(502, "Bad Gateway")
                return
            result = state.answer(method, params)
            if method != "getUpdates":
                with state.changed:
                    state.calls.append((method, params))
                    state.changed.notify_all()
            payload = json.dumps({"ok": True, "result": result}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            """Serves a file a learner sent (`{url}/file/bot<token>/files/<file_id>`)."""
            content = state.stored.get(self.path.rsplit("/", 1)[-1])
            self.send_response(200 if content is not None else 404)
            self.send_header("content-length", str(len(content or b"")))
            self.end_headers()
            self.wfile.write(content or b"")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
