"""The WhatsApp Cloud API adapter: webhook notifications into flow events, replies into
Graph API calls. It drives the same engine as Telegram; it holds no rules and no SQL.

- `GET /whatsapp` answers Meta's verification handshake (`hub.mode=subscribe`, the verify
  token compared in constant time, `hub.challenge` echoed).
- `POST /whatsapp` is refused with 401 (no `X-Hub-Signature-256`) or 403 (wrong one) before
  anything is parsed or stored: the signature is HMAC-SHA256 of the raw body with the app
  secret. Bodies are capped at 1 MB. Each message of a notification is stored raw in the
  durable inbox (`bot/inbox.py`) under an update id hashed from its wamid (negative, so it
  never meets a Telegram id), statuses are recorded, and only then is the POST answered 200
  (503 when the database cannot store: Meta delivers again). Stored messages are handled
  from the inbox as Telegram updates are: one user's in order, at most once (the id is
  claimed in the transaction that handles it, so a redelivery is skipped), tried three
  times, and one that cannot be read (typed pydantic models) is set aside.
- Media in (audio and voice, image, document, video) is read through its media id with the
  access token: `GET {url}/{media_id}` gives size, type and a download URL, fetched with
  the token and a size cap; the flows check size and type as for Telegram.
- Replies go to `{url}/{phone_id}/messages`. What WhatsApp cannot show is decided here, one
  rule per limit: a label longer than a title may be is replaced by the flow's short label
  (`Button.short`) where it gave one; up to 3 buttons whose titles then fit 20 characters
  are reply buttons; up to 10 (or 3 with a longer title) a list message, row titles cut to
  24 characters at a word boundary with an ellipsis only when no short label fits, and the
  full label as the row description (72) whenever the title is not the label; more become
  numbered lines in the text, remembered so that the number typed back picks the choice.
  Button ids carry the same data as Telegram's callback data. Texts are split at 4,096
  characters, the body of a message with buttons at 1,024. Files are uploaded to
  `{url}/{phone_id}/media` and sent by id.
- Outside the 24-hour window after the learner's last message, a nudge goes as the approved
  template of its kind and language (`TEMPLATES`, printed by `opstap whatsapp-templates`);
  anything else waits until the learner writes (`Waiting`). Status webhooks mark outbox rows
  delivered, read or failed; error 131047 (re-engagement needed) sends a nudge again as a
  template, never the same free message blindly; 131026 (undeliverable) marks the learner
  unreachable and tells their coach.

The client is httpx with pydantic models, not pywa: pywa's `WhatsApp` client fixes the Graph
host (`https://graph.facebook.com/v{version}`), so it cannot be pointed at
`OPSTAP_WHATSAPP_API_URL` (a fake Graph API in tests, a proxy in production), and it brings
its own webhook server and handler registry (FastAPI or Flask) where Opstap already serves
Starlette under uvicorn and must verify, store and then acknowledge in its own order. The
Cloud API is a handful of JSON calls; httpx is already a dependency (python-telegram-bot's
transport) and async, and the typed models below are all of the payload Opstap reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import mimetypes
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot import inbox as inbox_
from bot.config import WhatsAppSettings
from bot.http import TooLarge, healthz, read_body
from bot.inbox import Inbox
from bot.logsafety import protect
from bot.ratelimit import WHATSAPP, SendBudget, bulk, is_bulk
from bot.scheduler import (
    AsyncioJobs,
    NotServedHere,
    OutcomeUnknown,
    RetryLater,
    SendFailed,
    SharedSchedule,
    Unreachable,
    Waiting,
    install,
)
from flows import nudges
from flows.coach.access import digits
from flows.coach.risk import REMINDERS
from flows.i18n import LANGUAGES, N_, Translator, shorten
from flows.messages import (
    MAX_FILE_BYTES,
    Button,
    Event,
    FileKind,
    IncomingFile,
    Origin,
    Reply,
)
from storage.models import OutboxMessage, User
from storage.repositories import WAITING
from storage.uow import UnitOfWork

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)
CHANNEL = "whatsapp"
PATH = "/whatsapp"
SIGNATURE_HEADER = "X-Hub-Signature-256"
#: Meta's window after the learner's last message, less a margin for clocks and delays.
WINDOW = timedelta(hours=24) - timedelta(minutes=5)

# -- WhatsApp's limits (one rule per limit, see the module docstring) --------------------------
MAX_REPLY_BUTTONS = 3
BUTTON_TITLE = 20
MAX_LIST_ROWS = 10
ROW_TITLE = 24
ROW_DESCRIPTION = 72
LIST_BUTTON = 20
TEXT_BODY = 4096
INTERACTIVE_BODY = 1024
CAPTION = 1024
TEMPLATE_BUTTON = 25

#: Graph error codes (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes)
REENGAGEMENT = 131047
UNDELIVERABLE = 131026
RATE_LIMITED = frozenset({4, 80007, 130429, 131048, 131056})
PAIR_RATE_LIMITED = 131056
#: Seconds until the outbox tries a message again after a rate-limit answer (Graph gives no
#: retry_after); meanwhile this process sends nothing for THROUGHPUT_WAIT seconds after a
#: throughput error (130429 and the like), nothing to that person for PAIR_RATE_WAIT after
#: a pair-rate one (131056).
RATE_LIMIT_WAIT = 60.0
THROUGHPUT_WAIT = 2.0
PAIR_RATE_WAIT = 30.0


# -- webhook payloads (only what Opstap reads; everything else is ignored) ---------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextBody(_Model):
    body: str


class Choice(_Model):
    """A pressed reply button (`button_reply`) or a chosen list row (`list_reply`)."""

    id: str
    title: str = ""
    description: str | None = None


class Interactive(_Model):
    type: str
    button_reply: Choice | None = None
    list_reply: Choice | None = None


class TemplateButton(_Model):
    """A quick-reply button of a template, pressed."""

    text: str = ""
    payload: str | None = None


class Media(_Model):
    id: str
    mime_type: str | None = None
    sha256: str | None = None
    caption: str | None = None
    filename: str | None = None
    voice: bool | None = None


class GraphErrorBody(_Model):
    code: int
    title: str | None = None
    message: str | None = None


class IncomingMessage(_Model):
    sender: str = Field(alias="from")
    id: str
    timestamp: str = ""
    type: str
    text: TextBody | None = None
    interactive: Interactive | None = None
    button: TemplateButton | None = None
    audio: Media | None = None
    image: Media | None = None
    document: Media | None = None
    video: Media | None = None


class Status(_Model):
    id: str
    status: str
    timestamp: str = ""
    recipient_id: str = ""
    errors: list[GraphErrorBody] = Field(default_factory=list)


class Profile(_Model):
    name: str | None = None


class Contact(_Model):
    wa_id: str
    profile: Profile | None = None


class Metadata(_Model):
    phone_number_id: str
    display_phone_number: str | None = None


class Value(_Model):
    """What changed. Messages and statuses stay raw here: each is stored or read on its own,
    so that one Opstap cannot read never holds up the others."""

    messaging_product: Literal["whatsapp"]
    metadata: Metadata
    contacts: list[Contact] = Field(default_factory=list)
    messages: list[dict[str, Any]] = Field(default_factory=list)
    statuses: list[dict[str, Any]] = Field(default_factory=list)
    errors: list[GraphErrorBody] = Field(default_factory=list)


class Change(_Model):
    field: str
    value: Value


class Entry(_Model):
    id: str
    changes: list[Change] = Field(default_factory=list)


class Notification(_Model):
    """One webhook POST: `object` is always `whatsapp_business_account`."""

    object: Literal["whatsapp_business_account"]
    entry: list[Entry]


def signature_ok(body: bytes, header: str, secret: str) -> bool:
    """Whether `X-Hub-Signature-256` is `sha256=` + HMAC-SHA256(body, app secret)."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.strip().encode(), expected.encode())


def update_id_of(wamid: str) -> int:
    """A stable negative 63-bit id for a WhatsApp message, recorded like Telegram's update
    ids (which are positive, so the two never collide)."""
    digest = hashlib.blake2b(wamid.encode(), digest_size=8).digest()
    return -(int.from_bytes(digest, "big") >> 1) - 1


# -- the Graph API ----------------------------------------------------------------------------
class GraphError(Exception):
    """A Graph API error answer: HTTP status, Graph's error code and title."""

    def __init__(self, status: int, code: int | None, title: str) -> None:
        super().__init__(f"{status} {code}: {title}")
        self.status, self.code, self.title = status, code, title


@dataclass(frozen=True)
class MediaInfo:
    url: str
    mime_type: str | None
    file_size: int | None


class GraphApi:
    """The few Cloud API calls Opstap makes, with the access token and time limits."""

    def __init__(
        self,
        settings: WhatsAppSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        budget: SendBudget | None = None,
    ) -> None:
        self.phone_id = settings.phone_id
        #: Every message posted waits for WhatsApp's send budget (bot/ratelimit.py).
        self.budget = budget or SendBudget(WHATSAPP)
        self.client = httpx.AsyncClient(
            base_url=settings.api_url + "/",
            headers={"Authorization": f"Bearer {settings.token}"},
            timeout=httpx.Timeout(30.0, connect=10.0),
            transport=transport,
        )

    async def close(self) -> None:
        await self.client.aclose()

    @staticmethod
    def _error(response: httpx.Response) -> GraphError:
        try:
            error = response.json().get("error") or {}
        except ValueError:
            error = {}
        code = error.get("code") if isinstance(error.get("code"), int) else None
        title = str(error.get("message") or error.get("title") or response.reason_phrase)
        return GraphError(response.status_code, code, title[:200])

    async def send(self, message: dict[str, Any]) -> str:
        """Sends one message within the send budget (a scheduled one inside `bulk()`);
        returns its wamid. After a rate-limit answer the budget holds back: the whole
        number after a throughput error, this recipient after a pair-rate one."""
        to = str(message["to"])
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", **message}
        async with self.budget.request(to, scheduled=is_bulk()):
            response = await self.client.post(f"{self.phone_id}/messages", json=body)
        if response.status_code >= 400:
            error = self._error(response)
            if error.code == PAIR_RATE_LIMITED:
                self.budget.hold(PAIR_RATE_WAIT, chat=to)
            elif error.status == 429 or error.code in RATE_LIMITED:
                self.budget.hold(THROUGHPUT_WAIT)
            raise error
        return str(response.json()["messages"][0]["id"])

    async def display_number(self) -> str | None:
        """The business number as Meta shows it ("+32 470 12 34 56"), for join links."""
        response = await self.client.get(
            self.phone_id, params={"fields": "display_phone_number"}, timeout=10.0
        )
        if response.status_code >= 400:
            raise self._error(response)
        number = response.json().get("display_phone_number")
        return number if isinstance(number, str) and number.strip() else None

    async def upload(self, data: bytes, *, mime_type: str, file_name: str) -> str:
        """Uploads a file to send; returns its media id."""
        response = await self.client.post(
            f"{self.phone_id}/media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (file_name, data, mime_type)},
        )
        if response.status_code >= 400:
            raise self._error(response)
        return str(response.json()["id"])

    async def media(self, media_id: str) -> MediaInfo:
        """What Graph says of an incoming media id: its download URL, type and size."""
        response = await self.client.get(media_id)
        if response.status_code >= 400:
            raise self._error(response)
        data = response.json()
        size = data.get("file_size")
        return MediaInfo(
            url=str(data["url"]),
            mime_type=data.get("mime_type"),
            file_size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
        )

    async def download(self, url: str, *, limit: int = MAX_FILE_BYTES) -> bytes:
        """Downloads media with the token; stops one byte past `limit` (too big)."""
        chunks: list[bytes] = []
        size = 0
        async with self.client.stream("GET", url) as response:
            if response.status_code >= 400:
                raise GraphError(response.status_code, None, "media download failed")
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    break
        return b"".join(chunks)[: limit + 1]


async def business_number(graph: GraphApi) -> str | None:
    """`GraphApi.display_number`, or None when Meta does not give it (one log line, with
    the HTTP status or the error's type only)."""
    try:
        return await graph.display_number()
    except (GraphError, httpx.HTTPError, ValueError) as error:
        reason = f"HTTP {error.status}" if isinstance(error, GraphError) else type(error).__name__
        log.warning("could not ask WhatsApp for the business number (%s)", reason)
        return None


def transient(error: BaseException) -> bool:
    """A failure worth trying again: a rate limit, the servers, the network."""
    if not isinstance(error, GraphError | httpx.HTTPError):
        return False
    return isinstance(as_send_error(error), RetryLater | OutcomeUnknown)


def as_send_error(error: Exception) -> Exception:
    """A Graph or transport error as the outbox's exception for it."""
    if isinstance(error, GraphError):
        if error.status == 429 or error.code in RATE_LIMITED:
            return RetryLater(RATE_LIMIT_WAIT)
        if error.code == REENGAGEMENT:
            return Waiting(error.title)
        if error.code == UNDELIVERABLE:
            return Unreachable(error.title)
        if error.status >= 500:
            return OutcomeUnknown(str(error))
        return SendFailed(str(error))
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
        return RetryLater(30.0)  # the request never left: safe to try again
    return OutcomeUnknown(type(error).__name__)


# -- what fits ---------------------------------------------------------------------------------
def _spaced(label: str) -> str:
    return " ".join(label.split())


def title_of(button: Button, limit: int) -> str:
    """A button's title within `limit`: its label when it fits, else its short label when
    the flow gave one, else the label shortened (`shorten`)."""
    label = _spaced(button.label)
    if len(label) > limit and button.short:
        return shorten(button.short, limit)
    return shorten(label, limit)


def cut(button: Button, limit: int) -> bool:
    """Whether the button's title within `limit` had to be shortened with an ellipsis."""
    label = _spaced(button.label)
    return len(label) > limit and len(_spaced(button.short or label)) > limit


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at line breaks where possible."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit)
        cut = cut if cut > 0 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n ")
    pieces.append(text)
    return pieces


def unique_buttons(reply: Reply) -> list[Button]:
    """The reply's buttons in order, each action once (ids must be unique)."""
    seen: set[str] = set()
    buttons = []
    for button in reply.flat_buttons:
        if button.data not in seen:
            seen.add(button.data)
            buttons.append(button)
    return buttons


@dataclass(frozen=True)
class Layout:
    """A reply as WhatsApp messages (without `to`), and the choices offered as numbers."""

    messages: list[dict[str, Any]]
    numbered: list[Button] = field(default_factory=list)


def layout(reply: Reply, t: Translator) -> Layout:
    """Lays a reply's text and buttons out within WhatsApp's limits (see the docstring)."""
    buttons = unique_buttons(reply)
    text = reply.text.strip() or "…"
    numbered: list[Button] = []
    if len(buttons) > MAX_LIST_ROWS:
        numbered = buttons
        lines = [f"{n}. {b.label}" for n, b in enumerate(buttons, start=1)]
        text = "\n".join([text, "", *lines, "", t._("Reply with the number of your choice.")])
        buttons = []
    if not buttons:
        return Layout([_text(piece) for piece in split_text(text, TEXT_BODY)], numbered)
    pieces = split_text(text, TEXT_BODY)
    pieces[-1:] = split_text(pieces[-1], INTERACTIVE_BODY)
    messages = [_text(piece) for piece in pieces[:-1]]
    body = {"text": pieces[-1]}
    fits = not any(cut(b, BUTTON_TITLE) for b in buttons)
    if len(buttons) <= MAX_REPLY_BUTTONS and fits:
        action: dict[str, Any] = {
            "buttons": [
                {"type": "reply", "reply": {"id": b.data, "title": title_of(b, BUTTON_TITLE)}}
                for b in buttons
            ]
        }
        messages.append(_interactive("button", body, action))
    else:
        rows = []
        for b in buttons:
            title = title_of(b, ROW_TITLE)
            row = {"id": b.data, "title": title}
            if title != _spaced(b.label):
                row["description"] = shorten(b.label, ROW_DESCRIPTION)
            rows.append(row)
        action = {
            "button": shorten(t._("Choose"), LIST_BUTTON),
            "sections": [{"rows": rows}],
        }
        messages.append(_interactive("list", body, action))
    return Layout(messages, numbered)


def _interactive(kind: str, body: dict[str, str], action: dict[str, Any]) -> dict[str, Any]:
    return {"type": "interactive", "interactive": {"type": kind, "body": body, "action": action}}


def _text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"preview_url": False, "body": body}}


# -- templates (outside the 24-hour window) ---------------------------------------------------
@dataclass(frozen=True)
class Template:
    """An approved message template: its name, English body (at most one `{name}`), and
    quick-reply buttons as (English label, command)."""

    name: str
    body: str
    buttons: tuple[tuple[str, str], ...] = ()
    category: str = "UTILITY"


#: One template per nudge kind, in B1 words, with the learner's name as the only variable.
NUDGE_TEMPLATES: dict[str, str] = {
    nudges.GOAL_PROMPT: N_("Hello {name}! A new week starts. Do you want to choose a small goal?"),
    nudges.CHECKIN: N_("Hello {name}! How is your goal going this week?"),
    nudges.LOOKBACK: N_("Hello {name}! The week is almost over. How did your goal go?"),
    nudges.REFLECT: N_(
        "Well done, {name}! You reached your goal. Do you want to write a short reflection?"
    ),
    nudges.INACTIVE_7: N_(
        "Hello {name}! I have not heard from you for a week. One small step is enough."
    ),
    nudges.INACTIVE_14: N_(
        "Hello {name}! Your learning group is still there for you. Do you want to go on?"
    ),
    nudges.WELCOME_BACK: N_("Welcome back, {name}! Shall we choose a small goal?"),
}
COACH_REMINDER = "coach_reminder"


def all_templates() -> list[Template]:
    """Every template Opstap uses: one per nudge kind, one per ready-made coach reminder."""
    found = [
        Template(
            name=f"opstap_{kind}",
            body=body,
            buttons=tuple((label, command) for label, command in nudges.BUTTONS.get(kind, [])),
        )
        for kind, body in NUDGE_TEMPLATES.items()
    ]
    found += [
        Template(
            name=f"opstap_coach_{key}",
            body=message,
            buttons=tuple((label, command) for label, command in buttons),
        )
        for key, (_, message, buttons) in REMINDERS.items()
    ]
    return found


def template_for(origin: Origin | None) -> Template | None:
    """The template a scheduled message goes as outside the window; None when it waits."""
    if origin is None:
        return None
    by_name = {template.name: template for template in all_templates()}
    if origin.kind in NUDGE_TEMPLATES:
        return by_name[f"opstap_{origin.kind}"]
    if origin.kind == COACH_REMINDER:
        key = next((k for k, (_, m, _) in REMINDERS.items() if m == origin.source), None)
        return by_name.get(f"opstap_coach_{key}") if key else None
    return None


def _meta_text(body: str) -> str:
    return body.replace("{name}", "{{1}}")


def template_definitions(translator: Callable[[str], Translator]) -> list[dict[str, Any]]:
    """Every template in every language, shaped as Meta's template API takes them
    (`POST /<WABA_ID>/message_templates`)."""
    definitions = []
    for template in all_templates():
        for language in LANGUAGES:
            t = translator(language)
            body = t._(template.body)  # without parameters: `{name}` stays as it is
            components: list[dict[str, Any]] = [
                {
                    "type": "BODY",
                    "text": _meta_text(body),
                    **({"example": {"body_text": [["Samira"]]}} if "{name}" in body else {}),
                }
            ]
            if template.buttons:
                components.append(
                    {
                        "type": "BUTTONS",
                        "buttons": [
                            {"type": "QUICK_REPLY", "text": shorten(t._(label), TEMPLATE_BUTTON)}
                            for label, _ in template.buttons
                        ],
                    }
                )
            definitions.append(
                {
                    "name": template.name,
                    "language": language,
                    "category": template.category,
                    "components": components,
                }
            )
    return definitions


def template_message(template: Template, user: User, t: Translator) -> dict[str, Any]:
    """The template as a message to one learner: their name, the buttons' commands."""
    components: list[dict[str, Any]] = []
    if "{name}" in template.body:
        name = t.embed(" ".join((user.display_name or "").split())[:60] or "🙂")
        components.append({"type": "body", "parameters": [{"type": "text", "text": name}]})
    components += [
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": str(index),
            "parameters": [{"type": "payload", "payload": f"/{command}"}],
        }
        for index, (_, command) in enumerate(template.buttons)
    ]
    body: dict[str, Any] = {"name": template.name, "language": {"code": t.language}}
    if components:
        body["components"] = components
    return {"type": "template", "template": body}


def window_open(user: User, now: datetime) -> bool:
    """Whether the 24-hour window after the user's last message is still open."""
    return user.last_seen_at is not None and now - user.last_seen_at < WINDOW


# -- the adapter -------------------------------------------------------------------------------
class WhatsAppAdapter:
    """Turns notifications into engine calls and replies into Graph API messages."""

    def __init__(
        self,
        runtime: Runtime,
        settings: WhatsAppSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        budget: SendBudget | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        if budget is None:  # one budget for every process of the bot (PostgreSQL)
            shared = SharedSchedule.for_engine(runtime.db, CHANNEL, WHATSAPP.shared_interval)
            budget = SendBudget(WHATSAPP, shared=shared)
        self.graph = GraphApi(settings, transport=transport, budget=budget)
        self.inbox = Inbox(runtime, CHANNEL)
        self._tasks: set[asyncio.Task[None]] = set()
        self.menu_words = {
            runtime.engine.translator(language)._(N_("menu")).casefold() for language in LANGUAGES
        } | {"menu"}
        protect(settings.token, settings.app_secret, settings.verify_token)

    async def close(self) -> None:
        await self.graph.close()
        if isinstance(self.graph.budget.shared, SharedSchedule):
            await self.graph.budget.shared.close()

    # -- in ---------------------------------------------------------------------------
    async def receive(self, notification: Notification) -> None:
        """Stores every message of a notification in the durable inbox and records its
        statuses; raises when the database fails (then nothing may be acknowledged). The
        stored messages are handled afterwards, each user's in order (`accept`)."""
        stored: list[tuple[int, str | None, dict[str, Any]]] = []
        statuses: list[dict[str, Any]] = []
        for entry in notification.entry:
            for change in entry.changes:
                if change.field != "messages":
                    continue
                self._number_seen(change.value.metadata)
                for raw in change.value.messages:
                    wamid, sender = raw.get("id"), raw.get("from")
                    if not isinstance(wamid, str) or not wamid:
                        log.warning("a WhatsApp message without an id was ignored")
                        continue
                    key = f"{CHANNEL}:{sender}" if isinstance(sender, str) else None
                    stored.append((update_id_of(wamid), key, raw))
                statuses += change.value.statuses
        new = await self.inbox.store(stored) if stored else set()
        for raw in statuses:
            await self.on_status(raw)
        for update_id, key, raw in stored:
            if update_id in new:
                await self.accept(update_id, key, raw)

    async def learn_number(self) -> None:
        """At start: asks Meta for the business number, which the coaches' join links and
        flyers need (`/invite`). When Meta does not answer, the number of the first message
        received is taken (its metadata carries it)."""
        self._set_number(await business_number(self.graph))

    def _number_seen(self, metadata: Metadata) -> None:
        if metadata.phone_number_id == self.settings.phone_id and metadata.display_phone_number:
            self._set_number(metadata.display_phone_number)

    def _set_number(self, number: str | None) -> None:
        config = self.runtime.engine.config
        if number and digits(number) != digits(config.whatsapp_number or ""):
            self.runtime.engine.config = replace(config, whatsapp_number=number)

    async def accept(self, update_id: int, key: str | None, raw: dict[str, Any]) -> None:
        """Starts handling a stored message; one that cannot be read is set aside."""
        try:
            message = IncomingMessage.model_validate(raw)
        except ValidationError as error:
            await self.inbox.set_aside(update_id, error)
            return
        task = asyncio.create_task(
            self.inbox.run(update_id, key, lambda: self.on_message(message, update_id))
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def accept_pending(self) -> int:
        """At start: the replies of messages handled but not sent before a crash, then the
        messages stored but not handled before a stop or a crash."""

        async def send(wa_id: str, replies: Sequence[Reply]) -> None:
            await self.send_reply(wa_id, replies[0], await self._translator(wa_id))

        await self.inbox.resend(send, transient=transient)
        pending = await self.inbox.pending()
        for update_id, raw in pending:
            sender = raw.get("from")
            await self.accept(update_id, f"{CHANNEL}:{sender}" if sender else None, raw)
        if pending:
            log.info("handling %d WhatsApp messages received before the restart", len(pending))
        return len(pending)

    async def drain(self) -> None:
        """Waits until every accepted message is handled; clears their replies' kept
        copies."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.inbox.close()

    async def on_message(self, message: IncomingMessage, update_id: int) -> None:
        """Hands one message to the flows (at most once) and sends the answer; on the last
        failed attempt, tells the learner kindly."""
        wa_id = message.sender
        try:
            event = await self.event_of(message)
            if event is None:
                return
            replies = await self.runtime.engine.handle(
                channel=CHANNEL,
                external_id=wa_id,
                chat_id=wa_id,
                event=event,
                update_id=update_id,
                send=lambda early: self._send_early(wa_id, early),
            )
            inbox_.mark_handled()
            await self.deliver(wa_id, update_id, replies)
        except Exception as error:
            if inbox_.record_error(error):
                await self._sorry(wa_id, error)
            else:
                raise

    async def _sorry(self, wa_id: str, error: BaseException) -> None:
        """Tells the learner that their saved work is safe (best effort)."""
        log.error("a WhatsApp message failed: %s", inbox_.describe(error))
        try:
            language = await self.runtime.engine.language_of(channel=CHANNEL, external_id=wa_id)
        except SQLAlchemyError:
            language = self.runtime.settings.default_language
        t = self.runtime.engine.translator(language)
        text = t._(
            "Sorry, something went wrong on my side. What you saved is safe. Please try again."
        )
        with contextlib.suppress(GraphError, httpx.HTTPError):
            await self.graph.send({"to": wa_id, **_text(text)})

    async def _send_early(self, wa_id: str, replies: list[Reply]) -> None:
        await self.send_replies(wa_id, replies)

    async def event_of(self, message: IncomingMessage) -> Event | None:
        """The flow event of a message; None for what needs no answer (reactions)."""
        kind = message.type
        if kind == "text" and message.text is not None:
            return await self._text_event(message.sender, message.text.body)
        if kind == "interactive" and message.interactive is not None:
            choice = message.interactive.button_reply or message.interactive.list_reply
            if choice is not None:
                return Event(kind="button", value=choice.id)
        if kind == "button" and message.button is not None:
            if message.button.payload:
                return Event(kind="button", value=message.button.payload)
            return await self._text_event(message.sender, message.button.text)
        media = {
            "audio": message.audio,
            "image": message.image,
            "document": message.document,
            "video": message.video,
        }.get(kind)
        if media is not None:
            return await self._media_event(kind, media)
        if kind in ("reaction", "system", "request_welcome"):
            return None
        return Event(kind="unsupported")

    async def _text_event(self, wa_id: str, body: str) -> Event:
        stripped = body.strip()
        if stripped.startswith("/") and len(stripped) > 1:
            command, _, args = stripped[1:].partition(" ")
            return Event(kind="command", command=command.lower(), text=args.strip())
        if stripped.casefold() in self.menu_words:
            return Event(kind="command", command="cancel")
        if stripped.isdigit() and len(stripped) <= 3:
            data = await self._numbered_choice(wa_id, int(stripped))
            if data is not None:
                return Event(kind="button", value=data)
        return Event(kind="text", text=body)

    async def _numbered_choice(self, wa_id: str, number: int) -> str | None:
        """The data of choice `number` of the numbered lines last offered, while they still
        belong to the current question (or to the main menu, outside any flow)."""
        async with self.runtime.uow() as uow:
            user = await uow.users.by_external(channel=CHANNEL, external_id=wa_id)
            if user is None:
                return None
            choices = await uow.channels.numbered(user.id)
            if not 1 <= number <= len(choices):
                return None
            conversation = await uow.conversations.get(user.id)
            seq = conversation.seq if conversation else 0
            in_flow = conversation is not None and conversation.flow is not None
        asked = {data.partition(":")[0] for _, data in choices if not data.startswith("/")}
        if asked and asked != {str(seq)}:
            return None
        if not asked and in_flow:
            return None
        return choices[number - 1][1]

    async def _media_event(self, kind: str, media: Media) -> Event:
        file_kind: FileKind = {
            "audio": "voice" if media.voice else "audio",
            "image": "photo",
            "document": "document",
            "video": "video",
        }[kind]
        try:
            info: MediaInfo | None = await self.graph.media(media.id)
        except (GraphError, httpx.HTTPError) as error:
            log.warning("could not look up a media id: %s", type(error).__name__)
            info = None

        async def read() -> bytes:
            found = info or await self.graph.media(media.id)
            return await self.graph.download(found.url)

        return Event(
            kind=file_kind,
            text=media.caption or "",
            file=IncomingFile(
                kind=file_kind,
                read=read,
                size=info.file_size if info else None,
                mime_type=media.mime_type or (info.mime_type if info else None),
                file_name=media.filename,
                unique_id=media.sha256,
            ),
        )

    async def on_status(self, raw: dict[str, Any]) -> None:
        """Marks the outbox row sent as this message delivered, read or failed."""
        try:
            status = Status.model_validate(raw)
        except ValidationError:
            log.warning("a WhatsApp status report could not be read")
            return
        if status.status not in ("delivered", "read", "failed"):
            return
        engine = self.runtime.engine
        async with self.runtime.uow() as uow:
            message = await uow.channels.sent_as(status.id)
            if message is None:
                return  # a direct reply, not an outbox row
            now = engine.clock()
            if status.status == "delivered":
                message.delivered_at = message.delivered_at or now
            elif status.status == "read":
                message.read_at = message.read_at or now
                message.delivered_at = message.delivered_at or now
            else:
                await self._failed(uow, message, status, now=now)
            await uow.commit()

    async def _failed(
        self, uow: UnitOfWork, message: OutboxMessage, status: Status, *, now: datetime
    ) -> None:
        """A sent message failed: unreachable (131026), sent again as its template or waiting
        for the learner (131047), or failed with Meta's code."""
        code = status.errors[0].code if status.errors else None
        title = (status.errors[0].title or "") if status.errors else ""
        user = await uow.users.get(message.user_id)
        if code == UNDELIVERABLE and user is not None:
            await nudges.record_blocked(
                uow, message, user, now=now, policy=self.runtime.nudge_policy()
            )
            return
        if code == REENGAGEMENT:
            origin = Origin(message.kind, str(message.payload.get("message", "")))
            if template_for(origin) is not None and not (message.payload.get("meta") or {}).get(
                "template_only"
            ):
                # Certainly not delivered: send it again, as its template.
                meta = {**(message.payload.get("meta") or {}), "template_only": True}
                message.payload = {**message.payload, "meta": meta}
                message.status, message.due_at, message.claimed_at = "pending", now, None
                message.error = "131047 re-engagement: sent again as a template"
            else:
                message.status, message.claimed_at = WAITING, now
                message.error = "131047 re-engagement: waits until the recipient writes"
            message.channel_message_id = None
            return
        message.status = "failed"
        message.error = f"whatsapp {code}: {title}"[:255]

    # -- out --------------------------------------------------------------------------
    async def deliver(self, wa_id: str, update_id: int, replies: Sequence[Reply]) -> None:
        """Sends the replies of a handled update, trying again where the network or the
        Graph API's servers failed (`inbox.deliver`)."""
        if not replies:
            return
        t = await self._translator(wa_id)

        async def send(reply: Reply) -> None:
            await self.send_reply(wa_id, reply, t)

        await inbox_.deliver(update_id, replies, send, transient=transient)

    async def send_replies(self, wa_id: str, replies: Sequence[Reply]) -> str | None:
        """Sends replies in order; returns the wamid of the last message."""
        if not replies:
            return None
        t = await self._translator(wa_id)
        last = None
        for reply in replies:
            last = await self.send_reply(wa_id, reply, t)
        return last

    async def _translator(self, wa_id: str) -> Translator:
        """The translator in the learner's language."""
        language = await self.runtime.engine.language_of(channel=CHANNEL, external_id=wa_id)
        return self.runtime.engine.translator(language)

    async def send_reply(self, wa_id: str, reply: Reply, t: Translator) -> str | None:
        """Sends one reply (its file first), remembering numbered choices."""
        last = None
        if reply.file is not None:
            last, captioned = await self._send_file(wa_id, reply)
            if captioned:
                return last
        fitted = layout(reply, t)
        for message in fitted.messages:
            last = await self.graph.send({"to": wa_id, **message})
        if fitted.numbered:
            await self._offer_numbered(wa_id, fitted.numbered)
        return last

    async def _send_file(self, wa_id: str, reply: Reply) -> tuple[str, bool]:
        assert reply.file is not None  # checked by the caller
        path = reply.file.path
        data = await asyncio.to_thread(path.read_bytes)
        name = reply.file.file_name or path.name
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        media_id = await self.graph.upload(data, mime_type=mime, file_name=name)
        caption = len(reply.text) <= CAPTION and not reply.buttons and bool(reply.text.strip())
        if reply.file.kind == "photo":
            media: dict[str, Any] = {"id": media_id}
            kind = "image"
        else:
            media = {"id": media_id, "filename": name}
            kind = "document"
        if caption:
            media["caption"] = reply.text
        return await self.graph.send({"to": wa_id, "type": kind, kind: media}), caption

    async def _offer_numbered(self, wa_id: str, buttons: list[Button]) -> None:
        async with self.runtime.uow() as uow:
            user = await uow.users.by_external(channel=CHANNEL, external_id=wa_id)
            if user is None:
                return
            await uow.channels.offer_numbered(
                user.id, [(b.label, b.data) for b in buttons], at=self.runtime.engine.clock()
            )
            await uow.commit()


class WhatsAppSender:
    """The outbox `Sender` for WhatsApp users: inside the window any message, outside it a
    nudge's template; anything else waits."""

    def __init__(self, adapter: WhatsAppAdapter) -> None:
        self.adapter = adapter

    async def send(self, user: User, reply: Reply) -> str | None:
        if user.chat_id is None:
            raise Unreachable("no chat")
        t = self.adapter.runtime.engine.translator(user.language)
        try:
            with bulk():  # paced as a scheduled send (bot/ratelimit.py)
                return await self._send(user, user.chat_id, reply, t)
        except (GraphError, httpx.HTTPError) as error:
            raise as_send_error(error) from error

    async def _send(self, user: User, wa_id: str, reply: Reply, t: Translator) -> str | None:
        origin = reply.origin
        template = template_for(origin)
        now = self.adapter.runtime.engine.clock()
        if window_open(user, now) and not (origin and origin.template_only):
            try:
                return await self.adapter.send_reply(wa_id, reply, t)
            except GraphError as error:
                # Meta says the window is closed: certainly not delivered, so a nudge goes
                # as its template now (anything else waits, see as_send_error).
                if error.code != REENGAGEMENT or template is None:
                    raise
        if template is None:
            raise Waiting("outside the 24-hour window")
        return await self.adapter.graph.send({"to": wa_id, **template_message(template, user, t)})


# -- the web app -------------------------------------------------------------------------------
def routes(adapter: WhatsAppAdapter, state: dict[str, bool]) -> list[BaseRoute]:
    """`GET` and `POST /whatsapp`."""
    settings = adapter.settings

    async def verify(request: Request) -> Response:
        params = request.query_params
        given = params.get("hub.verify_token", "")
        if params.get("hub.mode") == "subscribe" and hmac.compare_digest(
            given.encode(), settings.verify_token.encode()
        ):
            return PlainTextResponse(params.get("hub.challenge", ""))
        return PlainTextResponse("forbidden", status_code=403)

    async def receive(request: Request) -> Response:
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            return PlainTextResponse("signature missing", status_code=401)
        try:
            body = await read_body(request)
        except TooLarge:
            return PlainTextResponse("too large", status_code=413)
        if not signature_ok(body, header, settings.app_secret):
            return PlainTextResponse("bad signature", status_code=403)
        if not state["accepting"]:
            return PlainTextResponse("shutting down", status_code=503)
        try:
            notification = Notification.model_validate(json.loads(body))
        except (ValueError, ValidationError):
            log.warning("refused a malformed WhatsApp notification")
            return PlainTextResponse("malformed notification", status_code=400)
        try:
            await adapter.receive(notification)
        except (SQLAlchemyError, OSError) as error:
            log.error("could not store a WhatsApp notification (%s)", type(error).__name__)
            return PlainTextResponse("try again later", status_code=503)
        return Response(status_code=200)

    return [Route(PATH, verify, methods=["GET"]), Route(PATH, receive, methods=["POST"])]


def create_app(
    runtime: Runtime,
    adapter: WhatsAppAdapter,
    *,
    routes_beside: Sequence[BaseRoute] = (),
    beside: Callable[[], AbstractAsyncContextManager[object]] | None = None,
    jobs: AsyncioJobs | None = None,
) -> Starlette:
    """The ASGI app: `/whatsapp`, and `/healthz` or the routes of the channel served beside
    it (Telegram's webhook). `beside` runs that channel for the app's lifetime (Telegram by
    webhook or polling), and its job queue runs the outbox with the WhatsApp sender in
    `runtime.senders`; without it, the scheduler's jobs run here as asyncio tasks, in
    `jobs` beside the jobs already there (the heartbeat)."""
    sender = runtime.senders.get(CHANNEL)
    if not isinstance(sender, WhatsAppSender):
        raise ValueError("register the WhatsApp sender in runtime.senders first (`register`)")
    state = {"accepting": False}
    extra = list(routes_beside) if routes_beside else [healthz(runtime, state)]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(adapter.close)
            if beside is not None:
                await stack.enter_async_context(beside())
            else:
                stack.push_async_callback(runtime.close)
                here = jobs if jobs is not None else AsyncioJobs()
                dispatcher = install(here, runtime, NotServedHere())
                await dispatcher.recover()
                if dispatcher.lease is not None:
                    stack.push_async_callback(dispatcher.lease.release)
                await stack.enter_async_context(here)
            await adapter.learn_number()
            await adapter.accept_pending()
            state["accepting"] = True
            log.info("WhatsApp webhook ready at %s", PATH)
            try:
                yield
            finally:
                state["accepting"] = False
                log.info("stopping: handling the WhatsApp messages already received")
                await adapter.drain()

    return Starlette(routes=[*routes(adapter, state), *extra], lifespan=lifespan)


def register(
    runtime: Runtime, *, transport: httpx.AsyncBaseTransport | None = None
) -> WhatsAppAdapter:
    """The adapter of `opstap run` with WhatsApp, its sender registered in `runtime.senders`
    (before another channel builds the dispatcher that uses it)."""
    adapter = WhatsAppAdapter(runtime, runtime.settings.whatsapp(), transport=transport)
    runtime.senders[CHANNEL] = WhatsAppSender(adapter)
    return adapter


def serve(runtime: Runtime, app: Starlette) -> None:
    """Serves the app with uvicorn on OPSTAP_LISTEN:OPSTAP_PORT until SIGTERM or SIGINT."""
    import uvicorn

    settings = runtime.settings
    config = uvicorn.Config(
        app,
        host=settings.listen,
        port=settings.port,
        proxy_headers=True,
        timeout_graceful_shutdown=30,
        access_log=False,
        log_config=None,
    )
    uvicorn.Server(config).run()


def print_templates(translator: Callable[[str], Translator]) -> str:
    """`opstap whatsapp-templates`: every template per language, as JSON."""
    return json.dumps(template_definitions(translator), ensure_ascii=False, indent=2)
