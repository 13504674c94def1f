"""The `opstap` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from bot.config import ConfigError, Settings, load_settings
from bot.runtime import Runtime, migrate
from flows.i18n import LANGUAGES

log = logging.getLogger("opstap")


def _quiet_http_logs() -> None:
    # httpx logs request URLs, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Runs the Telegram bot, by long polling or webhooks."""
    from bot.telegram import build_application

    settings.token()
    if args.webhook and settings.webhook_url is None:
        raise ConfigError("OPSTAP_WEBHOOK_URL is not set: it is needed for --webhook.")
    migrate(settings)
    runtime = Runtime.create(settings)
    application = build_application(runtime)
    if args.webhook:
        assert settings.webhook_url is not None
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        application.run_webhook(
            listen=settings.listen,
            port=settings.port,
            webhook_url=str(settings.webhook_url),
            secret_token=secret,
            allowed_updates=["message", "callback_query"],
        )
    else:
        application.run_polling(allowed_updates=["message", "callback_query"])
    return 0


def cmd_chat(settings: Settings, args: argparse.Namespace) -> int:
    """Talks to the flows in the terminal, as a learner."""
    from bot.terminal import TerminalChat

    migrate(settings)

    async def main() -> None:
        runtime = Runtime.create(settings)
        chat = TerminalChat(runtime.engine, user=args.user, language=args.lang, output=sys.stdout)
        try:
            from flows.messages import Event

            await chat.send(Event(kind="command", command="start"))
            await chat.run(sys.stdin)
        finally:
            await runtime.close()

    asyncio.run(main())
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Brings the database schema up to date."""
    migrate(settings)
    print("The database schema is up to date.")
    return 0


async def bot_username(settings: Settings) -> str | None:
    """The bot's username from Telegram (getMe), when a token is set."""
    from telegram import Bot
    from telegram.error import TelegramError

    if settings.telegram_token is None:
        return None
    try:
        async with Bot(settings.token(), base_url=settings.telegram_api_url) as bot:
            return bot.username
    except TelegramError as error:
        log.warning("could not ask Telegram for the bot's name: %s", error)
        return None


def cmd_coach_invite(settings: Settings, args: argparse.Namespace) -> int:
    """Prints a one-time coach invitation: a deep link and the code."""
    from flows.coach import create_invite

    migrate(settings)

    async def main() -> tuple[str, str | None]:
        runtime = Runtime.create(settings)
        try:
            async with runtime.uow() as uow:
                code = await create_invite(uow, now=runtime.engine.clock(), name=args.name)
                await uow.commit()
        finally:
            await runtime.close()
        return code, args.bot or await bot_username(settings)

    code, username = asyncio.run(main())
    print(f"https://t.me/{username or '<bot>'}?start=coach_{code}")
    print(f"code: coach_{code}")
    if username is None:
        print(
            "The bot's username is unknown (no token set, or Telegram did not answer): "
            "replace <bot> with it, or pass --bot USERNAME."
        )
    print("The link works once and expires in 7 days.")
    return 0


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    """Prints a group's numbers as CSV, for coordinators."""
    import csv

    from flows.coach.stats import group_stats, report_rows

    migrate(settings)

    async def main() -> list[tuple[str, str]] | None:
        runtime = Runtime.create(settings)
        try:
            async with runtime.uow() as uow:
                group = await uow.coaching.group_named(args.group)
                if group is None:
                    return None
                now = runtime.engine.clock()
                return report_rows(await group_stats(uow, group, now=now))
        finally:
            await runtime.close()

    rows = asyncio.run(main())
    if rows is None:
        print(f"opstap: no group named {args.group!r}", file=sys.stderr)
        return 1
    writer = csv.writer(sys.stdout)
    writer.writerow(["metric", "value"])
    writer.writerows(rows)
    return 0


def parser() -> argparse.ArgumentParser:
    """The argument parser, with one subcommand per task."""
    root = argparse.ArgumentParser(
        prog="opstap",
        description="Opstap: a learner companion in Telegram. Settings come from OPSTAP_* "
        "environment variables or a .env file (see README.md).",
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the Telegram bot (long polling by default)")
    run.add_argument("--webhook", action="store_true", help="serve webhooks instead of polling")
    run.set_defaults(handler=cmd_run)

    chat = commands.add_parser(
        "chat", help="talk to Opstap in the terminal, as a learner (no token needed)"
    )
    chat.add_argument("--user", default="me", help="who you are in the chat (default: me)")
    chat.add_argument("--lang", choices=sorted(LANGUAGES), help="start in this language")
    chat.set_defaults(handler=cmd_chat)

    migrate_ = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate_.set_defaults(handler=cmd_migrate)

    invite = commands.add_parser("coach-invite", help="print a one-time coach invitation link")
    invite.add_argument("--name", help="the coach's name, offered when they accept")
    invite.add_argument("--bot", help="the bot's username (default: asked from Telegram)")
    invite.set_defaults(handler=cmd_coach_invite)

    report = commands.add_parser("report", help="a group's numbers for coordinators")
    report.add_argument("--group", required=True, help="the group's name")
    report.add_argument("--format", choices=["csv"], default="csv", help="output format")
    report.set_defaults(handler=cmd_report)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one `opstap` command; a bad setting ends it with one clear line."""
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.command == "run" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    _quiet_http_logs()
    try:
        settings = load_settings()
        return int(args.handler(settings, args))
    except ConfigError as error:
        print(f"opstap: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
