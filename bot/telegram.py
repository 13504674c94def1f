"""The Telegram adapter: turns updates into flow events and replies into Bot API calls.

Handlers stay thin: they translate, call the engine, and send. No SQL, no business rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import warnings
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import replace
from datetime import time
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError, SQLAlchemyError
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    CallbackQuery,
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
)
from telegram import User as TelegramUser
from telegram.constants import ChatAction, ChatType, MessageLimit
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    BaseUpdateProcessor,
    CallbackContext,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    ExtBot,
    JobQueue,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot import inbox as inbox_
from bot.inbox import Inbox
from bot.logsafety import protect
from bot.ratelimit import TELEGRAM, Limits, SendBudget, bulk, is_bulk
from bot.runtime import Runtime
from bot.scheduler import (
    DAILY_GRACE,
    Job,
    OutcomeUnknown,
    RetryLater,
    SendFailed,
    SharedSchedule,
    Unreachable,
    install,
)
from flows.engine import Activity
from flows.i18n import LANGUAGES, N_
from flows.messages import Event, FileKind, IncomingFile, OutFile, Reply
from storage.models import User

# Opt in to python-telegram-bot's timedelta durations (RetryAfter.retry_after and others):
# without it every 429 answer raises a deprecation warning.
os.environ.setdefault("PTB_TIMEDELTA", "1")

log = logging.getLogger(__name__)
CHANNEL = "telegram"
#: The updates Opstap asks Telegram for (polling and webhook alike).
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
#: Long polling: how long one getUpdates call waits for news, and the longest pause after
#: errors (doubling from one second).
POLL_TIMEOUT = 10
MAX_POLL_PAUSE = 30.0


class BotData:
    """What every handler can reach: the runtime and the durable inbox."""

    runtime: Runtime
    inbox: Inbox


class OpstapContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """The callback context, with the runtime at hand."""

    @property
    def runtime(self) -> Runtime:
        return self.bot_data.runtime


def _downloader(context: OpstapContext, file_id: str) -> Callable[[], Awaitable[bytes]]:
    async def read() -> bytes:
        telegram_file = await context.bot.get_file(file_id)
        return bytes(await telegram_file.download_as_bytearray())

    return read


def _seconds(value: object) -> int | None:
    """A duration in whole seconds (read from the raw data: the attribute warns in PTB 22)."""
    return int(value) if isinstance(value, int | float) else None


def message_event(message: Message, context: OpstapContext) -> Event:
    """Turns a private message into a flow event."""
    text = message.text or message.caption or ""
    if message.text and message.text.startswith("/"):
        head, _, args = message.text[1:].partition(" ")
        command = head.split("@", 1)[0].lower()
        return Event(kind="command", command=command, text=args.strip())
    if message.text is not None:
        return Event(kind="text", text=message.text, ref=str(message.message_id))
    media: tuple[FileKind, Any] | None = None
    if message.voice:
        media = ("voice", message.voice)
    elif message.audio:
        media = ("audio", message.audio)
    elif message.photo:
        media = ("photo", message.photo[-1])
    elif message.video:
        media = ("video", message.video)
    elif message.video_note:
        media = ("video", message.video_note)
    elif message.document:
        media = ("document", message.document)
    if media is None:
        return Event(kind="unsupported")
    kind, attachment = media
    return Event(
        kind=kind,
        text=text,
        file=IncomingFile(
            kind=kind,
            read=_downloader(context, attachment.file_id),
            size=attachment.file_size,
            mime_type=getattr(attachment, "mime_type", None),
            file_name=getattr(attachment, "file_name", None),
            unique_id=attachment.file_unique_id,
            duration=_seconds(attachment.to_dict().get("duration")),
        ),
    )


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """The inline keyboard of a reply, if it has buttons."""
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
            for row in reply.buttons
        ]
    )


def split_text(text: str, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Splits text into pieces Telegram accepts, at line breaks where possible."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    pieces.append(text)
    return pieces


async def send_replies(
    context: OpstapContext, chat_id: int, replies: list[Reply], *, pressed: Message | None = None
) -> None:
    """Sends replies in order: edits the pressed message for a `replace`, else new messages."""
    for reply in replies:
        if reply.command_menu is not None:
            await set_chat_commands(context, chat_id, *reply.command_menu)
        markup = keyboard(reply)
        if reply.replace and pressed is not None and not reply.file:
            try:
                await pressed.edit_text(reply.text, reply_markup=markup)
                continue
            except BadRequest as error:
                if "not modified" in str(error).lower():
                    continue
                log.info("could not edit message, sending a new one: %s", error)
        if reply.file is not None:
            caption = reply.text if len(reply.text) <= MessageLimit.CAPTION_LENGTH else None
            known = reply.file.kind == "photo" and await send_known_photo(
                context, chat_id, reply.file.path, caption=caption, markup=markup
            )
            if not known:
                await send_file(context, chat_id, reply.file, caption=caption, markup=markup)
            if caption is not None:
                continue
        pieces = split_text(reply.text)
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            await context.bot.send_message(chat_id, piece, reply_markup=markup if last else None)


class TelegramRequest(HTTPXRequest):
    """PTB's HTTPX transport, with an unreadable answer reported in one line.

    Telegram's front servers answer a 502 or 504 with an HTML page. PTB logs that page with a
    traceback before it raises its NetworkError, though the error is routine and `deliver`
    tries again; here the error is raised the same way, and the log says it in one line.
    """

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        try:
            data = json.loads(payload.decode("utf-8", "replace"))
        except ValueError:
            data = None
        if not isinstance(data, dict):
            log.warning("Telegram answered with %d bytes that are not a JSON object", len(payload))
            raise TelegramError("Invalid server response")
        return data


def transient(error: BaseException) -> bool:
    """A send failure worth trying again: the network, Telegram's servers, its flood wait.
    Not a refused request (400) nor a file above Telegram's limit (413, which PTB gives as a
    NetworkError with Telegram's "Request Entity Too Large")."""
    if isinstance(error, RetryAfter | TimedOut):
        return True
    return (
        isinstance(error, NetworkError)
        and not isinstance(error, BadRequest)
        and "too large" not in str(error).lower()
    )


async def deliver_replies(
    context: OpstapContext,
    update_id: int,
    chat_id: int,
    replies: list[Reply],
    *,
    pressed: Message | None = None,
) -> None:
    """Sends the replies of a handled update, trying again where the network failed."""

    async def send(reply: Reply) -> None:
        await send_replies(context, chat_id, [reply], pressed=pressed)

    await inbox_.deliver(update_id, replies, send, transient=transient)


#: Photos sent lately, by (path, size, modification time): Telegram's file id of each, so the
#: same chart shown again goes by its id instead of being uploaded again (Telegram keeps a
#: bot's files). Charts are stored under their content's digest; size and time guard others.
PHOTO_IDS: OrderedDict[tuple[str, int, int], str] = OrderedDict()
PHOTO_IDS_KEPT = 10_000


def _photo_key(path: Path) -> tuple[str, int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return (str(path), status.st_size, status.st_mtime_ns)


async def send_known_photo(
    context: OpstapContext,
    chat_id: int,
    path: Path,
    *,
    caption: str | None,
    markup: InlineKeyboardMarkup | None,
) -> bool:
    """Sends a photo sent before by its Telegram file id; False when it is not known (or
    Telegram no longer takes the id): then it must be uploaded."""
    key = _photo_key(path)
    file_id = PHOTO_IDS.get(key) if key is not None else None
    if key is None or file_id is None:
        return False
    try:
        await context.bot.send_photo(chat_id, file_id, caption=caption, reply_markup=markup)
    except BadRequest as error:
        log.info("a known photo was refused, uploading it again: %s", error)
        PHOTO_IDS.pop(key, None)
        return False
    PHOTO_IDS.move_to_end(key)
    return True


async def send_file(
    context: OpstapContext,
    chat_id: int,
    file: OutFile,
    *,
    caption: str | None,
    markup: InlineKeyboardMarkup | None,
) -> None:
    """Uploads a photo or a document; remembers a photo's file id for the next time."""
    with file.path.open("rb") as handle:
        if file.kind == "photo":
            key = _photo_key(file.path)
            sent = await context.bot.send_photo(
                chat_id, handle, caption=caption, reply_markup=markup
            )
            if key is not None and sent.photo:
                PHOTO_IDS[key] = sent.photo[-1].file_id
                while len(PHOTO_IDS) > PHOTO_IDS_KEPT:
                    PHOTO_IDS.popitem(last=False)
        else:
            await context.bot.send_document(
                chat_id, handle, filename=file.file_name, caption=caption, reply_markup=markup
            )


def language_hint(user: TelegramUser | None) -> str | None:
    """The language of the user's Telegram app ("nl-BE" gives "nl"), when Opstap speaks it:
    the first guess for someone who has not chosen yet."""
    code = (user.language_code or "") if user is not None else ""
    language = code.split("-", 1)[0].lower()
    return language if language in LANGUAGES else None


#: What Telegram shows under the bot's name while a long job runs, per kind of job.
CHAT_ACTIONS = {
    "document": ChatAction.UPLOAD_DOCUMENT,
    "photo": ChatAction.UPLOAD_PHOTO,
    "typing": ChatAction.TYPING,
}
#: Telegram shows a chat action for 5 seconds, so it is sent again a little sooner.
CHAT_ACTION_RENEW_SECONDS = 4.0


@contextlib.asynccontextmanager
async def chat_activity(context: OpstapContext, chat_id: int) -> AsyncIterator[Activity]:
    """Lets a flow show "sending a file…" while it builds one (`ctx.working()`); the sign
    is renewed until the block ends. A chat action that fails is only logged."""
    renewing: list[asyncio.Task[None]] = []

    async def send(action: ChatAction) -> bool:
        try:
            await context.bot.send_chat_action(chat_id, action)
        except TelegramError as error:
            log.info("a chat action could not be sent: %s", type(error).__name__)
            return False
        return True

    async def renew(action: ChatAction) -> None:
        while True:
            await asyncio.sleep(CHAT_ACTION_RENEW_SECONDS)
            if not await send(action):
                return

    async def show(kind: str) -> None:
        for task in renewing:
            task.cancel()
        action = CHAT_ACTIONS.get(kind, ChatAction.TYPING)
        if await send(action):
            renewing.append(asyncio.create_task(renew(action)))

    try:
        yield show
    finally:
        for task in renewing:
            task.cancel()
        await asyncio.gather(*renewing, return_exceptions=True)


async def on_message(update: Update, context: OpstapContext) -> None:
    """Hands a private message to the flows and sends the answer."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    async with chat_activity(context, message.chat_id) as activity:
        replies = await context.runtime.engine.handle(
            channel=CHANNEL,
            external_id=str(user.id),
            chat_id=str(message.chat_id),
            event=message_event(message, context),
            update_id=update.update_id,
            language_hint=language_hint(user),
            send=lambda early: send_replies(context, message.chat_id, early),
            activity=activity,
        )
    inbox_.mark_handled()
    await deliver_replies(context, update.update_id, message.chat_id, replies)


async def on_button(update: Update, context: OpstapContext) -> None:
    """Hands a button press to the flows (which check it is not stale) and answers it."""
    query = update.callback_query
    if query is None:
        return
    # Answered while the flows work: the button stops spinning a round trip sooner, and the
    # update waits for one Bot API call less.
    answering = asyncio.create_task(answer_press(query, update.update_id))
    try:
        message = query.message if isinstance(query.message, Message) else None
        if message is None or message.chat.type != ChatType.PRIVATE:
            return
        async with chat_activity(context, message.chat_id) as activity:
            replies = await context.runtime.engine.handle(
                channel=CHANNEL,
                external_id=str(query.from_user.id),
                chat_id=str(message.chat_id),
                event=Event(kind="button", value=query.data or ""),
                update_id=update.update_id,
                language_hint=language_hint(query.from_user),
                send=lambda early: send_replies(context, message.chat_id, early),
                activity=activity,
            )
    finally:
        await answering
    inbox_.mark_handled()
    await deliver_replies(context, update.update_id, message.chat_id, replies, pressed=message)


async def answer_press(query: CallbackQuery, update_id: int) -> None:
    """Answers a button press (Telegram then stops its spinner). A failure is only logged:
    the press still counts, and failing the update after its transaction would lose the
    replies."""
    try:
        await query.answer()
    except TelegramError as error:  # too old, answered by an earlier attempt, a network error
        log.info(
            "update %d: the button press could not be answered (%s)",
            update_id,
            type(error).__name__,
        )


async def on_my_chat_member(update: Update, context: OpstapContext) -> None:
    """A learner blocked the bot (unreachable at once, their coach told) or unblocked it."""
    change = update.my_chat_member
    if change is None or change.chat.type != ChatType.PRIVATE:
        return
    status = change.new_chat_member.status
    blocked = status in (ChatMember.BANNED, ChatMember.LEFT)
    await context.runtime.engine.reachability(
        channel=CHANNEL,
        external_id=str(change.from_user.id),
        reachable=not blocked,
        update_id=update.update_id,
        policy=context.runtime.nudge_policy(),
    )
    inbox_.mark_handled()


async def on_group_message(update: Update, context: OpstapContext) -> None:
    """Asks politely to talk in a private chat; nothing is stored."""
    message = update.effective_message
    if message is None:
        return
    language = language_hint(update.effective_user)
    t = context.runtime.engine.translator(language or context.runtime.settings.default_language)
    await message.reply_text(t._("I only talk in private chats. Please write to me directly."))


async def on_error(update: object, context: OpstapContext) -> None:
    """Logs the error without what the learner sent (update id, user id, where, flow step);
    on the last attempt tells the user kindly that their saved work is safe."""
    error = context.error
    if error is None:
        return
    if isinstance(error, Forbidden):  # they blocked the bot while we answered
        log.info("update %s: the user blocked the bot", getattr(update, "update_id", "?"))
        return
    if not inbox_.record_error(error):
        return  # the inbox tries again
    if inbox_.current() is not None:
        pass  # the inbox logs it once, as it sets the update aside
    elif isinstance(update, Update):
        user_id = update.effective_user.id if update.effective_user else "?"
        log.error(
            "update %d of user %s failed: %s", update.update_id, user_id, inbox_.describe(error)
        )
    else:
        log.error("a job failed: %s", inbox_.describe(error))
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    user = update.effective_user
    language = context.runtime.settings.default_language
    if user is not None:
        try:
            language = await context.runtime.engine.language_of(
                channel=CHANNEL, external_id=str(user.id), hint=language_hint(user)
            )
        except SQLAlchemyError:
            log.warning("could not read the user's language for the error message")
    t = context.runtime.engine.translator(language)
    if isinstance(error, OperationalError):
        # The database stayed busy (locked) longer than the busy timeout: nothing was stored.
        text = t._(
            "I am very busy right now. Nothing was lost. Please send that again in a minute."
        )
    else:
        text = t._(
            "Sorry, something went wrong on my side. What you saved is safe. Please try again."
        )
    await context.bot.send_message(update.effective_chat.id, text)


async def set_commands(
    application: Application[Any, Any, Any, Any, Any, Any], runtime: Runtime
) -> None:
    """Registers the learner commands with Telegram, per language."""
    engine = runtime.engine
    for language in [None, *LANGUAGES]:
        t = engine.translator(language or runtime.settings.default_language)
        commands = [
            BotCommand(name, t._(description)[:256])
            for name, description in engine.commands_for("learner")
        ]
        await application.bot.set_my_commands(commands, language_code=language)


async def set_chat_commands(
    context: OpstapContext, chat_id: int, role: str, language: str
) -> None:
    """Shows one chat the commands of a role (a new coach's), in their language."""
    engine = context.runtime.engine
    t = engine.translator(language)
    commands = [
        BotCommand(name, t._(description)[:256]) for name, description in engine.commands_for(role)
    ]
    await context.bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id))


def raw_user_key(data: dict[str, Any]) -> str | None:
    """Whose update a raw Telegram update is, read without parsing it ("telegram:<id>")."""
    for value in data.values():
        sender = value.get("from") if isinstance(value, dict) else None
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            return f"{CHANNEL}:{sender['id']}"
    return None


class InboxUpdateProcessor(BaseUpdateProcessor):
    """Runs every update through the durable inbox: different users' updates at the same
    time, one user's strictly in order, failures tried again and then set aside.

    python-telegram-bot's own choices do not fit: by default updates run one at a time (one
    slow download makes every learner wait), and `concurrent_updates=N` runs them in any order
    (one learner's two quick answers could be applied the wrong way round).
    """

    def __init__(self, inbox: Inbox) -> None:
        # The inbox limits the work itself (after the per-user lock, to keep the order).
        super().__init__(max_concurrent_updates=1_000_000)
        self.inbox = inbox
        self.application: Application[Any, Any, Any, Any, Any, Any] | None = None

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update) or self.application is None:
            await coroutine
            return
        application = self.application
        first: list[Awaitable[Any]] = [coroutine]

        async def handle() -> object:
            return await (first.pop() if first else application.process_update(update))

        user = update.effective_user
        key = f"{CHANNEL}:{user.id}" if user else None
        await self.inbox.run(update.update_id, key, handle)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free."""


async def accept(
    application: Application[Any, Any, Any, Any, Any, Any], update_id: int, data: dict[str, Any]
) -> None:
    """Hands a stored update to the Application; one that cannot be parsed is set aside."""
    inbox: Inbox = application.bot_data.inbox
    try:
        update = Update.de_json(data, application.bot)
    except Exception as error:
        await inbox.set_aside(update_id, error)
        return
    await application.update_queue.put(update)


async def accept_pending(application: Application[Any, Any, Any, Any, Any, Any]) -> int:
    """At start: the replies of updates handled but not sent before a crash, then the
    updates stored but not handled before a stop or a crash, in order."""
    inbox: Inbox = application.bot_data.inbox
    context = OpstapContext(application)

    async def send(chat: str, replies: Sequence[Reply]) -> None:
        await send_replies(context, int(chat), list(replies))

    await inbox.resend(send, transient=transient)
    pending = await inbox.pending()
    for update_id, data in pending:
        await accept(application, update_id, data)
    if pending:
        log.info("handling %d updates received before the restart", len(pending))
    return len(pending)


async def poll(
    application: Application[Any, Any, Any, Any, Any, Any], stop: asyncio.Event
) -> None:
    """Long polling into the durable inbox.

    python-telegram-bot's Updater confirms a batch (the next offset) before it is handled and
    parses the whole batch at once, so a crash loses what was fetched and one update it cannot
    parse stops every other. Here an offset moves on only after the batch is stored; each
    update is parsed on its own; errors back off, doubling up to 30 seconds.
    """
    inbox: Inbox = application.bot_data.inbox
    offset: int | None = None
    pause = 0.0
    while not stop.is_set():
        if pause:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)
            if stop.is_set():
                return
        try:
            # The raw JSON: Bot.get_updates parses the whole batch and raises for all of it.
            result = await application.bot._post(
                "getUpdates",
                {"offset": offset, "timeout": POLL_TIMEOUT, "allowed_updates": ALLOWED_UPDATES},
                read_timeout=POLL_TIMEOUT + 10,
            )
        except InvalidToken:
            raise
        except Conflict:
            pause = MAX_POLL_PAUSE
            log.error(
                "getUpdates refused: another process polls with this token, or a webhook is "
                "set (OPSTAP_TELEGRAM_TOKEN); trying again in %d s",
                pause,
            )
            continue
        except TelegramError as error:
            pause = min(max(pause * 2, 1.0), MAX_POLL_PAUSE)
            log.warning(
                "getUpdates failed (%s); trying again in %d s", type(error).__name__, pause
            )
            continue
        raw = [u for u in result if isinstance(u, dict)] if isinstance(result, list) else []
        updates = [u for u in raw if isinstance(u.get("update_id"), int)]
        if not updates:
            pause = 0.0
            continue
        try:
            new = await inbox.store([(u["update_id"], raw_user_key(u), u) for u in updates])
        except (SQLAlchemyError, OSError) as error:
            # Not stored, so not confirmed: Telegram gives them again.
            pause = min(max(pause * 2, 1.0), MAX_POLL_PAUSE)
            log.error(
                "could not store %d updates (%s); trying again in %d s",
                len(updates),
                type(error).__name__,
                pause,
            )
            continue
        pause = 0.0
        offset = max(u["update_id"] for u in updates) + 1
        for data in updates:
            if data["update_id"] in new:
                await accept(application, data["update_id"], data)


async def drain(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Waits until every update handed to the Application is handled. (`Application.stop`
    alone would start the ones still queued as tasks it no longer waits for.) Their replies'
    kept copies are cleared."""
    await application.update_queue.join()
    await application.bot_data.inbox.close()


def run_polling(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Runs the bot by long polling until SIGINT or SIGTERM; stops gracefully."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        async with application:
            if application.post_init:
                await application.post_init(application)
            await application.start()
            await accept_pending(application)
            log.info("Opstap is running (long polling); stop with Ctrl-C")
            polling = asyncio.create_task(poll(application, stop))
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({polling, stopped}, return_when=asyncio.FIRST_COMPLETED)
            polling.cancel()
            stopped.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await polling
            log.info("stopping: handling the updates already received")
            await drain(application)
            await application.stop()
        if application.post_shutdown:
            await application.post_shutdown(application)

    asyncio.run(main())


def build_application(
    runtime: Runtime,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    rate_limiter: BaseRateLimiter[Any] | None = None,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """Builds the python-telegram-bot Application for a runtime.

    Tests pass `request` objects backed by a fake Bot API transport; benchmarks pass a
    rate limiter with its limits lifted, to measure cost rather than deliberate waiting.
    """
    settings = runtime.settings
    protect(
        settings.token(),
        settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
    )

    async def post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        runtime.engine.config = replace(
            runtime.engine.config, bot_username=application.bot.username
        )
        await set_commands(application, runtime)
        await set_descriptions(application, runtime)
        await dispatcher.recover()

    async def post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        if dispatcher.lease is not None:
            await dispatcher.lease.release()
        await inbox.close()
        await runtime.close()

    builder = (
        ApplicationBuilder()
        .token(settings.token())
        .base_url(settings.telegram_api_url)
        .base_file_url(settings.telegram_file_url)
        .context_types(ContextTypes(context=OpstapContext, bot_data=BotData))
        .rate_limiter(
            rate_limiter
            or OutboxRateLimiter(
                max_retries=2,
                shared=SharedSchedule.for_engine(runtime.db, CHANNEL, TELEGRAM.shared_interval),
            )
        )
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    builder = builder.request(request or TelegramRequest())
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    inbox = Inbox(runtime, CHANNEL)
    processor = InboxUpdateProcessor(inbox)
    # No Updater: `poll` (or the webhook) fills the update queue from the durable inbox.
    builder = builder.updater(None).concurrent_updates(processor)
    application = builder.build()
    processor.application = application
    application.bot_data.runtime = runtime
    application.bot_data.inbox = inbox
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(ChatMemberHandler(on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    application.add_handler(MessageHandler(private, on_message))
    application.add_handler(MessageHandler(EDITED_IN_PRIVATE, on_edited_message))
    application.add_handler(
        MessageHandler(
            filters.ChatType.GROUPS
            & filters.UpdateType.MESSAGE
            & (filters.COMMAND | filters.Entity(MessageEntity.MENTION)),
            on_group_message,
        )
    )
    application.add_error_handler(on_error)
    queue = application.job_queue
    if queue is None:  # pragma: no cover - the job-queue extra is a dependency
        raise RuntimeError("python-telegram-bot's job queue is not installed")
    dispatcher = install(PtbJobs(queue), runtime, TelegramSender(application.bot))
    return application


class PtbJobs:
    """The scheduler's `Jobs` on python-telegram-bot's JobQueue (APScheduler)."""

    def __init__(self, queue: JobQueue[Any]) -> None:
        self.queue = queue

    def every(self, seconds: float, job: Job, *, first: float, name: str) -> None:
        async def callback(context: CallbackContext[Any, Any, Any, Any]) -> None:
            await job()

        # Two instances may overlap: the second returns at once (the dispatcher's own lock),
        # instead of APScheduler skipping it with a warning.
        overlap = {"max_instances": 2, "coalesce": True, "misfire_grace_time": None}
        self.queue.run_repeating(
            callback, interval=seconds, first=first, name=name, job_kwargs=overlap
        )

    def daily(self, at: time, job: Job, *, name: str) -> None:
        async def callback(context: CallbackContext[Any, Any, Any, Any]) -> None:
            await job()

        grace = int(DAILY_GRACE.total_seconds())  # late: run once, up to 12 hours late
        self.queue.run_daily(
            callback,
            time=at,
            name=name,
            job_kwargs={"misfire_grace_time": grace, "coalesce": True},
        )


def serve_dispatcher(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Runs only the jobs (dispatcher, planner, retention) of an application built without
    an updater, until SIGTERM or SIGINT: the `opstap dispatcher` process."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with application:
            if application.post_init is not None:
                await application.post_init(application)
            await application.start()
            log.info("dispatcher started; it sends while it holds the lease")
            await stop.wait()
            await application.stop()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)

    asyncio.run(main())


@contextlib.asynccontextmanager
async def polling(application: Application[Any, Any, Any, Any, Any, Any]) -> AsyncIterator[None]:
    """Runs Telegram by long polling (into its durable inbox) beside another server in the
    same event loop (WhatsApp's webhook), as `run_polling` does alone."""
    stop = asyncio.Event()
    async with application:
        if application.post_init:
            await application.post_init(application)
        await application.start()
        await accept_pending(application)
        task = asyncio.create_task(poll(application, stop))
        try:
            yield
        finally:
            stop.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await drain(application)
            await application.stop()
    if application.post_shutdown:
        await application.post_shutdown(application)


#: Requests that put a message into a chat (the per-chat limits count these).
_MESSAGE_ENDPOINTS = ("send", "copyMessage", "forwardMessage")


class OutboxRateLimiter(BaseRateLimiter[int]):
    """python-telegram-bot's rate limiter for Opstap: a `SendBudget` in front of every
    request; replies retry a 429 up to `max_retries` times, scheduled sends never."""

    def __init__(
        self,
        *,
        max_retries: int = 2,
        limits: Limits = TELEGRAM,
        shared: SharedSchedule | None = None,
    ) -> None:
        self.max_retries = max_retries
        self.shared = shared
        self.budget = SendBudget(limits, shared=shared)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Closes the connection of the shared schedule, if any."""
        if self.shared is not None:
            await self.shared.close()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Waits for the budget, sends, and honours `retry_after`."""
        scheduled = is_bulk()
        chat: int | str | None = data.get("chat_id")
        if isinstance(chat, str):
            with contextlib.suppress(ValueError):
                chat = int(chat)
        if not endpoint.startswith(_MESSAGE_ENDPOINTS):
            chat = None
        retries = 0 if scheduled else (rate_limit_args or self.max_retries)
        for attempt in range(retries + 1):
            try:
                async with self.budget.request(chat, scheduled=scheduled):
                    return await callback(*args, **kwargs)
            except RetryAfter as error:
                self.budget.hold(error._retry_after.total_seconds())
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover


class TelegramSender:
    """The outbox `Sender` for Telegram users: sends through the application's bot, paced by
    its `OutboxRateLimiter` (below) as a scheduled send."""

    def __init__(self, bot: Any) -> None:
        self.bot = bot

    async def send(self, user: User, reply: Reply) -> None:
        if user.chat_id is None:
            raise Unreachable("no chat")
        try:
            with bulk():
                await self.bot.send_message(
                    int(user.chat_id), reply.text, reply_markup=keyboard(reply)
                )
        except RetryAfter as error:
            with warnings.catch_warnings():  # its type changes in a future version
                warnings.simplefilter("ignore", PTBDeprecationWarning)
                wait = error.retry_after
            seconds = wait if isinstance(wait, int | float) else wait.total_seconds()
            raise RetryLater(float(seconds)) from error
        except Forbidden as error:
            raise Unreachable(str(error)) from error
        except TimedOut as error:
            raise OutcomeUnknown(str(error)) from error
        except BadRequest as error:
            raise SendFailed(str(error)) from error
        except NetworkError as error:
            raise OutcomeUnknown(str(error)) from error
        except TelegramError as error:
            raise SendFailed(str(error)) from error


# -- the first screen and edited messages ------------------------------------------------------
#: What a new user reads before pressing Start, and under the bot's name (Telegram's limits).
DESCRIPTION = N_(
    "Opstap helps you learn from your work, one small step a week: a goal, a reflection, "
    "proof of what you can do. In Dutch, French, English, Arabic or Turkish. Press Start to "
    "begin."
)
SHORT_DESCRIPTION = N_("One small learning step a week, in your language.")
EDITED_IN_PRIVATE = filters.ChatType.PRIVATE & filters.UpdateType.EDITED_MESSAGE


async def set_descriptions(
    application: Application[Any, Any, Any, Any, Any, Any], runtime: Runtime
) -> None:
    """Sets the bot's description and short description in every language (and the default,
    for other languages), as Telegram shows them before Start."""
    for language in [None, *LANGUAGES]:
        t = runtime.engine.translator(language or runtime.settings.default_language)
        await application.bot.set_my_description(t._(DESCRIPTION)[:512], language_code=language)
        await application.bot.set_my_short_description(
            t._(SHORT_DESCRIPTION)[:120], language_code=language
        )


async def on_edited_message(update: Update, context: OpstapContext) -> None:
    """A changed message: the flows use it while it is the last answer, or say how to
    correct one."""
    message = update.edited_message
    user = message.from_user if message is not None else None
    if message is None or user is None:
        return
    replies = await context.runtime.engine.handle(
        channel=CHANNEL,
        external_id=str(user.id),
        chat_id=str(message.chat_id),
        event=Event(
            kind="edit", text=message.text or message.caption or "", ref=str(message.message_id)
        ),
        update_id=update.update_id,
        language_hint=language_hint(user),
    )
    inbox_.mark_handled()
    await deliver_replies(context, update.update_id, message.chat_id, replies)
