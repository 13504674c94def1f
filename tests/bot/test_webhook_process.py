"""`opstap run --webhook` as a real process under uvicorn, against a small Bot API server:
it registers the webhook with the secret, answers /healthz, handles an update and stops
cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from tests.fake_telegram import TOKEN

SECRET = "a-webhook-secret-of-enough-length"


class BotApi(BaseHTTPRequestHandler):
    """Answers every Bot API method; records the calls."""

    calls: list[tuple[str, dict[str, Any]]] = []  # noqa: RUF012

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode()
        params: dict[str, Any]
        try:
            params = json.loads(body) if body.startswith("{") else dict(parse_qsl(body))
        except ValueError:
            params = {}
        method = self.path.rsplit("/", 1)[-1]
        self.calls.append((method, params))
        result: Any = True
        if method == "getMe":
            result = {"id": 999, "is_bot": True, "first_name": "Opstap", "username": "opstap_bot"}
        elif method == "sendMessage":
            result = {
                "message_id": 1,
                "date": 0,
                "chat": {"id": int(params.get("chat_id", 0)), "type": "private"},
                "text": params.get("text", ""),
            }
        payload = json.dumps({"ok": True, "result": result}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def bot_api() -> Iterator[str]:
    BotApi.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), BotApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_opstap_run_webhook_serves_and_stops_on_sigterm(bot_api: str, tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSTAP_")}
    env.update(
        OPSTAP_TELEGRAM_TOKEN=TOKEN,
        OPSTAP_TELEGRAM_API_URL=f"{bot_api}/bot",
        OPSTAP_TELEGRAM_FILE_URL=f"{bot_api}/file/bot",
        OPSTAP_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'w.db'}",
        OPSTAP_DATA_DIR=str(tmp_path / "data"),
        OPSTAP_WEBHOOK_URL="https://opstap.example.org/tg",
        OPSTAP_WEBHOOK_SECRET=SECRET,
        OPSTAP_PORT=str(port),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--webhook"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        health = None
        for _ in range(200):
            try:
                health = httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert health is not None and health.json()["status"] == "ok"
        update = {
            "update_id": 1,
            "message": {
                "message_id": 5,
                "date": 1_700_000_000,
                "chat": {"id": 42, "type": "private"},
                "from": {"id": 42, "is_bot": False, "first_name": "Sam"},
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        assert httpx.post(f"{base}/tg", json=update, headers=headers).status_code == 200
        assert httpx.post(f"{base}/tg", json=update).status_code == 403
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    # uvicorn ends by re-raising the signal once shut down; systemd counts that as clean.
    assert process.returncode in (0, -signal.SIGTERM), stderr
    assert "Application shutdown complete." in stderr
    methods = [method for method, _ in BotApi.calls]
    webhook = next(params for method, params in BotApi.calls if method == "setWebhook")
    assert webhook["url"] == "https://opstap.example.org/tg"
    assert webhook["secret_token"] == SECRET
    # The update taken just before SIGTERM was answered before the process ended.
    assert "sendMessage" in methods
    assert TOKEN not in stderr and SECRET not in stderr
