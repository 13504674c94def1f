"""Secrets never reach the logs: every log record (ours, python-telegram-bot's, httpx's, with
their tracebacks) has the bot token and the webhook secret replaced before any handler sees it.

httpx logs each request URL at INFO, and Bot API URLs hold the token; the CLI also lowers
httpx's level, but this redaction holds whatever the levels are.
"""

from __future__ import annotations

import logging
from typing import Any

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
