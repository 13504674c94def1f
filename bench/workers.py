"""Two Opstap processes on one PostgreSQL database, as deployed, at a small Bot API server.

- Two `opstap dispatcher` processes: the combined send rate they reach, and the messages
  that arrived twice. One holds the dispatcher lease and sends, the other waits.
- Two `opstap run --webhook` workers, each given half of a burst of learners writing at
  once: the combined rate of their replies, which share the bot's one send schedule in the
  database (`bot.scheduler.SharedSchedule`).

    python -m bench.workers --postgres postgresql+asyncpg://... [--messages 900] [--replies 300]

The processes are started by the benchmark. Without `--postgres` it is skipped with a
printed reason (SQLite runs one process). The database's tables are dropped and recreated.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import ThreadingHTTPServer

import httpx

from bench.common import Figure
from tests.bot.test_dispatcher_process import (
    TEXT,
    BotApi,
    environment,
    fresh_database,
    most_in_a_second,
    seed,
    statuses,
)
from tests.bot.test_webhook_process import SECRET, free_port

BUDGET = 30.0


def _bot_api() -> tuple[ThreadingHTTPServer, str]:
    """The small Bot API server, recording from empty, and its URL."""
    BotApi.sends = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), BotApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


async def run(*, postgres: str | None, messages: int) -> list[Figure]:
    name = "two workers"
    if not postgres:
        print("two workers: skipped, no PostgreSQL given (make bench POSTGRES=URL)")
        return []
    server, api = _bot_api()
    with tempfile.TemporaryDirectory() as folder:
        env = environment(api, postgres, folder)
        await fresh_database(postgres)
        # Blocking process calls are fine here: nothing else runs in this loop meanwhile.
        subprocess.run([sys.executable, "-m", "bot", "migrate"], env=env, check=True)  # noqa: ASYNC221
        await seed(postgres, count=messages)
        processes = [
            subprocess.Popen(  # noqa: ASYNC220
                [sys.executable, "-m", "bot", "dispatcher"],
                env=env,
                cwd=folder,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(2)
        ]
        try:
            deadline = time.monotonic() + 3 * messages / BUDGET + 120
            while time.monotonic() < deadline:
                await asyncio.sleep(1.0)
                if (await statuses(postgres))["pending"] == 0:
                    break
            await asyncio.sleep(2.0)  # anything still on its way arrives
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=60)
            server.shutdown()
            server.server_close()
        found = await statuses(postgres)
    sends = [(at, chat) for at, chat, said in BotApi.sends if said == TEXT]
    times = sorted(at for at, _ in sends)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    duplicates = sum(n - 1 for n in Counter(chat for _, chat in sends).values())
    return [
        Figure(name, f"messages sent of {messages:,}", found["sent"], "", messages, "higher"),
        Figure(
            name, "combined send rate (most in one second)", most_in_a_second(times), "/s", BUDGET
        ),
        Figure(
            name,
            "combined send rate (average)",
            (len(times) - 1) / span if span else 0.0,
            "/s",
            BUDGET,
        ),
        Figure(name, "duplicates across two workers", duplicates, "", 0),
    ]


def _update(n: int) -> dict[str, object]:
    """A new learner's /start."""
    chat = 5_000_000 + n
    return {
        "update_id": n + 1,
        "message": {
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": "L"},
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


async def replies(*, postgres: str | None, learners: int) -> list[Figure]:
    """Two webhook workers answer a burst of learners: together within 30 a second."""
    name = "two workers"
    if not postgres:
        print("two webhook workers: skipped, no PostgreSQL given (make bench POSTGRES=URL)")
        return []
    server, api = _bot_api()
    ports = [free_port(), free_port()]
    with tempfile.TemporaryDirectory() as folder:
        env = environment(api, postgres, folder)
        env.update(
            OPSTAP_WEBHOOK_URL="https://opstap.example.org/tg",
            OPSTAP_WEBHOOK_SECRET=SECRET,
        )
        await fresh_database(postgres)
        subprocess.run([sys.executable, "-m", "bot", "migrate"], env=env, check=True)  # noqa: ASYNC221
        processes = [
            subprocess.Popen(  # noqa: ASYNC220
                [sys.executable, "-m", "bot", "run", "--webhook"],
                env={**env, "OPSTAP_PORT": str(port)},
                cwd=folder,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for port in ports
        ]
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                for port in ports:
                    for _ in range(300):
                        try:
                            await client.get(f"http://127.0.0.1:{port}/healthz")
                            break
                        except httpx.TransportError:
                            await asyncio.sleep(0.1)
                await asyncio.sleep(2.0)  # both set up (commands, descriptions)
                BotApi.sends = []
                headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
                answers = await asyncio.gather(
                    *(
                        client.post(
                            f"http://127.0.0.1:{ports[n % 2]}/tg", json=_update(n), headers=headers
                        )
                        for n in range(learners)
                    )
                )
            accepted = sum(1 for answer in answers if answer.status_code == 200)
            deadline = time.monotonic() + 3 * learners / BUDGET + 60
            while time.monotonic() < deadline:
                await asyncio.sleep(1.0)
                if len({chat for _, chat, _ in BotApi.sends}) >= learners:
                    break
            await asyncio.sleep(2.0)
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(timeout=60)
            server.shutdown()
            server.server_close()
    times = sorted(at for at, _, _ in BotApi.sends)
    answered = len({chat for _, chat, _ in BotApi.sends})
    return [
        Figure(name, f"updates accepted of {learners:,}", accepted, "", learners, "higher"),
        Figure(name, f"learners answered of {learners:,}", answered, "", learners, "higher"),
        Figure(
            name,
            "combined reply rate of two webhook workers (most in one second)",
            most_in_a_second(times),
            "/s",
            BUDGET,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.workers", description=__doc__)
    parser.add_argument("--postgres", help="a PostgreSQL URL (its tables are replaced)")
    parser.add_argument("--messages", type=int, default=900)
    parser.add_argument("--replies", type=int, default=300, help="learners writing at once")
    args = parser.parse_args()
    figures = asyncio.run(run(postgres=args.postgres, messages=args.messages))
    figures += asyncio.run(replies(postgres=args.postgres, learners=args.replies))
    for figure in figures:
        print(f"{figure.name}: {figure.value:,.1f} {figure.unit} (target {figure.target:g})")


if __name__ == "__main__":
    main()
