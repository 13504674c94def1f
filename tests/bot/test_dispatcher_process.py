"""Two `opstap dispatcher` processes on one PostgreSQL database against a small Bot API
server: one holds the lease and sends, the other waits; when the sender is killed with
SIGKILL the other takes over. Together they stay within the one budget of 30 messages a
second, and no message reaches a chat twice. (PostgreSQL only: SQLite runs one process.)"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import func, select, text

from storage.db import create_engine, create_sessionmaker
from storage.models import OutboxMessage, Preferences, User
from storage.repositories import payload
from storage.uow import SqlUnitOfWork
from tests.conftest import POSTGRES_URL
from tests.fake_telegram import TOKEN

pytestmark = pytest.mark.skipif(
    not (POSTGRES_URL or "").startswith("postgresql"),
    reason="the dispatcher lease is a PostgreSQL advisory lock; SQLite runs one process",
)
MESSAGES = 240
TEXT = "Welcome back! Your messages start again."


class BotApi(BaseHTTPRequestHandler):
    """Answers every Bot API method; records when each message arrived and where."""

    sends: list[tuple[float, int, str]] = []  # noqa: RUF012
    lock = threading.Lock()

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode()
        params: dict[str, Any] = (
            json.loads(body) if body.startswith("{") else dict(parse_qsl(body))
        )
        method = self.path.rsplit("/", 1)[-1]
        result: Any = True
        if method == "getMe":
            result = {"id": 999, "is_bot": True, "first_name": "Opstap", "username": "opstap_bot"}
        elif method == "sendMessage":
            chat = int(params.get("chat_id", 0))
            with self.lock:
                self.sends.append((time.monotonic(), chat, str(params.get("text", ""))))
            result = {
                "message_id": 1,
                "date": 0,
                "chat": {"id": chat, "type": "private"},
                "text": params.get("text", ""),
            }
        answer = json.dumps({"ok": True, "result": result}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def bot_api() -> Iterator[str]:
    BotApi.sends = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), BotApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def environment(api: str, url: str, folder: str | Path) -> dict[str, str]:
    """An Opstap process's environment: this one's without OPSTAP_ settings, the Bot API at
    `api`, the database at `url` and its files in `folder`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSTAP_")}
    env.update(
        OPSTAP_TELEGRAM_TOKEN=TOKEN,
        OPSTAP_TELEGRAM_API_URL=f"{api}/bot",
        OPSTAP_TELEGRAM_FILE_URL=f"{api}/file/bot",
        OPSTAP_DATABASE_URL=url,
        OPSTAP_DATA_DIR=str(Path(folder) / "data"),
    )
    return env


async def fresh_database(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def seed(url: str, *, count: int = MESSAGES) -> None:
    """`count` recipients, each with one message due now; no quiet hours."""
    engine = create_engine(url)
    async with SqlUnitOfWork(create_sessionmaker(engine)) as uow:
        now = datetime.now(UTC)
        for n in range(count):
            user = await uow.users.add(
                User(
                    channel="telegram",
                    external_id=str(5000 + n),
                    chat_id=str(5000 + n),
                    language="en",
                )
            )
            await uow.preferences.add(
                Preferences(user_id=user.id, quiet_start="00:00", quiet_end="00:00")
            )
            await uow.outbox.add(
                OutboxMessage(
                    user_id=user.id,
                    kind="notice",
                    dedup_key=f"notice:{n}",
                    due_at=now,
                    payload=payload(TEXT),
                )
            )
        await uow.commit()
    await engine.dispose()


async def statuses(url: str) -> Counter[str]:
    engine = create_engine(url)
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        )
        found = Counter({status: count for status, count in rows})
    await engine.dispose()
    return found


def most_in_a_second(times: list[float]) -> int:
    times = sorted(times)
    return max(
        (sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times)),
        default=0,
    )


def wait_for(condition: Any, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_two_dispatcher_processes_share_one_budget_and_take_over(
    bot_api: str, tmp_path: Path
) -> None:
    url = POSTGRES_URL or ""
    env = environment(bot_api, url, tmp_path)
    asyncio.run(fresh_database(url))
    migrated = subprocess.run(
        [sys.executable, "-m", "bot", "migrate"], env=env, capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stderr
    asyncio.run(seed(url))

    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    outputs = [log.open("w") for log in logs]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "dispatcher"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
        for output in outputs
    ]

    def leaders() -> list[int]:
        return [n for n, log in enumerate(logs) if "is now the dispatcher" in log.read_text()]

    try:
        assert wait_for(lambda: len(BotApi.sends) >= MESSAGES // 3, 120), "nothing was sent"
        first = leaders()
        assert len(first) == 1  # one sender at a time
        processes[first[0]].send_signal(signal.SIGKILL)
        processes[first[0]].wait(timeout=30)
        killed_at = len(BotApi.sends)
        assert wait_for(lambda: len(leaders()) == 2, 60), "nobody took over"
        # Everything not left claimed by the killed process is sent by the other one.
        assert wait_for(lambda: len(BotApi.sends) > killed_at, 60)
        assert wait_for(lambda: asyncio.run(statuses(url))["pending"] == 0, 120), (
            "the survivor did not finish"
        )
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)
        for output in outputs:
            output.close()

    sends = [(at, chat) for at, chat, said in BotApi.sends if said == TEXT]
    per_chat = Counter(chat for _, chat in sends)
    assert max(per_chat.values()) == 1  # no duplicates across the two processes
    found = asyncio.run(statuses(url))
    # The killed process's last claims stay "claimed" until their lease runs out (then they
    # become "unknown", never resent; some of them did arrive before the kill); everything
    # else was sent and recorded, exactly once.
    assert found["sent"] + found["claimed"] == MESSAGES
    assert found["sent"] <= len(sends) <= MESSAGES
    # One budget: 30 a second overall (a little slack for the HTTP arrival jitter).
    assert most_in_a_second([at for at, _ in sends]) <= 31
    survivor = 1 - first[0]
    assert processes[survivor].returncode in (0, -signal.SIGTERM)
    assert "Traceback" not in logs[survivor].read_text()
