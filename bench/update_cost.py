"""Update cost: a learner's week through the full Opstap stack against two echo bots, all on
the same in-process fake Bot API transport, interleaved: the *durable* echo bot (PRODUCT.md's
yardstick: python-telegram-bot plus one transaction that records the update and the reply on
the same kind of database, SQLite in WAL mode with BEGIN IMMEDIATE) and the bare one (the
floor, storing nothing).

The simulated learner answers whatever Opstap asks: it presses the first button (or, when the
same question comes back, the last one, which is usually "done" or "skip") and types a
sentence when there are no buttons, through onboarding and each command of the week.

`python -m bench.update_cost [--learners N] [--postgres URL]` runs it alone and exits 1 when
the ratio to the durable echo bot misses its target.

Opstap runs with its own rate limiter in the path but its limits lifted: the limiter's
deliberate pacing at Telegram's limits is policy, not cost (the dispatcher benchmark measures
the sustained rate against the limit).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ContextTypes,
    MessageHandler,
    filters,
)

from bench.common import Figure, mean, percentile, table
from bot.config import Settings
from bot.ratelimit import Limits
from bot.runtime import Runtime, tune_collector
from bot.telegram import OutboxRateLimiter, build_application
from storage.db import create_engine, is_sqlite
from tests.conftest import reset_schema
from tests.fake_telegram import API_URL, FILE_URL, TOKEN, FakeTelegram, fake_request

WEEK = ["/start", "/goal", "/checkin", "/reflect", "/evidence", "/portfolio", "/help"]
ANSWER = "Ik heb vandaag het teamoverleg geleid en iedereen kwam aan het woord."
SHORT_ANSWER = "Samira"
MAX_STEPS = 30


class Learner:
    """Answers what the bot asks, from the calls the fake Bot API recorded.

    The main menu (only command buttons) ends a command. Otherwise the learner presses the
    first choice; when the same question comes back, it types an answer (open questions often
    offer helper buttons such as "show an example"); after that it presses the last choice
    (usually "done" or "skip") or types a short answer (a name), and at last goes back.
    """

    def __init__(self, user_id: int, telegram: FakeTelegram) -> None:
        self.user_id = user_id
        self.telegram = telegram
        self.seen: dict[str, int] = {}

    def next_update(self, sent: list[Any]) -> dict[str, Any] | None:
        """The learner's answer to what was just sent, or None when the menu is back."""
        if not sent:
            return None
        last = sent[-1]
        if last.buttons and all(b["callback_data"].startswith("/") for b in last.buttons):
            return None
        choices = [
            b
            for b in last.buttons
            if not b["callback_data"].startswith("/") and not b["callback_data"].endswith(":<")
        ]
        # A hint ("Type a number") may stand above the question it repeats.
        question = next((q for q in self.seen if last.text.endswith(f"\n\n{q}")), last.text)
        times = self.seen.get(question, 0)
        self.seen[question] = times + 1
        back = [b for b in last.buttons if b["callback_data"].endswith(":<")]
        if times >= 4 and back:
            return self.telegram.press(self.user_id, back[0]["callback_data"])
        if not choices or times == 1:
            return self.telegram.text(self.user_id, ANSWER if times < 2 else SHORT_ANSWER)
        choice = choices[0] if times == 0 else choices[-1]
        return self.telegram.press(self.user_id, choice["callback_data"])


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(update.effective_message.text or "")


def echo_application(telegram: FakeTelegram) -> Application[Any, Any, Any, Any, Any, Any]:
    """The bare echo bot of python-telegram-bot's examples."""
    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(API_URL)
        .request(fake_request(telegram))
        .get_updates_request(fake_request(telegram))
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, _echo))
    return app


def durable_echo_application(
    telegram: FakeTelegram, database: AsyncEngine
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The echo bot that stores what it does: one transaction records the update (once, by
    its id) and the reply, then the reply is sent."""

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        reply = message.text or ""
        async with database.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO echo_log (update_id, chat_id, said, reply)"
                    " VALUES (:u, :c, :s, :r)"
                ),
                {"u": update.update_id, "c": message.chat_id, "s": message.text, "r": reply},
            )
        await message.reply_text(reply)

    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(API_URL)
        .request(fake_request(telegram))
        .get_updates_request(fake_request(telegram))
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    return app


async def run(*, learners: int, postgres: str | None = None) -> list[Figure]:
    """Feeds every learner's week to Opstap and as many text updates to the echo bots, on
    SQLite files (as `make bench` runs), or all three on one PostgreSQL database."""
    with tempfile.TemporaryDirectory() as folder:
        url = postgres or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        echo_url = postgres or f"sqlite+aiosqlite:///{Path(folder) / 'echo.db'}"
        return await _run(learners=learners, url=url, echo_url=echo_url, folder=Path(folder))


async def _run(*, learners: int, url: str, echo_url: str, folder: Path) -> list[Figure]:
    await reset_schema(url)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_token=TOKEN,  # type: ignore[arg-type]
        telegram_api_url=API_URL,
        telegram_file_url=FILE_URL,
        database_url=url,
        data_dir=folder / "data",
    )
    opstap_api, echo_api, durable_api = FakeTelegram(), FakeTelegram(), FakeTelegram()
    runtime = Runtime.create(settings)
    opstap = build_application(
        runtime,
        request=fake_request(opstap_api),
        get_updates_request=fake_request(opstap_api),
        rate_limiter=OutboxRateLimiter(limits=Limits.lifted()),
    )
    echo = echo_application(echo_api)
    # The same engine settings as Opstap's: on SQLite WAL, synchronous=NORMAL, BEGIN IMMEDIATE.
    echo_db = create_engine(echo_url)
    async with echo_db.begin() as connection:
        await connection.execute(text("DROP TABLE IF EXISTS echo_log"))
        await connection.execute(
            text(
                "CREATE TABLE echo_log (update_id BIGINT PRIMARY KEY, chat_id BIGINT,"
                " said TEXT, reply TEXT, at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"
            )
        )
    durable = durable_echo_application(durable_api, echo_db)
    opstap_times: list[float] = []
    echo_times: list[float] = []
    durable_times: list[float] = []
    # CPU of the whole process (the database driver's thread included): steadier than wall
    # time on a shared machine.
    opstap_cpu = durable_cpu = 0.0
    statements = [0, False]  # SQL statements while Opstap handles an update; counting on

    def count(*args: Any) -> None:
        if statements[1]:
            statements[0] += 1

    event.listen(Engine, "before_cursor_execute", count)
    async with opstap, echo, durable:
        for index in range(learners):
            learner = Learner(10_000 + index, opstap_api)
            for command in WEEK:
                update: dict[str, Any] | None = opstap_api.text(learner.user_id, command)
                steps = 0
                while update is not None and steps < MAX_STEPS:
                    steps += 1
                    before = len(opstap_api.calls)
                    opstap_update = Update.de_json(update, opstap.bot)
                    echo_update = Update.de_json(echo_api.text(learner.user_id, ANSWER), echo.bot)
                    durable_update = Update.de_json(
                        durable_api.text(learner.user_id, ANSWER), durable.bot
                    )
                    cpu = time.process_time()
                    before_durable = time.perf_counter()
                    await durable.process_update(durable_update)
                    start = time.perf_counter()
                    durable_cpu += time.process_time() - cpu
                    durable_times.append(start - before_durable)
                    await echo.process_update(echo_update)
                    middle = time.perf_counter()
                    cpu = time.process_time()
                    statements[1] = True
                    await opstap.process_update(opstap_update)
                    statements[1] = False
                    end = time.perf_counter()
                    opstap_cpu += time.process_time() - cpu
                    echo_times.append(middle - start)
                    opstap_times.append(end - middle)
                    update = learner.next_update(opstap_api.sent(before))
    event.remove(Engine, "before_cursor_execute", count)
    await runtime.close()
    await echo_db.dispose()
    per_update = statements[0] / len(opstap_times) if opstap_times else 0.0
    warm = min(20, len(opstap_times) // 10)
    opstap_times, echo_times = opstap_times[warm:], echo_times[warm:]
    durable_times = durable_times[warm:]
    ratio = mean(opstap_times) / mean(echo_times)
    durable_ratio = mean(opstap_times) / mean(durable_times)
    name = "update cost" if is_sqlite(url) else "update cost (PostgreSQL)"
    return [
        Figure(name, "updates", len(opstap_times), ""),
        Figure(name, "opstap updates/s", 1 / mean(opstap_times), "/s", better="none"),
        Figure(name, "echo updates/s", 1 / mean(echo_times), "/s", better="none"),
        Figure(name, "opstap p50", 1000 * percentile(opstap_times, 0.5), "ms", better="none"),
        Figure(name, "opstap p95", 1000 * percentile(opstap_times, 0.95), "ms", better="none"),
        Figure(name, "echo p50", 1000 * percentile(echo_times, 0.5), "ms", better="none"),
        Figure(name, "echo p95", 1000 * percentile(echo_times, 0.95), "ms", better="none"),
        Figure(
            name, "durable echo p50", 1000 * percentile(durable_times, 0.5), "ms", better="none"
        ),
        Figure(name, "SQL statements per Opstap update", per_update, "", better="none"),
        Figure(name, "update cost / durable echo (means)", durable_ratio, "x", target=1.5),
        Figure(name, "update cost / bare echo (means, the floor)", ratio, "x", better="none"),
        Figure(
            name,
            "CPU per update / durable echo's (all updates)",
            opstap_cpu / durable_cpu if durable_cpu else 0.0,
            "x",
            better="none",
        ),
        Figure(
            name,
            "ratio of the medians",
            percentile(opstap_times, 0.5) / percentile(echo_times, 0.5),
            "x",
            better="none",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    """Prints the figures; exits 1 when one misses its target."""
    parser = argparse.ArgumentParser(prog="bench.update_cost", description=__doc__)
    parser.add_argument("--learners", type=int, default=40, help="40 in the full `make bench`")
    parser.add_argument(
        "--postgres", help="run Opstap and the durable echo bot on this PostgreSQL (replaced)"
    )
    args = parser.parse_args(argv)
    tune_collector()  # as in `opstap run`
    figures = asyncio.run(run(learners=args.learners, postgres=args.postgres))
    print(table(figures))
    return 1 if any(f.verdict == "short" for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
