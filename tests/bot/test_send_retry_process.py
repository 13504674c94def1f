"""`opstap run` as a real process, with Telegram's front servers answering the first replies
with 502 and an HTML page: the learner's /start is stored, the reply arrives once when the
server is back, and the log says so in plain lines, without a traceback, the token or the
learner's name."""

from __future__ import annotations

import signal
import sqlite3
from contextlib import closing
from pathlib import Path

from tests.bot.test_crash_process import opstap
from tests.fake_botapi import bot_api_server
from tests.fake_telegram import TOKEN

LEARNER = 4242


def stored(database: Path) -> set[str]:
    with closing(sqlite3.connect(database)) as connection:
        return {str(row[0]) for row in connection.execute("SELECT external_id FROM users")}


def test_a_reply_refused_twice_with_502_arrives_once(tmp_path: Path) -> None:
    with bot_api_server() as api:
        with opstap(api, tmp_path) as process:
            api.wait(lambda a: any(method == "getMe" for method, _ in a.calls))
            api.fail["sendMessage"] = 2
            api.queue(api.text(LEARNER, "/start"))
            api.wait(lambda a: any(int(p["chat_id"]) == LEARNER for p in a.sent()))
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
        refused = [p for method, p in api.refused if method == "sendMessage"]
        sent = [p for p in api.sent() if int(p["chat_id"]) == LEARNER]
    assert len(refused) == 2
    assert len(sent) == 1
    assert sent[0]["text"] == refused[0]["text"]
    assert "Kies je taal" in sent[0]["text"]
    assert str(LEARNER) in stored(tmp_path / "opstap.db")
    assert "Traceback" not in stderr
    assert stderr.count("a reply failed to send (NetworkError), trying again") == 2
    assert "failed to send after" not in stderr
    assert TOKEN not in stderr and TOKEN.split(":")[1] not in stderr
    assert f"User{LEARNER}" not in stderr
