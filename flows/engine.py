"""The flow engine: routes one event of one user to the right flow step, in one unit of work.

A flow is a conversation made of steps. Each step is a pair of methods on the flow:
`ask_<step>(ctx)` asks the question, `on_<step>(ctx, event)` takes the answer and moves on with
`ctx.go(...)`, `ctx.repeat()` or `ctx.finish()`. The state (flow, step, scratch data, history
and a question counter) is stored per user, so a restart or a second worker continues it.

Buttons carry `<seq>:<value>`: `seq` numbers the question they belong to, so a press on a
button of an earlier question is recognised as stale and never acted upon. Buttons that carry
`/command` start that command, like typing it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from flows.i18n import LANGUAGES, Translator, right_to_left, translator
from flows.menu_words import wanted_command
from flows.messages import (
    MAX_CALLBACK_BYTES,
    MAX_FILE_BYTES,
    MAX_TEXT_LENGTH,
    MEDIA_KINDS,
    Button,
    Event,
    FileFetchFailed,
    OutFile,
    Reply,
    clean_text,
    prefetch,
)
from flows.transcription import SPOKEN, transcribe_arrival
from storage.files import FileStore
from storage.models import Conversation, OutboxMessage, Signal, User
from storage.repositories import payload
from storage.uow import UnitOfWork

if TYPE_CHECKING:
    from flows.nudges import NudgePolicy

log = logging.getLogger(__name__)
#: Files a learner may send on their own, outside a question that asks for them.
STRAY_FILES = frozenset({"photo", "document", "video"})

BACK = "<"
#: Values of buttons that leave a question and change nothing: "No", "Keep it", "Not now",
#: "Done", "Stop for now". With Back and command buttons, these are the ways out that every
#: question with buttons offers (tests/flows/test_walks.py checks it on generated walks).
WAY_OUT_VALUES = frozenset({"no", "keep", "later", "done", "pause"})
LEARNER, COACH, COORDINATOR = "learner", "coach", "coordinator"
EVERYONE = frozenset({LEARNER, COACH, COORDINATOR})
#: Commands that work before consent is given.
OPEN_COMMANDS = frozenset({"start", "language", "help", "privacy", "mydata", "delete", "cancel"})
#: A reply this soon after a nudge counts as an answer to it (the nudge report).
ANSWER_WINDOW = timedelta(hours=48)

Clock = Callable[[], datetime]
#: Sends replies right away, before the event is fully handled (see `Context.flush`).
Sender = Callable[[list[Reply]], Awaitable[None]]
#: Shows the user that a long job runs ("sending a file…"), until the event's reply goes out.
#: The kind is "document", "photo" or "typing"; a channel without such a sign ignores it.
Activity = Callable[[str], Awaitable[None]]
#: Work that needs no write lock, run after the event's transaction (`Context.after_commit`).
Later = Callable[[], Awaitable[list[Reply]]]
ButtonRows = Sequence[Sequence[Button]] | Sequence[Button]


#: A hint joins the question it repeats while both fit the smallest message with buttons of
#: any channel (WhatsApp's interactive body); longer ones go as two messages.
ONE_MESSAGE = 1024
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class FlowConfig:
    """What flows need to know of the deployment."""

    #: The Telegram bot's username, for deep links; None where there is no such bot.
    bot_username: str | None = None
    #: The WhatsApp business number as Meta shows it ("+32 470 12 34 56"), for wa.me links;
    #: None where there is no WhatsApp, or before Meta told it.
    whatsapp_number: str | None = None

    timezone: str = "Europe/Brussels"
    default_language: str = "nl"
    data_dir: Path = Path("data")
    #: Months after the last activity before a learner's data is erased (flows/privacy.py).
    retention_months: int = 12
    #: A local speech-to-text model for transcripts of voice notes (flows/transcription.py).
    transcription_model_dir: Path | None = None


class Flow:
    """Base class of a conversation. Subclasses set `name` and define their steps."""

    name: ClassVar[str]
    #: Commands that start this flow, each with a short description (marked with N_).
    commands: ClassVar[Mapping[str, str]] = {}
    #: Main-menu buttons: command -> label (marked with N_).
    menu: ClassVar[Mapping[str, str]] = {}
    #: Who may use the commands of this flow.
    roles: ClassVar[frozenset[str]] = frozenset({LEARNER})
    #: `/start <prefix>...` deep links this flow handles.
    deep_links: ClassVar[tuple[str, ...]] = ()
    #: File kinds (photo, document, video) this flow's questions take; others are pointed to
    #: the flow that catches stray files.
    files: ClassVar[frozenset[str]] = frozenset()
    #: This flow starts with a file sent outside any question (the evidence flow does).
    catches_stray_files: ClassVar[bool] = False
    #: Steps whose answers live only in the conversation: when another command interrupts
    #: the flow at one of them, its place is kept as a draft (see `Context.draft`).
    draft_steps: ClassVar[frozenset[str]] = frozenset()
    #: Its commands are listed in /help and the channel's command menu; a flow reached only
    #: through its own buttons (the transcript check) is not, so the listed commands stay
    #: those of PRODUCT.md.
    listed: ClassVar[bool] = True

    async def start(self, ctx: Context, command: str, args: str) -> None:
        """Starts the flow for a command (or a deep link, with command `start`)."""
        raise NotImplementedError

    async def ask(self, ctx: Context, step: str) -> None:
        """Asks the question of a step."""
        await getattr(self, f"ask_{step}")(ctx)

    async def answer(self, ctx: Context, step: str, event: Event) -> None:
        """Hands the user's answer to the step."""
        await getattr(self, f"on_{step}")(ctx, event)

    async def suggestions(self, ctx: Context) -> list[tuple[str, str]]:
        """Buttons (source label marked with N_, command) to put first in the main menu
        when it is shown, like "Continue your intake" while the intake is unfinished."""
        return []

    async def gate(self, ctx: Context, event: Event) -> bool:
        """Runs before every event of every flow; returns True when it took the event.

        Flows that must see events first (renewed consent) override it."""
        return False


class Context:
    """Everything one step needs: the unit of work, the user, their state, the translator."""

    def __init__(
        self,
        *,
        engine: Engine,
        uow: UnitOfWork,
        user: User,
        conversation: Conversation,
        now: datetime,
        sender: Sender | None = None,
        activity: Activity | None = None,
    ) -> None:
        self.engine = engine
        self.sender = sender
        self.activity = activity
        self.uow = uow
        self.user = user
        self.conversation = conversation
        self.now = now
        self.replies: list[Reply] = []
        #: The main menu shown in this event, if any (the engine adds suggestions to it).
        self.menu_reply: Reply | None = None
        self._notices = 0  # numbers this event's notices, for their default dedup keys
        #: Jobs to run once the transaction is committed: where its replies go, the job, and
        #: what the kept copy of the replies says in their place (see `after_commit`).
        self.later: list[tuple[int, Later, Reply]] = []
        self.t = engine.translator(user.language)

    # -- language -----------------------------------------------------------------------
    def _(self, message: str, /, **params: object) -> str:
        """Translates a source string into the user's language."""
        return self.t._(message, **params)

    def n_(self, singular: str, plural: str, count: int, /, **params: object) -> str:
        """Translates a plural source string into the user's language."""
        return self.t.n_(singular, plural, count, **params)

    def set_language(self, language: str) -> None:
        """Switches the user's language from now on, this reply included."""
        self.user.language = language
        self.user.language_chosen = True
        self.t = self.engine.translator(language)

    @property
    def config(self) -> FlowConfig:
        return self.engine.config

    @property
    def files(self) -> FileStore:
        return self.engine.files

    # -- state --------------------------------------------------------------------------
    @property
    def data(self) -> dict[str, Any]:
        """The current flow's scratch data. Assign `ctx.data = {...}` or call `ctx.save()`."""
        return self.conversation.data

    @data.setter
    def data(self, value: dict[str, Any]) -> None:
        self.conversation.data = value

    def save(self) -> None:
        """Marks the scratch data as changed (needed after changing it in place)."""
        self.conversation.data = dict(self.conversation.data)
        self.conversation.updated_at = self.now

    @property
    def flow(self) -> Flow | None:
        return self.engine.flows.get(self.conversation.flow or "")

    @property
    def step(self) -> str | None:
        return self.conversation.step

    # -- output -------------------------------------------------------------------------
    def say(
        self,
        text: str,
        *,
        buttons: ButtonRows = (),
        file: OutFile | None = None,
        replace: bool = False,
    ) -> None:
        """Adds a message to the reply."""
        self.replies.append(self.message(text, buttons=buttons, file=file, replace=replace))

    def message(
        self,
        text: str,
        *,
        buttons: ButtonRows = (),
        file: OutFile | None = None,
        replace: bool = False,
    ) -> Reply:
        """A message in the user's writing direction, not yet added to the reply."""
        rows: tuple[tuple[Button, ...], ...] = tuple(
            (row,) if isinstance(row, Button) else tuple(row) for row in buttons
        )
        if self.t.rtl:
            text = right_to_left(text)
            rows = tuple(tuple(b.rtl() for b in row) for row in rows)
        return Reply(text=text, buttons=rows, file=file, replace=replace, rtl=self.t.rtl)

    async def flush(self) -> None:
        """Sends the replies so far now, when the channel can (before long work, such as an
        export); otherwise they simply go out with the rest."""
        if self.sender is None or not self.replies:
            return
        ready, self.replies = self.replies, []
        self.later = [(max(0, i - len(ready)), job, lost) for i, job, lost in self.later]
        await self.sender(ready)

    async def working(self, kind: str = "typing") -> None:
        """Sends the replies so far, then shows that a long job runs (`kind`: "document",
        "photo" or "typing") until this event's answer goes out."""
        await self.flush()
        if self.activity is not None:
            await self.activity(kind)

    def after_commit(self, job: Later, *, if_lost: str | None = None) -> None:
        """Runs `job` after this event's transaction is committed, for long work that needs no
        write lock (converting a file with another program, or a long read in
        `engine.reader()`): no lock is held meanwhile. Its replies take the place of this call
        among the event's replies.

        The transaction keeps the event's replies until they are sent, so that a crash loses
        none; the job's are not known yet then. If a crash comes before they go, the learner
        gets `if_lost` (translated) in their place, by default a plain "please ask again"."""
        lost = self.message(
            if_lost or self._("I was interrupted before I could finish this. Please ask again.")
        )
        self.later.append((len(self.replies), job, lost))

    def button(self, label: str, value: str, *, short: str | None = None) -> Button:
        """A button for the current question; `value` must hold no personal data. `short`
        is a short label for channels with small buttons (WhatsApp), where `label` is long."""
        data = f"{self.conversation.seq}:{value}"
        if len(data.encode()) > MAX_CALLBACK_BYTES:
            raise ValueError(f"callback data too long: {value!r}")
        return Button(label=label, data=data, short=short)

    def command_button(self, label: str, command: str, *, short: str | None = None) -> Button:
        """A button that runs a command, as if the user typed it."""
        return Button(label=label, data=f"/{command}", short=short)

    def back_button(self) -> Button:
        """The "back" button, which returns to the previous question."""
        return self.button(self._("« Back"), BACK)

    def way_out_button(self) -> Button:
        """Back to the question before, or on a flow's first question "Not now", which stops
        the flow as /cancel does (what was saved, a draft included, is kept)."""
        if self.conversation.history:
            return self.back_button()
        return self.command_button(self._("Not now"), "cancel")

    # -- moving -------------------------------------------------------------------------
    async def begin(self, flow: Flow, step: str, *, data: dict[str, Any] | None = None) -> None:
        """Makes `flow` the current flow, with fresh data, and asks its first step."""
        self.conversation.flow = flow.name
        self.conversation.data = dict(data or {})
        self.conversation.history = []
        self.conversation.step = None
        await self.go(step, remember=False)

    async def go(
        self, step: str, *, remember: bool = True, history: Sequence[str] | None = None
    ) -> None:
        """Moves to a step of the current flow and asks it. `history`, when given, becomes the
        steps Back returns through (continuing a draft in the middle, for example)."""
        previous = self.conversation.step
        if history is not None:
            self.conversation.history = list(history)[-30:]
        elif remember and previous is not None and previous != step:
            self.conversation.history = [*self.conversation.history, previous][-30:]
        self.conversation.step = step
        self.conversation.seq += 1
        self.conversation.updated_at = self.now
        await self._ask()

    async def repeat(self, *, replace: bool = False) -> None:
        """Asks the current question again (after an answer that did not fit, for example)."""
        if self.flow is None or self.step is None:
            self.engine.show_menu(self)
            return
        before = len(self.replies)
        await self._ask()
        if replace:
            self.replies[before:] = [
                Reply(r.text, r.buttons, r.file, replace=True, rtl=r.rtl)
                for r in self.replies[before:]
            ]

    async def back(self) -> None:
        """Returns to the previous question of the flow, if there is one."""
        history = list(self.conversation.history)
        if not history:
            await self.repeat()
            return
        step = history.pop()
        self.conversation.history = history
        await self.go(step, remember=False)

    async def invalid(self, message: str) -> None:
        """Says kindly what did not fit, then asks the same question again: in one message
        above the question when it is plain text (one notification, the hint beside what it
        is about), else as a message of its own. A question that carries the same hint
        itself ("Type a date, for example ...") has it moved to the top, not said twice."""
        before = len(self.replies)
        await self.repeat()
        hint = self.message(message)
        question = self.replies[before] if len(self.replies) > before else None
        if (
            question is not None
            and question.file is None
            and not question.replace
            and len(hint.text) + len(question.text) < ONE_MESSAGE
        ):
            asked = question.text
            if hint.text and hint.text in asked:
                asked = _BLANK_LINES.sub("\n\n", asked.replace(hint.text, "")).strip()
            self.replies[before] = replace(question, text=f"{hint.text}\n\n{asked}")
        else:
            self.replies.insert(before, hint)

    async def finish(self, *, menu: bool = True) -> None:
        """Ends the current flow; shows the main menu unless told not to."""
        self.conversation.flow = None
        self.conversation.step = None
        self.conversation.data = {}
        self.conversation.history = []
        self.conversation.seq += 1
        self.conversation.updated_at = self.now
        if menu:
            self.engine.show_menu(self)

    def suspended(self) -> dict[str, Any] | None:
        """The current flow's place (flow, step, data, history), to come back to with
        `resume` after a detour (another language, a consent); None outside any flow."""
        conversation = self.conversation
        if conversation.flow is None or conversation.step is None:
            return None
        return {
            "flow": conversation.flow,
            "step": conversation.step,
            "data": conversation.data,
            "history": conversation.history,
        }

    async def resume(self, place: Mapping[str, Any] | None) -> bool:
        """Returns to a place kept with `suspended` and asks its question again; False when
        there is none (the caller then finishes)."""
        if not place or place.get("flow") not in self.engine.flows or not place.get("step"):
            return False
        conversation = self.conversation
        conversation.flow = place["flow"]
        conversation.step = place["step"]
        conversation.data = dict(place.get("data") or {})
        conversation.history = list(place.get("history") or [])
        conversation.seq += 1
        conversation.updated_at = self.now
        await self.repeat()
        return True

    def keep_draft(self) -> None:
        """Keeps the current place as a draft of its flow, if the flow keeps drafts there."""
        flow, place = self.flow, self.suspended()
        if flow is not None and place is not None and self.step in flow.draft_steps:
            self.conversation.drafts = {**self.conversation.drafts, flow.name: place}

    def draft(self, flow: Flow) -> dict[str, Any] | None:
        """The place a flow was left unfinished at, if it was."""
        place = self.conversation.drafts.get(flow.name)
        return place if isinstance(place, dict) else None

    def drop_draft(self, flow: Flow) -> None:
        """Forgets a flow's draft (it was finished, or started over)."""
        if flow.name in self.conversation.drafts:
            self.conversation.drafts = {
                k: v for k, v in self.conversation.drafts.items() if k != flow.name
            }

    async def run_command(self, command: str, args: str = "") -> None:
        """Runs a command as if the user sent it (role and consent checks included)."""
        await self.engine._command(self, command, args)

    async def start_flow(self, name: str, *, command: str = "", args: str = "") -> bool:
        """Starts another flow by name; returns False when no such flow is installed."""
        flow = self.engine.flows.get(name)
        if flow is None:
            return False
        await flow.start(self, command or name, args)
        return True

    async def _ask(self) -> None:
        flow, step = self.flow, self.step
        if flow is None or step is None:
            return
        await flow.ask(self, step)

    # -- records ------------------------------------------------------------------------
    async def signal(self, kind: str, **details: Any) -> None:
        """Records a signal about this user (see flows/signals.py) at the current time."""
        await self.uow.signals.add(
            Signal(user_id=self.user.id, kind=kind, at=self.now, details=details)
        )

    # -- reaching others ----------------------------------------------------------------
    async def notify(
        self,
        user_id: int,
        message: str,
        *,
        kind: str = "notice",
        dedup_key: str | None = None,
        due_at: datetime | None = None,
        expires_in: timedelta | None = None,
        buttons: list[list[str]] | None = None,
        about: int | None = None,
        scheduled: bool = False,
        **params: Any,
    ) -> bool:
        """Queues a message for another user (or later for this one), sent by the outbox.

        `message` is an English source string marked with N_; it is translated into the
        recipient's language when sent. `about` is the id of the learner the message is about
        when that is not the recipient (a coach notice naming them, a text they relayed): the
        message is erased with that learner. `scheduled`: planned ahead (a session reminder),
        sent after what people wrote. Returns False if the dedup key was already used.
        """
        due = due_at or self.now
        self._notices += 1
        key = dedup_key or (
            f"{kind}:{user_id}:from:{self.user.id}:{self.now.isoformat()}:"
            f"{self.conversation.seq}:{self._notices}"
        )
        added = await self.uow.outbox.add(
            OutboxMessage(
                user_id=user_id,
                kind=kind,
                dedup_key=key,
                due_at=due,
                payload=payload(message, buttons=buttons, **params),
                expires_at=due + expires_in if expires_in else None,
                about_user_id=about if about != user_id else None,
                scheduled=scheduled,
            )
        )
        return added is not None


@dataclass
class Engine:
    """Routes events to flows. One engine per process; stateless between events."""

    uow_factory: Callable[[], UnitOfWork]
    flows: dict[str, Flow]
    config: FlowConfig = field(default_factory=FlowConfig)
    clock: Clock = field(default=lambda: datetime.now().astimezone())
    #: Read-only units of work (on SQLite without the write lock), for long reads after an
    #: event's transaction (`Context.after_commit`); by default `uow_factory`.
    reader_factory: Callable[[], UnitOfWork] | None = None
    files: FileStore = field(init=False)

    def __post_init__(self) -> None:
        self.files = FileStore(self.config.data_dir)
        self.commands: dict[str, Flow] = {}
        self.deep_links: dict[str, Flow] = {}
        for flow in self.flows.values():
            for command in flow.commands:
                if command in self.commands:
                    raise ValueError(f"command /{command} claimed twice")
                self.commands[command] = flow
            for prefix in flow.deep_links:
                self.deep_links[prefix] = flow

    def reader(self) -> UnitOfWork:
        """A new read-only unit of work."""
        return (self.reader_factory or self.uow_factory)()

    def translator(self, language: str) -> Translator:
        """A translator for a language in the programme time zone."""
        return translator(language, self.config.timezone)

    def commands_for(self, role: str) -> list[tuple[str, str]]:
        """The commands (name, source description) a role may use, in registration order."""
        return [
            (command, description)
            for flow in self.flows.values()
            if role in flow.roles and flow.listed
            for command, description in flow.commands.items()
        ]

    async def language_of(self, *, channel: str, external_id: str, hint: str | None = None) -> str:
        """The stored language of a user; for someone unknown the hint (their app's language)
        when Opstap speaks it, or the default one."""
        async with self.uow_factory() as uow:
            user = await uow.users.by_external(channel=channel, external_id=external_id)
            if user is not None:
                return user.language
        return hint if hint in LANGUAGES and hint else self.config.default_language

    async def handle(
        self,
        *,
        channel: str,
        external_id: str,
        event: Event,
        chat_id: str | None = None,
        update_id: int | None = None,
        language: str | None = None,
        language_hint: str | None = None,
        send: Sender | None = None,
        activity: Activity | None = None,
    ) -> list[Reply]:
        """Handles one event of one user in one transaction and returns the replies.

        An update seen before (same `update_id`) is ignored. For a user met for the first
        time, `language` is their choice (the terminal's `--lang`) and `language_hint` only a
        first guess (the language of their Telegram app): they are still asked to choose, in
        that language. `send`, when given, lets a flow send a first reply before it finishes
        (`ctx.flush()`); `activity` lets it show that a long job runs (`ctx.working()`).
        """
        if language_hint not in LANGUAGES:
            language_hint = None
        value = None if event.value is None else clean_text(event.value)
        event = replace(event, text=clean_text(event.text), value=value)
        if event.file is not None and (event.file.size or 0) <= MAX_FILE_BYTES:
            # Fetched before the transaction: a slow download holds no lock, and a failed
            # one stores nothing.
            try:
                fetched = await prefetch(event.file)
            except FileFetchFailed:
                language = (
                    language
                    or language_hint
                    or await self.language_of(channel=channel, external_id=external_id)
                )
                t = self.translator(
                    language if language in LANGUAGES else self.config.default_language
                )
                return [Reply(text=t._("I could not fetch that file. Please send it again."))]
            if event.kind in SPOKEN and self.config.transcription_model_dir is not None:
                # Also before the transaction, in a thread: only this learner waits for it.
                if activity is not None:
                    await activity("typing")
                fetched = await transcribe_arrival(
                    fetched, model_dir=self.config.transcription_model_dir
                )
            event = replace(event, file=fetched)
        async with self.uow_factory() as uow:
            now = self.clock()
            if update_id is not None and not await uow.updates.claim(update_id, at=now):
                return []
            # One user's updates run one after the other, even on several workers.
            await uow.lock(f"{channel}:{external_id}")
            user = await uow.users.by_external(channel=channel, external_id=external_id)
            if user is None:
                chosen = language in LANGUAGES
                first = language if chosen else language_hint
                user = await uow.users.add(
                    User(
                        channel=channel,
                        external_id=external_id,
                        chat_id=chat_id,
                        language=first or self.config.default_language,
                        language_chosen=chosen,
                    )
                )
            elif chat_id is not None and user.chat_id != chat_id:
                user.chat_id = chat_id
            if (
                user.nudged_at is not None
                and (user.last_seen_at is None or user.last_seen_at < user.nudged_at)
                and now - user.nudged_at <= ANSWER_WINDOW
            ):
                await uow.outbox.mark_answered(user.id, at=now, since=now - ANSWER_WINDOW)
            if user.status == "unreachable":  # they unblocked the bot and wrote again
                user.status = "active"
            if _seen_moved(user, now):
                user.last_seen_at = now
            conversation = await uow.conversations.get(user.id)
            if conversation is None:
                conversation = await uow.conversations.add(Conversation(user_id=user.id))
            before = _state(conversation)
            place = (conversation.flow, conversation.step)
            ctx = Context(
                engine=self,
                uow=uow,
                user=user,
                conversation=conversation,
                now=now,
                sender=send,
                activity=activity,
            )
            try:
                await self.dispatch(ctx, event)
                if event.kind != "edit":  # an edit keeps or moves it itself
                    conversation.last_answer = _answer_ref(conversation, event, place)
                await self._suggest(ctx)
            except Exception as error:
                # For the log: where the learner was (never what they said).
                error.add_note(f"opstap place: {conversation.flow}/{conversation.step}")
                raise
            after = _state(conversation)
            changed = [column for column, value in after.items() if before[column] != value]
            if changed:
                await uow.conversations.save(conversation, changed)
            # Kept with the update until the channel sent them: a crash after this commit
            # loses no reply (the next start sends them; see bot/inbox.py). A job after the
            # commit is kept as what it says when it is lost.
            kept = list(ctx.replies)
            for index, _, lost in reversed(ctx.later):
                kept[index:index] = [lost]
            if update_id is not None and kept:
                await uow.updates.keep_replies(
                    update_id,
                    {
                        "channel": channel,
                        "chat": chat_id or external_id,
                        "replies": [reply.as_data() for reply in kept],
                    },
                )
            await uow.commit()
        for index, job, _ in reversed(ctx.later):
            ctx.replies[index:index] = await job()
        return ctx.replies

    async def reachability(
        self,
        *,
        channel: str,
        external_id: str,
        reachable: bool,
        update_id: int | None = None,
        policy: NudgePolicy | None = None,
    ) -> None:
        """The channel says a user blocked the bot (unreachable at once, the coach told) or
        unblocked it (active again). Not an answer: nothing else changes."""
        from flows.nudges import NudgePolicy, mark_unreachable

        async with self.uow_factory() as uow:
            now = self.clock()
            if update_id is not None and not await uow.updates.claim(update_id, at=now):
                return
            await uow.lock(f"{channel}:{external_id}")
            user = await uow.users.by_external(channel=channel, external_id=external_id)
            if user is not None:
                if not reachable:
                    await mark_unreachable(uow, user, now=now, policy=policy or NudgePolicy())
                elif user.status == "unreachable":
                    user.status = "active"
            await uow.commit()

    async def dispatch(self, ctx: Context, event: Event) -> None:
        """Routes an event: commands, buttons (after the stale check), then everything else."""
        for flow in self.flows.values():
            if type(flow).gate is not Flow.gate and await flow.gate(ctx, event):
                return
        if event.kind == "command":
            await self._command(ctx, event.command or "", event.text)
        elif event.kind == "edit":
            await self._edit(ctx, event)
        elif event.kind == "button":
            await self._button(ctx, event.value or "")
        elif event.kind == "text" and len(event.text) > MAX_TEXT_LENGTH:
            await ctx.invalid(
                ctx.n_(
                    "That message is too long for me. Please keep it under {limit} character,"
                    " or send a voice note.",
                    "That message is too long for me. Please keep it under {limit} characters,"
                    " or send a voice note.",
                    MAX_TEXT_LENGTH,
                    limit=MAX_TEXT_LENGTH,
                )
            )
        elif event.kind in MEDIA_KINDS and event.file and (event.file.size or 0) > MAX_FILE_BYTES:
            await ctx.invalid(
                ctx._("That file is too big. I can take files up to {size} MB.", size=20)
            )
        elif event.kind == "unsupported":
            await ctx.invalid(
                ctx._(
                    "I cannot use this kind of message. Please send text, a voice note or a file."
                )
            )
        elif not ctx.user.has_consented and ctx.conversation.flow is None:
            await self._command(ctx, "start", "")
        elif ctx.flow is None or ctx.step is None:
            catcher = self._stray_catcher(ctx, event)
            if catcher is None and event.kind == "text":
                await self._free_text(ctx, event.text)
            elif catcher is None:
                self.show_menu(ctx)
            else:
                await self._file_as_new_item(ctx, event, catcher)
        elif self._stray_catcher(ctx, event) is not None:
            ctx.say(
                ctx._(
                    "I keep photos, documents and videos as evidence. Finish this first, "
                    "then send /evidence and the file again."
                )
            )
            await ctx.repeat()
        else:
            await ctx.flow.answer(ctx, ctx.step, event)

    async def _edit(self, ctx: Context, event: Event) -> None:
        """A changed message: while it is the last answer and nothing happened since, the new
        text replaces it (as Back and typing it again would); otherwise how to correct."""
        last = ctx.conversation.last_answer or {}
        history = ctx.conversation.history
        if (
            event.ref is not None
            and last.get("ref") == event.ref
            and last.get("seq") == ctx.conversation.seq
            and ctx.flow is not None
            and history
        ):
            ctx.say(ctx._("I saw your change. I use the new answer."))
            place = (ctx.conversation.flow, history[-1])
            ctx.conversation.step = history[-1]
            ctx.conversation.history = history[:-1]
            ctx.conversation.seq += 1
            await self.dispatch(ctx, replace(event, kind="text"))
            ctx.conversation.last_answer = _answer_ref(ctx.conversation, event, place)
            return
        ctx.say(
            ctx._(
                "I saw that you changed a message. I do not use changes. To correct an answer, "
                "send it again as a new message, or use « Back."
            )
        )

    async def _free_text(self, ctx: Context, text: str) -> None:
        """Text at the main menu: the command its words ask for ("mijn doel"), else a hint."""
        command = wanted_command(text)
        flow = self.commands.get(command or "")
        if command is not None and flow is not None and ctx.user.role in flow.roles:
            await self._command(ctx, command, "")
            return
        ctx.say(
            ctx._("Tap a button, or tell me what you want to do: goal, reflection, evidence.")
            if ctx.user.role == LEARNER
            else ctx._("Tap a button, or send /help to see what you can do.")
        )
        self.show_menu(ctx)

    def _stray_catcher(self, ctx: Context, event: Event) -> Flow | None:
        """The flow that takes a photo, document or video this flow does not ask for."""
        if event.kind not in STRAY_FILES or event.file is None:
            return None
        current = ctx.flow
        if current is not None and event.kind in current.files:
            return None
        return next(
            (
                flow
                for flow in self.flows.values()
                if flow.catches_stray_files and ctx.user.role in flow.roles
            ),
            None,
        )

    async def _file_as_new_item(self, ctx: Context, event: Event, catcher: Flow) -> None:
        """A file sent outside any question starts the catching flow with it (a new piece of
        evidence), rather than being dropped for the menu."""
        before = len(ctx.replies)
        await catcher.start(ctx, catcher.name, "")
        del ctx.replies[before:]  # its first question asks for the file we already have
        asking = ctx.step
        if asking is not None:
            await catcher.answer(ctx, asking, event)
        if ctx.step != asking:  # taken (a file that is refused is not thanked for first)
            ctx.say(ctx._("Thank you! Let us add this to your portfolio as a piece of evidence."))
            ctx.replies.insert(before, ctx.replies.pop())

    async def _command(self, ctx: Context, command: str, args: str) -> None:
        ctx.keep_draft()
        if command == "cancel":
            had_flow = ctx.conversation.flow is not None
            await ctx.finish(menu=False)
            ctx.say(
                ctx._("Stopped. What you saved before is kept.")
                if had_flow
                else ctx._("There is nothing to stop.")
            )
            self.show_menu(ctx)
            return
        flow = self.commands.get(command)
        if command == "start" and args:
            flow = next(
                (f for prefix, f in self.deep_links.items() if args.startswith(prefix)), flow
            )
        if flow is None:
            ctx.say(ctx._("I do not know that command. Send /help to see what I can do."))
            await ctx.repeat()
            return
        if ctx.user.role not in flow.roles:
            log.info("refused /%s for user %s with role %s", command, ctx.user.id, ctx.user.role)
            ctx.say(
                ctx._("That command is not available to you. Send /help to see what you can do.")
            )
            await ctx.repeat()
            return
        if (
            command not in OPEN_COMMANDS
            and not ctx.user.has_consented
            and ctx.user.role == LEARNER
        ):
            ctx.say(ctx._("First, let us get you started."))
            command, args, flow = "start", "", self.commands["start"]
        await flow.start(ctx, command, args)

    async def _button(self, ctx: Context, data: str) -> None:
        if data.startswith("/"):
            command, _, args = data[1:].partition(" ")
            await self._command(ctx, command, args)
            return
        seq, _, value = data.partition(":")
        current = ctx.flow is not None and ctx.step is not None
        if not current or not seq.isdigit() or int(seq) != ctx.conversation.seq:
            ctx.say(ctx._("This question is closed."))
            await ctx.repeat()
            return
        assert ctx.flow is not None and ctx.step is not None
        if value == BACK:
            await ctx.back()
            return
        await ctx.flow.answer(ctx, ctx.step, Event(kind="button", value=value))

    def show_menu(self, ctx: Context) -> None:
        """Shows the main menu for the user's role."""
        if not ctx.user.has_consented and ctx.user.role == LEARNER:
            ctx.say(ctx._("Send /start to begin."))
            return
        buttons = [
            ctx.command_button(ctx._(label), command)
            for flow in self.flows.values()
            if ctx.user.role in flow.roles
            for command, label in flow.menu.items()
        ]
        rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
        ctx.say(ctx._("What would you like to do?"), buttons=rows)
        ctx.menu_reply = ctx.replies[-1]

    async def _suggest(self, ctx: Context) -> None:
        """Puts the flows' suggestions first in the main menu shown in this event."""
        menu = ctx.menu_reply
        if menu is None or menu not in ctx.replies:
            return
        suggested = [
            ctx.command_button(ctx._(label), command)
            for flow in self.flows.values()
            if ctx.user.role in flow.roles
            for label, command in await flow.suggestions(ctx)
        ]
        if not suggested:
            return
        if ctx.t.rtl:
            suggested = [b.rtl() for b in suggested]
        index = ctx.replies.index(menu)
        rows = tuple((button,) for button in suggested) + menu.buttons
        ctx.replies[index] = replace(menu, buttons=rows)


def _answer_ref(
    conversation: Conversation, event: Event, place: tuple[str | None, str | None]
) -> dict[str, Any] | None:
    """The message that just answered a question and moved the flow one step on, if this
    event was one (an edit of it can then replace the answer)."""
    flow, step = place
    if (
        event.kind in ("text", "edit")
        and event.ref is not None
        and flow is not None
        and conversation.flow == flow
        and conversation.step != step
        and conversation.history[-1:] == [step]
    ):
        return {"ref": event.ref, "seq": conversation.seq}
    return None


#: The columns of a conversation the engine writes back when they changed: plain values, and
#: JSON documents (compared as text, since flows change them in place).
_PLAIN = ("flow", "step", "seq", "updated_at")
_DOCUMENTS = ("data", "history", "drafts", "last_answer")


def _state(conversation: Conversation) -> dict[str, object]:
    """The conversation's columns, to write only those an event changed."""
    state: dict[str, object] = {column: getattr(conversation, column) for column in _PLAIN}
    for column in _DOCUMENTS:
        state[column] = json.dumps(getattr(conversation, column), sort_keys=True, default=str)
    return state


#: `last_seen_at` moves on in steps of this much: every report that reads it counts in days
#: or hours, and a learner answering a question a second does not rewrite their user row.
SEEN_STEP = timedelta(minutes=1)


def _seen_moved(user: User, now: datetime) -> bool:
    """Whether this event moves the user's `last_seen_at`: a minute after the stored one, or
    sooner when something happened since that it must be after (a nudge)."""
    seen = user.last_seen_at
    if seen is None or now - seen >= SEEN_STEP:
        return True
    return user.nudged_at is not None and user.nudged_at >= seen


def build_flows(flows: Iterable[Flow]) -> dict[str, Flow]:
    """Indexes flows by name, refusing two flows with one name."""
    indexed: dict[str, Flow] = {}
    for flow in flows:
        if flow.name in indexed:
            raise ValueError(f"flow {flow.name} defined twice")
        indexed[flow.name] = flow
    return indexed
