"""Two `opstap dispatcher` processes on one PostgreSQL database, as deployed: the combined
send rate they reach at a small Bot API server, and the messages that arrived twice.

    python -m bench.workers --postgres postgresql+asyncpg://... [--messages 900]

Both processes are started by the benchmark and run until every message is sent; one holds
the dispatcher lease and sends, the other waits. Without `--postgres` it is skipped with a
printed reason (SQLite runs one process). The database's tables are dropped and recreated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import ThreadingHTTPServer
from pathlib import Path

from bench.common import Figure
from tests.bot.test_dispatcher_process import (
    TEXT,
    BotApi,
    fresh_database,
    most_in_a_second,
    seed,
    statuses,
)
from tests.fake_telegram import TOKEN

BUDGET = 30.0


async def run(*, postgres: str | None, messages: int) -> list[Figure]:
    name = "two workers"
    if not postgres:
        print("two workers: skipped, no PostgreSQL given (make bench POSTGRES=URL)")
        return []
    BotApi.sends = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), BotApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"http://127.0.0.1:{server.server_address[1]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSTAP_")}
    with tempfile.TemporaryDirectory() as folder:
        env.update(
            OPSTAP_TELEGRAM_TOKEN=TOKEN,
            OPSTAP_TELEGRAM_API_URL=f"{api}/bot",
            OPSTAP_TELEGRAM_FILE_URL=f"{api}/file/bot",
            OPSTAP_DATABASE_URL=postgres,
            OPSTAP_DATA_DIR=str(Path(folder) / "data"),
        )
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


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.workers", description=__doc__)
    parser.add_argument("--postgres", help="a PostgreSQL URL (its tables are replaced)")
    parser.add_argument("--messages", type=int, default=900)
    args = parser.parse_args()
    for figure in asyncio.run(run(postgres=args.postgres, messages=args.messages)):
        print(f"{figure.name}: {figure.value:,.1f} {figure.unit} (target {figure.target:g})")


if __name__ == "__main__":
    main()
