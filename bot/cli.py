"""The `opstap` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import traceback
from collections.abc import Sequence
from datetime import date, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import ConfigError, Settings, load_settings
from bot.health import bot_name as telegram_bot_name
from bot.health import explain
from bot.logsafety import configure as configure_logging
from bot.logsafety import install_excepthook, protect, redact
from bot.runtime import Runtime, migrate, tune_collector
from flows.i18n import LANGUAGES
from storage.repositories import ReportRow

if TYPE_CHECKING:
    from flows.privacy import PurgeItem

log = logging.getLogger("opstap")


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Runs every configured channel: Telegram by long polling or webhooks, WhatsApp by
    webhook (on the same server)."""
    from bot.telegram import build_application, run_polling

    if not settings.whatsapp_enabled and not settings.telegram_enabled:
        raise ConfigError(
            "OPSTAP_TELEGRAM_TOKEN is not set (nor OPSTAP_WHATSAPP_TOKEN): get a token from "
            "@BotFather in Telegram, or set up WhatsApp (docs/DEPLOYMENT.md); `opstap chat` "
            "talks to Opstap in the terminal without either."
        )
    if settings.whatsapp_enabled:
        settings.whatsapp()  # every WhatsApp setting is there
    if settings.telegram_enabled:
        settings.token()
    telegram_webhook = args.webhook and settings.telegram_enabled
    if telegram_webhook and settings.webhook_url is None:
        raise ConfigError("OPSTAP_WEBHOOK_URL is not set: it is needed for --webhook.")
    if telegram_webhook and (
        settings.webhook_secret is None or len(settings.webhook_secret.get_secret_value()) < 16
    ):
        raise ConfigError(
            "OPSTAP_WEBHOOK_SECRET is not set: --webhook needs a random secret of 16 to 256 "
            "characters (A-Z, a-z, 0-9, _ and -)."
        )
    migrate(settings)
    if settings.telegram_enabled:
        # A rejected token or a wrong Bot API URL stops here, in one line (see main).
        asyncio.run(telegram_bot_name(settings))
    # asyncio.run leaves no current event loop; python-telegram-bot 22.0 needs one.
    asyncio.set_event_loop(asyncio.new_event_loop())
    runtime = Runtime.create(settings)
    tune_collector()
    if settings.whatsapp_enabled:
        from bot import whatsapp

        whatsapp.serve(runtime, whatsapp_app(runtime, telegram_webhook=args.webhook))
        return 0
    if args.webhook:
        from bot.webhook import serve

        serve(runtime)
        return 0
    application = build_application(runtime)
    add_heartbeat(application, settings.data_dir)
    run_polling(application)
    return 0


def whatsapp_app(runtime: Runtime, *, telegram_webhook: bool) -> Any:
    """The server of `opstap run` with WhatsApp: alone, or with Telegram beside it by
    webhook (its routes on the same server) or by long polling (in the same event loop).
    The two channel rooms do not import each other; this is where they meet."""
    from bot import whatsapp

    adapter = whatsapp.register(runtime)  # before Telegram's dispatcher is built
    if not runtime.settings.telegram_enabled:
        from bot.health import HEARTBEAT_SECONDS, write_heartbeat
        from bot.scheduler import AsyncioJobs

        data_dir = runtime.settings.data_dir
        jobs = AsyncioJobs()

        async def beat() -> None:
            await asyncio.to_thread(write_heartbeat, data_dir)

        jobs.every(HEARTBEAT_SECONDS, beat, first=1, name="heartbeat")
        return whatsapp.create_app(runtime, adapter, jobs=jobs)
    from bot import telegram

    application = telegram.build_application(runtime)
    add_heartbeat(application, runtime.settings.data_dir)
    if not telegram_webhook:
        return whatsapp.create_app(runtime, adapter, beside=lambda: telegram.polling(application))
    from bot.webhook import app_from_settings

    app = app_from_settings(runtime, application)
    return whatsapp.create_app(
        runtime,
        adapter,
        routes_beside=app.routes,
        beside=lambda: app.router.lifespan_context(app),
    )


def add_heartbeat(application: Any, data_dir: Path) -> None:
    """Writes the heartbeat `opstap health` reads, from the job queue (bot/health.py)."""
    from bot.health import HEARTBEAT_SECONDS, write_heartbeat

    async def beat(context: object) -> None:
        await asyncio.to_thread(write_heartbeat, data_dir)

    if application.job_queue is not None:
        # `first=0` never runs in APScheduler (PTB's docs); a first beat due while the job
        # queue is still starting must not be skipped as a misfire either.
        application.job_queue.run_repeating(
            beat,
            interval=HEARTBEAT_SECONDS,
            first=1,
            name="heartbeat",
            job_kwargs={"misfire_grace_time": None},
        )


def cmd_health(settings: Settings, args: argparse.Namespace) -> int:
    """Checks the database, the Bot API and the running process; 0 when all are healthy."""
    from bot.health import run_checks

    checks = asyncio.run(run_checks(settings, process=not args.no_process))
    for check in checks:
        print(redact(check.line()))
    return 0 if all(check.ok for check in checks) else 1


def cmd_dispatcher(settings: Settings, args: argparse.Namespace) -> int:
    """Sends the outbox and plans the nudges, and takes no updates: the one dispatcher of a
    deployment with webhook workers (docs/DEPLOYMENT.md). Several may run: one holds the
    lease and sends, the others wait to take over."""
    from bot.telegram import build_application, serve_dispatcher

    settings.token()
    migrate(settings)
    runtime = Runtime.create(settings)
    tune_collector()
    serve_dispatcher(build_application(runtime))
    return 0


def dispatcher_main() -> int:
    """The `opstap-dispatcher` console script: `opstap dispatcher`."""
    return main(["dispatcher", *sys.argv[1:]])


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
            await chat.run_with_outbox(sys.stdin, runtime)
        finally:
            await runtime.close()

    asyncio.run(main())
    return 0


def cmd_whatsapp_templates(settings: Settings, args: argparse.Namespace) -> int:
    """Prints the WhatsApp message templates, per language, as JSON ready to submit."""
    from bot.whatsapp import print_templates
    from flows.i18n import Translator

    print(print_templates(lambda language: Translator(language, timezone=settings.timezone)))
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Brings the database schema up to date."""
    migrate(settings)
    print("The database schema is up to date.")
    return 0


def cmd_questionnaire_check(settings: Settings, args: argparse.Namespace) -> int:
    """Validates questionnaire files; prints one line per file, the problem when broken."""
    from flows.questionnaire import QuestionnaireError, load_file

    failed = 0
    for path in args.paths:
        try:
            form = load_file(Path(path))
        except QuestionnaireError as error:
            print(f"opstap: {error}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}: ok ({form.id} version {form.version}, {len(form.questions)} questions)")
    return 1 if failed else 0


def cmd_purge(settings: Settings, args: argparse.Namespace) -> int:
    """Erases learners inactive for OPSTAP_RETENTION_MONTHS months (or lists them)."""
    from flows.privacy import purge

    migrate(settings)

    async def main() -> list[PurgeItem]:
        runtime = Runtime.create(settings)
        try:
            return await purge(
                runtime.uow,
                runtime.engine.files,
                now=runtime.engine.clock(),
                months=settings.retention_months,
                dry_run=args.dry_run,
            )
        finally:
            await runtime.close()

    items = asyncio.run(main())
    verb = "Would erase" if args.dry_run else "Erased"
    print(
        f"{verb} {len(items)} learner(s) inactive for more than "
        f"{settings.retention_months} months."
    )
    for item in items:
        print(f"  user {item.user_id}: last active {item.last_active:%Y-%m-%d}, {item.status}")
    return 0


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    """Writes one archive (0600) with the database and the data folder; the bot may run."""
    from storage.backup import BackupError, backup

    try:
        manifest = backup(settings.database_url, settings.data_dir, Path(args.path))
    except BackupError as error:
        print(f"opstap: {error}", file=sys.stderr)
        return 1
    print(
        f"Backed up the {manifest['database']} database and {settings.data_dir} to {args.path} "
        "(readable by you only)."
    )
    return 0


def cmd_inbox(settings: Settings, args: argparse.Namespace) -> int:
    """Lists the updates set aside (never their content); --retry or --drop some of them."""
    migrate(settings)

    async def main() -> list[str]:
        runtime = Runtime.create(settings)
        try:
            async with runtime.uow() as uow:
                lines: list[str] = []
                if args.retry:
                    count = await uow.inbox.retry(args.retry)
                    lines.append(f"{count} update(s) put back in line: handled at the next start.")
                if args.drop:
                    dropped = await uow.inbox.drop(args.drop)
                    lines.append(f"{dropped} update(s) erased.")
                await uow.commit()
                aside = await uow.inbox.set_aside(limit=1000)
                total = await uow.inbox.count_set_aside()
                lines.append(f"{total} update(s) set aside.")
                lines += [
                    f"  {row.update_id}  {row.channel}  {row.error or '-'}  "
                    f"tried {row.attempts}x  {row.set_aside_at:%Y-%m-%d %H:%M}"
                    for row in aside
                    if row.set_aside_at is not None
                ]
                return lines
        finally:
            await runtime.close()

    print("\n".join(asyncio.run(main())))
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    """Puts a backup archive back (stop the bot first), then updates the schema."""
    from storage.backup import BackupError, restore

    try:
        restore(settings.database_url, settings.data_dir, Path(args.path), force=args.force)
    except BackupError as error:
        print(f"opstap: {error}", file=sys.stderr)
        return 1
    migrate(settings)
    print(
        f"Restored {args.path}. Erase again the learners who asked for it since the backup "
        "was made (see docs/DEPLOYMENT.md)."
    )
    return 0


def cmd_nudge_report(settings: Settings, args: argparse.Namespace) -> int:
    """Prints per nudge kind and variant: planned, sent, answered within 48 hours."""
    from flows.nudges import COACH_KINDS, NUDGE_KINDS

    migrate(settings)

    async def main() -> list[ReportRow]:
        runtime = Runtime.create(settings)
        try:
            async with runtime.uow() as uow:
                return await uow.scheduler.report(kinds=(*NUDGE_KINDS, *COACH_KINDS))
        finally:
            await runtime.close()

    rows = asyncio.run(main())
    head = ("kind", "variant", "planned", "sent", "answered<48h", "answer rate")
    lines = [head]
    for row in rows:
        if row.variant == "holdout":
            rate = f"{row.held_active / row.held:.0%}" if row.held else "-"
            lines.append((row.kind, "holdout", str(row.planned), "0", str(row.held_active), rate))
        else:
            rate = f"{row.answered / row.sent:.0%}" if row.sent else "-"
            lines.append(
                (row.kind, row.variant, str(row.planned), str(row.sent), str(row.answered), rate)
            )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    if len(lines) == 1:
        print("No nudges planned yet.")
    print("holdout: learners who got no nudge of that kind; answered = active within 48 hours.")
    return 0


def cmd_holidays(settings: Settings, args: argparse.Namespace) -> int:
    """Lists, adds or removes programme holidays (days without nudges)."""
    from storage.models import ProgrammeHoliday

    try:
        first = date.fromisoformat(args.first) if args.first else None
        last = date.fromisoformat(args.last) if args.last else first
    except ValueError:
        print("opstap: dates look like 2026-12-24", file=sys.stderr)
        return 2
    if args.action != "list" and (first is None or last is None or last < first):
        print("opstap: give a date, or a first and a last date (YYYY-MM-DD)", file=sys.stderr)
        return 2
    migrate(settings)

    async def main() -> list[str]:
        runtime = Runtime.create(settings)
        out: list[str] = []
        try:
            async with runtime.uow() as uow:
                if args.action == "list":
                    start = first or date.today()
                    for holiday in await uow.scheduler.holidays(
                        start=start, end=start + timedelta(days=730)
                    ):
                        out.append(f"{holiday.day.isoformat()}  {holiday.name or ''}".rstrip())
                else:
                    assert first is not None and last is not None
                    day = first
                    while day <= last:
                        if args.action == "add":
                            added = await uow.scheduler.add_holiday(
                                ProgrammeHoliday(day=day, name=args.name)
                            )
                            out.append(
                                f"{day.isoformat()} {'added' if added else 'already there'}"
                            )
                        else:
                            removed = await uow.scheduler.remove_holiday(day)
                            out.append(
                                f"{day.isoformat()} {'removed' if removed else 'not found'}"
                            )
                        day += timedelta(days=1)
                await uow.commit()
        finally:
            await runtime.close()
        return out

    for line in asyncio.run(main()) or ["No programme holidays."]:
        print(line)
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


async def whatsapp_number(settings: Settings) -> str | None:
    """The WhatsApp business number from Meta, when WhatsApp is set up."""
    from bot.whatsapp import GraphApi, business_number

    if not settings.whatsapp_enabled:
        return None
    graph = GraphApi(settings.whatsapp())
    try:
        return await business_number(graph)
    finally:
        await graph.close()


def cmd_coach_invite(settings: Settings, args: argparse.Namespace) -> int:
    """Prints a one-time coach (or, with --coordinator, coordinator) invitation: a deep
    link (Telegram's; WhatsApp's too when it is set up, alone when only it is) and the
    code."""
    from flows.coach import create_invite
    from flows.coach.access import telegram_link, whatsapp_link

    migrate(settings)

    async def main() -> tuple[str, str | None, str | None]:
        runtime = Runtime.create(settings)
        try:
            async with runtime.uow() as uow:
                code = await create_invite(
                    uow,
                    now=runtime.engine.clock(),
                    name=args.name,
                    role="coordinator" if args.coordinator else "coach",
                )
                await uow.commit()
        finally:
            await runtime.close()
        username = args.bot or await bot_username(settings)
        return code, username, await whatsapp_number(settings)

    code, username, number = asyncio.run(main())
    # Telegram's link, unless only WhatsApp is set up.
    telegram = (
        not settings.whatsapp_enabled or settings.telegram_token is not None or bool(username)
    )
    if telegram:
        print(telegram_link(username, f"coach_{code}"))
    if settings.whatsapp_enabled:
        print(whatsapp_link(number, f"coach_{code}"))
    print(f"code: coach_{code}")
    if telegram and username is None:
        print(
            "The bot's username is unknown (no token set, or Telegram did not answer): "
            "replace <bot> with it, or pass --bot USERNAME."
        )
    if settings.whatsapp_enabled and number is None:
        print(
            "The WhatsApp business number is unknown (Meta did not answer): replace <number> "
            f"with it, digits only, or send /start coach_{code} to it in WhatsApp."
        )
    if args.coordinator:
        print("This link makes its user a coordinator: /stats shows every group's numbers.")
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
    root.add_argument("--version", action="version", version=f"opstap {version('opstap')}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run every configured channel: Telegram (long polling by default), WhatsApp "
        "(webhook)",
    )
    run.add_argument("--webhook", action="store_true", help="serve webhooks instead of polling")
    run.set_defaults(handler=cmd_run)

    dispatcher = commands.add_parser(
        "dispatcher",
        help="send the outbox and plan the nudges, without taking updates (one per database)",
    )
    dispatcher.set_defaults(handler=cmd_dispatcher)

    chat = commands.add_parser(
        "chat", help="talk to Opstap in the terminal, as a learner (no token needed)"
    )
    chat.add_argument("--user", default="me", help="who you are in the chat (default: me)")
    chat.add_argument("--lang", choices=sorted(LANGUAGES), help="start in this language")
    chat.set_defaults(handler=cmd_chat)

    templates = commands.add_parser(
        "whatsapp-templates",
        help="print the WhatsApp templates used outside the 24-hour window, as JSON",
    )
    templates.set_defaults(handler=cmd_whatsapp_templates)
    health = commands.add_parser(
        "health", help="check the database, the Bot API and the running bot (exit 0 if healthy)"
    )
    health.add_argument(
        "--no-process",
        action="store_true",
        help="skip the check that `opstap run` is running (its heartbeat file)",
    )
    health.set_defaults(handler=cmd_health)

    migrate_ = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate_.set_defaults(handler=cmd_migrate)

    invite = commands.add_parser("coach-invite", help="print a one-time coach invitation link")
    invite.add_argument("--name", help="the coach's name, offered when they accept")
    invite.add_argument("--bot", help="the bot's username (default: asked from Telegram)")
    invite.add_argument(
        "--coordinator",
        action="store_true",
        help="invite a coordinator (sees the numbers of every group) instead of a coach",
    )
    invite.set_defaults(handler=cmd_coach_invite)

    report = commands.add_parser("report", help="a group's numbers for coordinators")
    report.add_argument("--group", required=True, help="the group's name")
    report.add_argument("--format", choices=["csv"], default="csv", help="output format")
    report.set_defaults(handler=cmd_report)

    report = commands.add_parser(
        "nudge-report", help="per nudge kind and variant: planned, sent, answered in 48 hours"
    )
    report.set_defaults(handler=cmd_nudge_report)

    holidays = commands.add_parser(
        "holidays", help="programme holidays without nudges: list, add or remove days"
    )
    holidays.add_argument("action", choices=["list", "add", "remove"])
    holidays.add_argument("first", nargs="?", help="a date, YYYY-MM-DD")
    holidays.add_argument("last", nargs="?", help="the last date of a range (optional)")
    holidays.add_argument("--name", help="what the holiday is (for add)")
    holidays.set_defaults(handler=cmd_holidays)

    questionnaires = commands.add_parser("questionnaire", help="work with questionnaire files")
    tasks = questionnaires.add_subparsers(dest="task", required=True, metavar="TASK")
    check = tasks.add_parser("check", help="validate questionnaire YAML files")
    check.add_argument("paths", nargs="+", metavar="PATH", help="a questionnaire file")
    check.set_defaults(handler=cmd_questionnaire_check)
    purge = commands.add_parser(
        "purge", help="erase learners inactive for OPSTAP_RETENTION_MONTHS months"
    )
    purge.add_argument("--dry-run", action="store_true", help="only list who would be erased")
    purge.set_defaults(handler=cmd_purge)

    backup = commands.add_parser(
        "backup",
        help="write one archive with the database and the data folder (the bot may run)",
    )
    backup.add_argument("path", metavar="PATH", help="the new backup file (.tar.gz)")
    backup.set_defaults(handler=cmd_backup)
    inbox = commands.add_parser(
        "inbox", help="list the updates set aside (failed three times, or unreadable)"
    )
    inbox.add_argument(
        "--retry", nargs="+", type=int, metavar="ID", help="handle these again at the next start"
    )
    inbox.add_argument("--drop", nargs="+", type=int, metavar="ID", help="erase these")
    inbox.set_defaults(handler=cmd_inbox)
    restore = commands.add_parser("restore", help="put a backup archive back (stop the bot first)")
    restore.add_argument("path", metavar="PATH", help="a file made by `opstap backup`")
    restore.add_argument(
        "--force", action="store_true", help="replace a database that holds users already"
    )
    restore.set_defaults(handler=cmd_restore)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one `opstap` command. A bad setting, or a start-up failure (token rejected, Bot
    API or database unreachable, migration failed), ends it with one clear line naming the
    setting and a non-zero status; with OPSTAP_LOG_LEVEL=DEBUG the traceback is printed too,
    with every secret redacted."""
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"opstap: {error}", file=sys.stderr)
        return 2
    protect(*settings.secrets())
    debug = settings.log_level == "DEBUG"
    explicit = "log_level" in settings.model_fields_set
    # One-shot commands print warnings only, unless a level is set.
    quiet = args.command not in ("run", "dispatcher", "purge") and not explicit
    configure_logging(
        level="WARNING" if quiet else settings.log_level, json=settings.log_format == "json"
    )
    install_excepthook(debug=debug)
    try:
        return int(args.handler(settings, args))
    except ConfigError as error:
        print(f"opstap: {redact(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        line = explain(error, settings)
        if line is None:
            raise
        if debug:
            sys.stderr.write(redact("".join(traceback.format_exception(error))))
        if settings.log_format == "json":
            log.critical(line)  # one JSON line like every other
        else:
            print(f"opstap: {redact(line)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
