"""Secrets never reach the logs: every log record (ours, python-telegram-bot's, httpx's, with
their tracebacks) has the bot token and the webhook secret replaced before any handler sees it.

httpx logs each request URL at INFO, and Bot API URLs hold the token; the CLI also lowers
httpx's level, but this redaction holds whatever the levels are. The formatters (text, or JSON
lines through python-json-logger, after OPSTAP_LOG_FORMAT) redact once more what they print,
and the excepthook prints an uncaught exception as one line, or redacted with DEBUG.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

import pythonjsonlogger.json

REDACTED = "<redacted>"
_secrets: set[str] = set()
_installed = False


def redact(text: str) -> str:
    """The text with every registered secret replaced."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def protect(*secrets: str | None) -> None:
    """Registers secrets to keep out of every log record; installs the record factory once."""
    global _installed
    _secrets.update(s for s in secrets if s and len(s) >= 8)
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if not _secrets:
            return record
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


class TextFormatter(logging.Formatter):
    """One line per record (`time level logger: message`), secrets redacted, tracebacks too."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(pythonjsonlogger.json.JsonFormatter):
    """One JSON object per record (python-json-logger), secrets redacted, tracebacks too.

    python-json-logger formats `exc_info` itself, past the record factory's redacted
    `exc_text`, so the traceback is redacted here as well.
    """

    def formatException(self, ei: Any) -> str:
        return redact(str(super().formatException(ei)))

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(*, level: str, json: bool) -> None:
    """Sends every log record to stderr at `level`, as text or as JSON lines.

    httpx and httpcore log each request URL at INFO; they stay at WARNING unless the level is
    DEBUG (the URLs are redacted either way).
    """
    handler = logging.StreamHandler(sys.stderr)
    if json:
        handler.setFormatter(
            JsonFormatter(
                "%(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp=True,
            )
        )
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    quiet = logging.DEBUG if level == "DEBUG" else logging.WARNING
    # One line per request and two per job run (the outbox runs every second) would bury
    # what matters; their warnings (a missed job, say) still show.
    for name in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(name).setLevel(quiet)
    # Their DEBUG lines quote what learners wrote (SQL parameters, whole updates, the text of
    # Bot API calls): never below INFO, whatever OPSTAP_LOG_LEVEL says.
    # (SQLAlchemy logs every statement with its parameters as soon as INFO is on.)
    for name, floor in (
        ("aiosqlite", logging.INFO),
        ("telegram", logging.INFO),
        ("sqlalchemy", logging.WARNING),
        ("asyncpg", logging.WARNING),
    ):
        logging.getLogger(name).setLevel(max(floor, logging.getLevelName(level)))


def install_excepthook(*, debug: bool) -> None:
    """An uncaught exception prints one line (its type and where it was raised), or, with
    `debug`, the traceback with every secret redacted. The exit status stays 1."""

    def hook(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        if debug:
            sys.stderr.write(redact("".join(traceback.format_exception(kind, error, tb))))
            return
        frames = traceback.extract_tb(tb)
        where = f" in {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        sys.stderr.write(
            f"opstap: stopped by an unexpected error ({kind.__name__}{where}). "
            "Nothing more is printed here; set OPSTAP_LOG_LEVEL=DEBUG to see the traceback.\n"
        )

    sys.excepthook = hook
