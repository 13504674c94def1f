"""A fake WhatsApp Cloud (Graph) API that checks every payload as the real one does.

It answers `POST /{phone_id}/messages` (text, interactive buttons and lists, image, document,
template), `POST /{phone_id}/media` (uploads), `GET /{phone_id}` (the business number),
`GET /{media_id}` and the media download URL,
always asking for the bearer token. It keeps the 24-hour rule: a free message to someone
who has not written in 24 hours is accepted, then reported failed with error 131047 in a
status notification, as Meta does. Templates must be the ones `opstap whatsapp-templates`
prints, with the right number of parameters. Graph-style errors can be queued.

The same core serves `httpx.MockTransport` (in-process tests) and a small threaded HTTP
server (the real `opstap run` process), which can also post signed notifications to the bot.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

TOKEN = "EAAGtest-whatsapp-token-never-shown"
APP_SECRET = "whatsapp-app-secret-for-tests"
VERIFY_TOKEN = "verify-token-for-tests"
PHONE_ID = "106540352242922"
#: The business number, as the phone number's own endpoint shows it; notifications carry it
#: as digits only in their metadata.
DISPLAY_NUMBER = "+1 555-078-3881"
VERSION = "v21.0"
API_URL = f"http://graph.test/{VERSION}"
WINDOW = timedelta(hours=24)


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    """The X-Hub-Signature-256 header Meta puts on a notification."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Sent:
    """One message the bot sent."""

    wamid: str
    payload: dict[str, Any]

    @property
    def to(self) -> str:
        return str(self.payload["to"])

    @property
    def type(self) -> str:
        return str(self.payload["type"])

    @property
    def text(self) -> str:
        kind = self.type
        if kind == "text":
            return str(self.payload["text"]["body"])
        if kind == "interactive":
            return str(self.payload["interactive"]["body"]["text"])
        if kind in ("image", "document"):
            return str(self.payload[kind].get("caption", ""))
        if kind == "template":
            return str(self.payload["template"]["name"])
        return ""

    @property
    def interactive(self) -> str | None:
        """`button` or `list` for interactive messages."""
        return self.payload["interactive"]["type"] if self.type == "interactive" else None

    @property
    def choices(self) -> list[dict[str, str]]:
        """Reply buttons or list rows: id, title (and description)."""
        if self.type != "interactive":
            return []
        action = self.payload["interactive"]["action"]
        if "buttons" in action:
            return [b["reply"] for b in action["buttons"]]
        return [row for section in action["sections"] for row in section["rows"]]

    @property
    def titles(self) -> list[str]:
        return [c["title"] for c in self.choices]


class GraphRefusal(Exception):
    def __init__(self, message: str, *, code: int = 100, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.status = code, status


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise GraphRefusal(message)


def _length(value: Any, limit: int, what: str) -> None:
    _need(isinstance(value, str) and 0 < len(value) <= limit, f"{what} must be 1..{limit} chars")


class FakeGraph:
    """The Graph API side, and the learners' side (notifications to post to the bot)."""

    def __init__(self, templates: list[dict[str, Any]] | None = None) -> None:
        self.sent: list[Sent] = []
        self.refused: list[str] = []
        self.uploads: dict[str, bytes] = {}
        self.media: dict[str, tuple[bytes, str]] = {}
        self.last_inbound: dict[str, datetime] = {}
        self.statuses: list[dict[str, Any]] = []
        self.failures: list[tuple[int, int, str]] = []
        self.media_requests: list[str] = []
        self.number_requests = 0
        self.number_refused = False  # answer the business number's GET with a Graph error
        self.templates = {(t["name"], t["language"]): t for t in templates or []}
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.base = "http://graph.test"  # where media downloads are served
        self.transport = httpx.MockTransport(self._mock)

    # -- the Graph side ---------------------------------------------------------------
    def respond(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        with self._lock:
            try:
                return self._respond(method, path, headers, body)
            except GraphRefusal as refusal:
                self.refused.append(str(refusal))
                error = {
                    "message": f"(#{refusal.code}) {refusal}",
                    "type": "OAuthException",
                    "code": refusal.code,
                    "fbtrace_id": "fake",
                }
                return refusal.status, "application/json", json.dumps({"error": error}).encode()

    def _respond(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if auth != f"Bearer {TOKEN}":
            raise GraphRefusal("Invalid OAuth access token.", code=190, status=401)
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["download"] and method == "GET":
            data, mime = self.media[parts[1]]
            return 200, mime, data
        _need(parts[:1] == [VERSION], f"unknown version in {path}")
        parts = parts[1:]
        if method == "GET" and parts == [PHONE_ID]:
            self.number_requests += 1
            if self.number_refused:
                raise GraphRefusal("Unsupported get request.", code=100)
            return self._json({"display_phone_number": DISPLAY_NUMBER, "id": PHONE_ID})
        if method == "GET" and len(parts) == 1:
            media_id = parts[0]
            self.media_requests.append(media_id)
            if media_id not in self.media:
                raise GraphRefusal("Unsupported get request.", code=100)
            data, mime = self.media[media_id]
            info = {
                "messaging_product": "whatsapp",
                "url": f"{self.base}/download/{media_id}",
                "mime_type": mime,
                "sha256": hashlib.sha256(data).hexdigest(),
                "file_size": len(data),
                "id": media_id,
            }
            return self._json(info)
        _need(method == "POST" and len(parts) == 2, f"unknown call {method} {path}")
        _need(parts[0] == PHONE_ID, "unknown phone number id")
        if parts[1] == "media":
            return self._upload(headers, body)
        _need(parts[1] == "messages", f"unknown edge {parts[1]}")
        if self.failures:
            status, code, title = self.failures.pop(0)
            raise GraphRefusal(title, code=code, status=status)
        payload = json.loads(body)
        self._check_message(payload)
        wamid = f"wamid.FAKE{next(self._ids):06d}"
        self.sent.append(Sent(wamid, payload))
        to = str(payload["to"])
        seen = self.last_inbound.get(to)
        if payload["type"] != "template" and (seen is None or self.now() - seen > WINDOW):
            self.statuses.append(
                self._status(
                    wamid,
                    to,
                    "failed",
                    errors=[
                        {
                            "code": 131047,
                            "title": "Re-engagement message",
                            "message": "Re-engagement message",
                            "error_data": {"details": "More than 24 hours have passed."},
                        }
                    ],
                )
            )
        else:
            self.statuses.append(self._status(wamid, to, "delivered"))
        return self._json(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": wamid}],
            }
        )

    def _upload(self, headers: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
        _need(content_type.startswith("multipart/form-data"), "upload must be multipart")
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        fields: dict[str, bytes] = {}
        for part in message.iter_parts():
            fields[str(part.get_param("name", header="content-disposition"))] = (
                part.get_payload(decode=True) or b""
            )
        _need(fields.get("messaging_product") == b"whatsapp", "messaging_product required")
        _need(bool(fields.get("type")), "type required")
        _need(bool(fields.get("file")), "file required")
        media_id = f"up{next(self._ids)}"
        self.uploads[media_id] = fields["file"]
        return self._json({"id": media_id})

    def _check_message(self, payload: dict[str, Any]) -> None:
        _need(payload.get("messaging_product") == "whatsapp", "messaging_product must be whatsapp")
        _need(bool(re.fullmatch(r"\d{6,15}", str(payload.get("to", "")))), "to: a phone number")
        kind = payload.get("type")
        if kind == "text":
            _length(payload["text"].get("body"), 4096, "text.body")
        elif kind == "interactive":
            self._check_interactive(payload["interactive"])
        elif kind in ("image", "document"):
            media = payload[kind]
            _need(media.get("id") in self.uploads or "link" in media, f"{kind}: unknown media id")
            if "caption" in media:
                _length(media["caption"], 1024, "caption")
        elif kind == "template":
            self._check_template(payload["template"])
        else:
            raise GraphRefusal(f"unsupported message type {kind}", code=131051)

    @staticmethod
    def _check_interactive(interactive: dict[str, Any]) -> None:
        _length(interactive.get("body", {}).get("text"), 1024, "interactive.body.text")
        action = interactive["action"]
        if interactive["type"] == "button":
            buttons = action["buttons"]
            _need(1 <= len(buttons) <= 3, "1 to 3 reply buttons")
            ids = [b["reply"]["id"] for b in buttons]
            titles = [b["reply"]["title"] for b in buttons]
            for button, title in zip(ids, titles, strict=True):
                _need(buttons[0]["type"] == "reply", "button type must be reply")
                _length(button, 256, "button id")
                _length(title, 20, "button title")
            _need(len(set(ids)) == len(ids), "button ids must be unique")
            _need(len(set(titles)) == len(titles), "button titles must be unique")
        elif interactive["type"] == "list":
            _length(action.get("button"), 20, "list button")
            sections = action["sections"]
            _need(1 <= len(sections) <= 10, "1 to 10 sections")
            rows = [row for section in sections for row in section["rows"]]
            _need(1 <= len(rows) <= 10, "1 to 10 rows in all")
            if len(sections) > 1:
                for section in sections:
                    _length(section.get("title"), 24, "section title")
            for row in rows:
                _length(row["id"], 200, "row id")
                _length(row["title"], 24, "row title")
                if "description" in row:
                    _length(row["description"], 72, "row description")
            _need(len({r["id"] for r in rows}) == len(rows), "row ids must be unique")
        else:
            raise GraphRefusal("unknown interactive type")

    def _check_template(self, template: dict[str, Any]) -> None:
        key = (template.get("name"), template.get("language", {}).get("code"))
        definition = self.templates.get(key)  # type: ignore[arg-type]
        if definition is None:
            raise GraphRefusal("Template name does not exist in the translation", code=132001)
        body = next(c for c in definition["components"] if c["type"] == "BODY")
        wanted = len(re.findall(r"\{\{\d+\}\}", body["text"]))
        given = [
            p
            for c in template.get("components", [])
            if c["type"] == "body"
            for p in c["parameters"]
        ]
        if len(given) != wanted:
            raise GraphRefusal("Number of parameters does not match", code=132000)
        for parameter in given:
            _length(parameter.get("text"), 1024, "template parameter")
        buttons = [c for c in definition["components"] if c["type"] == "BUTTONS"]
        count = len(buttons[0]["buttons"]) if buttons else 0
        for component in template.get("components", []):
            if component["type"] == "button":
                _need(int(component["index"]) < count, "no such template button")
                _need(component["sub_type"] == "quick_reply", "quick_reply buttons only")

    @staticmethod
    def _json(data: Any) -> tuple[int, str, bytes]:
        return 200, "application/json", json.dumps(data).encode()

    def _mock(self, request: httpx.Request) -> httpx.Response:
        status, content_type, content = self.respond(
            request.method, request.url.path, dict(request.headers), request.read()
        )
        return httpx.Response(status, content=content, headers={"content-type": content_type})

    def fail_next(self, status: int, code: int, title: str) -> None:
        """Makes the next message send fail with a Graph error."""
        self.failures.append((status, code, title))

    # -- the learners' side -------------------------------------------------------------
    def _notification(self, value: dict[str, Any]) -> dict[str, Any]:
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": re.sub(r"\D", "", DISPLAY_NUMBER),
                                    "phone_number_id": PHONE_ID,
                                },
                                **value,
                            },
                        }
                    ],
                }
            ],
        }

    def message(self, wa_id: str, kind: str, content: dict[str, Any]) -> dict[str, Any]:
        """A notification of one incoming message (the learner writes: the window opens)."""
        self.last_inbound[wa_id] = self.now()
        message = {
            "from": wa_id,
            "id": f"wamid.IN{next(self._ids):06d}",
            "timestamp": str(int(self.now().timestamp())),
            "type": kind,
            kind: content,
        }
        return self._notification(
            {
                "contacts": [{"profile": {"name": "Learner"}, "wa_id": wa_id}],
                "messages": [message],
            }
        )

    def text(self, wa_id: str, body: str) -> dict[str, Any]:
        return self.message(wa_id, "text", {"body": body})

    def choose(self, wa_id: str, label: str) -> dict[str, Any]:
        """Presses the reply button or list row with this title (or full description)."""
        last = next(s for s in reversed(self.sent) if s.to == wa_id and s.choices)
        choice = next(
            (c for c in last.choices if label in (c["title"], c.get("description"))), None
        )
        if choice is None:
            raise AssertionError(f"no choice {label!r} in {last.titles}")
        reply = {"id": choice["id"], "title": choice["title"]}
        if last.interactive == "button":
            return self.message(
                wa_id, "interactive", {"type": "button_reply", "button_reply": reply}
            )
        return self.message(wa_id, "interactive", {"type": "list_reply", "list_reply": reply})

    def number_of(self, wa_id: str, label: str) -> str:
        """The number of `label` in the last numbered lines sent to `wa_id`."""
        last = next(s for s in reversed(self.sent) if s.to == wa_id and s.type == "text")
        for line in last.text.splitlines():
            number, _, rest = line.partition(". ")
            if number.isdigit() and rest == label:
                return number
        raise AssertionError(f"no numbered line {label!r} in {last.text!r}")

    def quick_reply(self, wa_id: str, payload: str, text: str) -> dict[str, Any]:
        """Presses a quick-reply button of a template."""
        return self.message(wa_id, "button", {"payload": payload, "text": text})

    def store_media(self, data: bytes, mime: str) -> str:
        media_id = f"{next(self._ids) + 9000000}"
        self.media[media_id] = (data, mime)
        return media_id

    def voice(self, wa_id: str, data: bytes) -> dict[str, Any]:
        media_id = self.store_media(data, "audio/ogg; codecs=opus")
        return self.message(
            wa_id,
            "audio",
            {"mime_type": "audio/ogg; codecs=opus", "sha256": "x", "id": media_id, "voice": True},
        )

    def photo(self, wa_id: str, data: bytes, caption: str = "") -> dict[str, Any]:
        media_id = self.store_media(data, "image/jpeg")
        content = {"mime_type": "image/jpeg", "sha256": "x", "id": media_id}
        if caption:
            content["caption"] = caption
        return self.message(wa_id, "image", content)

    def _status(
        self, wamid: str, to: str, status: str, *, errors: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": wamid,
            "status": status,
            "timestamp": str(int(self.now().timestamp())),
            "recipient_id": to,
        }
        if errors:
            item["errors"] = errors
        return item

    def status_notification(self) -> dict[str, Any] | None:
        """The statuses reported so far, as one notification (and forgets them)."""
        if not self.statuses:
            return None
        statuses, self.statuses = self.statuses, []
        return self._notification({"statuses": statuses})

    def to(self, wa_id: str, since: int = 0) -> list[Sent]:
        return [s for s in self.sent[since:] if s.to == wa_id]


class _Handler(BaseHTTPRequestHandler):
    graph: FakeGraph

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        status, content_type, content = self.graph.respond(
            self.command, self.path.split("?")[0], dict(self.headers.items()), body
        )
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = _serve
    do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def graph_server(graph: FakeGraph) -> Iterator[str]:
    """Serves the fake Graph API on a free local port; yields its API URL."""
    handler = type("Handler", (_Handler,), {"graph": graph})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    graph.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{graph.base}/{VERSION}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Poster:
    """Posts signed notifications to a running bot, as Meta does."""

    url: str
    secret: str = APP_SECRET

    def post(self, notification: dict[str, Any], *, signed: bool = True) -> httpx.Response:
        body = json.dumps(notification).encode()
        headers = {"content-type": "application/json"}
        if signed:
            headers["X-Hub-Signature-256"] = sign(body, self.secret)
        with httpx.Client(timeout=60) as client:
            return client.post(self.url, content=body, headers=headers)
