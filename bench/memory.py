"""Memory: the resident size of a bot process that has served 10,000 learners.

A child process builds the real Application on a generated programme, handles one update from
every learner (so python-telegram-bot holds its per-user and per-chat data for each), and
reports its resident memory (VmRSS) and its peak.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import Figure


def _rss_mb() -> tuple[float, float]:
    values: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


async def _child(url: str, learners: int, data_dir: str) -> None:
    from telegram import Update
    from telegram.ext import AIORateLimiter

    from bot.config import Settings
    from bot.runtime import Runtime, tune_collector
    from bot.telegram import build_application
    from tests.fake_telegram import API_URL, FILE_URL, TOKEN, FakeTelegram, fake_request

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_token=TOKEN,  # type: ignore[arg-type]
        telegram_api_url=API_URL,
        telegram_file_url=FILE_URL,
        database_url=url,
        data_dir=Path(data_dir),
    )
    telegram = FakeTelegram()
    runtime = Runtime.create(settings)
    tune_collector()  # as `opstap run` does
    # The limiter in the path, its limits lifted: pacing 10,000 replies at 30 per second
    # would only make the run wait, not change what the process holds.
    app = build_application(
        runtime,
        request=fake_request(telegram),
        get_updates_request=fake_request(telegram),
        rate_limiter=AIORateLimiter(overall_max_rate=0, group_max_rate=0),
    )
    async with app:
        for index in range(learners):
            update = telegram.text(100_000 + index, "/help")
            await app.process_update(Update.de_json(update, app.bot))
            if len(telegram.calls) > 1000:
                telegram.calls.clear()
        rss, peak = _rss_mb()
    await runtime.close()
    print(json.dumps({"rss_mb": rss, "peak_mb": peak}))


async def run(*, learners: int) -> list[Figure]:
    """Generates a programme, then measures a separate bot process serving it."""
    from bench.generate import generate
    from tests.conftest import reset_schema

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'memory.db'}"
        await reset_schema(url)
        await generate(url, learners=learners)
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "bench.memory", url, str(learners), folder],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,  # never hangs: a stuck child fails the run
        )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    return [
        Figure("memory", f"resident with {learners:,} learners", measured["rss_mb"], "MB", 200),
        Figure("memory", "peak resident", measured["peak_mb"], "MB", better="none"),
    ]


if __name__ == "__main__":
    asyncio.run(_child(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
