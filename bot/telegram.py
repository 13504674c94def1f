"""The Telegram adapter: turns updates into flow events and replies into Bot API calls.

Handlers stay thin: they translate, call the engine, and send. No SQL, no business rules.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import OperationalError, SQLAlchemyError
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatType, MessageLimit
from telegram.error import BadRequest, Forbidden
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackContext,
    CallbackQueryHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.logsafety import protect
from bot.runtime import Runtime
from bot.scheduler import OutboxRateLimiter, install
from flows.i18n import LANGUAGES
from flows.messages import Event, FileKind, IncomingFile, Reply
from flows.privacy import purge

# Opt in to python-telegram-bot's timedelta durations (RetryAfter.retry_after and others):
# without it every 429 answer raises a deprecation warning.
os.environ.setdefault("PTB_TIMEDELTA", "1")

log = logging.getLogger(__name__)
CHANNEL = "telegram"
#: When the daily retention job runs, in the programme time zone.
RETENTION_TIME = time(3, 30)


class BotData:
    """What every handler can reach: the runtime."""

    runtime: Runtime


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
        return Event(kind="text", text=message.text)
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
            with reply.file.path.open("rb") as handle:
                if reply.file.kind == "photo":
                    await context.bot.send_photo(
                        chat_id, handle, caption=caption, reply_markup=markup
                    )
                else:
                    await context.bot.send_document(
                        chat_id,
                        handle,
                        filename=reply.file.file_name,
                        caption=caption,
                        reply_markup=markup,
                    )
            if caption is not None:
                continue
        pieces = split_text(reply.text)
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            await context.bot.send_message(chat_id, piece, reply_markup=markup if last else None)


async def on_message(update: Update, context: OpstapContext) -> None:
    """Hands a private message to the flows and sends the answer."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None:
        return
    replies = await context.runtime.engine.handle(
        channel=CHANNEL,
        external_id=str(user.id),
        chat_id=str(message.chat_id),
        event=message_event(message, context),
        update_id=update.update_id,
        send=lambda early: send_replies(context, message.chat_id, early),
    )
    await send_replies(context, message.chat_id, replies)


async def on_button(update: Update, context: OpstapContext) -> None:
    """Hands a button press to the flows (which check it is not stale) and answers it."""
    query = update.callback_query
    if query is None:
        return
    await query.answer()
    message = query.message if isinstance(query.message, Message) else None
    if message is None or message.chat.type != ChatType.PRIVATE:
        return
    replies = await context.runtime.engine.handle(
        channel=CHANNEL,
        external_id=str(query.from_user.id),
        chat_id=str(message.chat_id),
        event=Event(kind="button", value=query.data or ""),
        update_id=update.update_id,
        send=lambda early: send_replies(context, message.chat_id, early),
    )
    await send_replies(context, message.chat_id, replies, pressed=message)


async def on_group_message(update: Update, context: OpstapContext) -> None:
    """Asks politely to talk in a private chat; nothing is stored."""
    message = update.effective_message
    if message is None:
        return
    user = update.effective_user
    language = user.language_code if user and user.language_code in LANGUAGES else None
    t = context.runtime.engine.translator(language or context.runtime.settings.default_language)
    await message.reply_text(t._("I only talk in private chats. Please write to me directly."))


async def on_error(update: object, context: OpstapContext) -> None:
    """Logs the error, then tells the user kindly that their saved work is safe."""
    log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if isinstance(context.error, Forbidden):
        return
    user = update.effective_user
    language = context.runtime.settings.default_language
    if user is not None:
        try:
            language = await context.runtime.engine.language_of(
                channel=CHANNEL, external_id=str(user.id)
            )
        except SQLAlchemyError:
            log.warning("could not read the user's language for the error message")
    t = context.runtime.engine.translator(language)
    if isinstance(context.error, OperationalError):
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


def build_application(
    runtime: Runtime,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    webhook: bool = False,
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
        await dispatcher.recover()

    async def post_shutdown(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        if dispatcher.lease is not None:
            await dispatcher.lease.release()
        await runtime.close()

    builder = (
        ApplicationBuilder()
        .token(settings.token())
        .base_url(settings.telegram_api_url)
        .base_file_url(settings.telegram_file_url)
        .context_types(ContextTypes(context=OpstapContext, bot_data=BotData))
        .rate_limiter(rate_limiter or OutboxRateLimiter(max_retries=2))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    if webhook:
        builder = builder.updater(None)
    application = builder.build()
    application.bot_data.runtime = runtime
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    application.add_handler(CallbackQueryHandler(on_button))
    application.add_handler(MessageHandler(private, on_message))
    application.add_handler(
        MessageHandler(
            filters.ChatType.GROUPS
            & filters.UpdateType.MESSAGE
            & (filters.COMMAND | filters.Entity(MessageEntity.MENTION)),
            on_group_message,
        )
    )
    application.add_error_handler(on_error)
    if application.job_queue is not None:
        application.job_queue.run_daily(
            retention_job,
            time=RETENTION_TIME.replace(tzinfo=ZoneInfo(settings.timezone)),
            # Late (a suspended host, a clock correction): run once, up to 12 hours late.
            job_kwargs={"misfire_grace_time": 12 * 3600, "coalesce": True},
        )
    dispatcher = install(application, runtime)
    return application


async def retention_job(context: OpstapContext) -> None:
    """Daily: erases learners inactive for OPSTAP_RETENTION_MONTHS months, old exports,
    orphaned uploads and old update ids (flows/privacy.py `purge`)."""
    runtime = context.runtime
    erased = await purge(
        runtime.uow,
        runtime.engine.files,
        now=runtime.engine.clock(),
        months=runtime.settings.retention_months,
    )
    log.info("retention: erased %d learners", len(erased))
