"""Webhook mode as an ASGI app on the fake Bot API: secret header, /healthz, graceful stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime
from bot.telegram import build_application
from bot.webhook import SECRET_HEADER, create_webhook_app, webhook_path
from storage.models import InboxUpdate, ProcessedUpdate
from tests.fake_telegram import FakeTelegram, fake_request

SECRET = "s3cret-token_for-the-webhook"


@asynccontextmanager
async def webhook(
    runtime: Runtime, telegram: FakeTelegram, **options: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The app with its lifespan running, and a client that talks to it in-process."""
    application = build_application(runtime, request=fake_request(telegram))
    app = create_webhook_app(runtime, application, secret=SECRET, path="/hook", **options)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://opstap.test"
        ) as client,
    ):
        yield client, application


async def test_updates_with_the_secret_are_handled_others_refused(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    async with webhook(runtime, telegram, webhook_url="https://opstap.test/hook") as (client, _):
        update = telegram.text(21, "/start")
        refused = await client.post("/hook", json=update)
        wrong = await client.post("/hook", json=update, headers={SECRET_HEADER: "nope"})
        ok = await client.post("/hook", json=update, headers={SECRET_HEADER: SECRET})
        again = await client.post("/hook", json=update, headers={SECRET_HEADER: SECRET})
        garbage = await client.post("/hook", content=b"{", headers={SECRET_HEADER: SECRET})
        not_update = await client.post("/hook", json=[1], headers={SECRET_HEADER: SECRET})
        malformed = await client.post(
            "/hook", json={"update_id": 9, "message": {"a": 1}}, headers={SECRET_HEADER: SECRET}
        )
    assert (refused.status_code, wrong.status_code) == (403, 403)
    assert (ok.status_code, again.status_code) == (200, 200)
    assert (garbage.status_code, not_update.status_code) == (400, 400)
    # An update python-telegram-bot cannot parse is accepted and set aside, never retried.
    assert malformed.status_code == 200
    # Handled once, although delivered twice; the webhook was registered with the secret.
    sent = telegram.sent()
    assert [c.text.splitlines()[0] for c in sent] == ["Kies je taal."]
    registered = [c for c in telegram.calls if c.method == "setWebhook"]
    assert registered[0].params["secret_token"] == SECRET
    async with runtime.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedUpdate)) == 1
        aside = (await session.scalars(select(InboxUpdate))).all()
    assert [(u.update_id, u.error, u.set_aside_at is not None) for u in aside] == [
        (9, "KeyError", True)
    ]


async def test_healthz_answers_when_the_database_does(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    async with webhook(runtime, telegram) as (client, _):
        health = await client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"


async def test_shutdown_finishes_the_updates_in_flight(
    runtime: Runtime, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = asyncio.Event()
    handle = runtime.engine.handle

    async def held(**kwargs: Any) -> Any:
        await release.wait()
        return await handle(**kwargs)

    monkeypatch.setattr(runtime.engine, "handle", held)
    users = range(31, 36)
    async with webhook(runtime, telegram) as (client, _):
        for user in users:
            response = await client.post(
                "/hook", json=telegram.text(user, "/start"), headers={SECRET_HEADER: SECRET}
            )
            assert response.status_code == 200
        # Every update is accepted and none handled yet when the shutdown starts.
        assert telegram.sent() == []
        asyncio.get_running_loop().call_soon(release.set)
    assert sorted(int(c.params["chat_id"]) for c in telegram.sent()) == list(users)


async def test_after_shutdown_begins_updates_are_turned_away(
    runtime: Runtime, telegram: FakeTelegram
) -> None:
    application = build_application(runtime, request=fake_request(telegram))
    app = create_webhook_app(runtime, application, secret=SECRET, path="/hook")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://opstap.test") as client:
        # Lifespan not running: not accepting.
        response = await client.post(
            "/hook", json=telegram.text(1, "/start"), headers={SECRET_HEADER: SECRET}
        )
    assert response.status_code == 503


def test_the_path_comes_from_the_webhook_url() -> None:
    assert webhook_path("https://opstap.example.org/tg/hook") == "/tg/hook"
    assert webhook_path("https://opstap.example.org") == "/telegram"
    assert webhook_path(None) == "/telegram"


async def test_the_retention_job_runs_daily(runtime: Runtime, telegram: FakeTelegram) -> None:
    async with webhook(runtime, telegram) as (_, application):
        jobs = {job.name: job for job in application.job_queue.jobs()}
        assert "retention_job" in jobs  # beside the scheduler's outbox and planning jobs
        trigger = str(jobs["retention_job"].job.trigger)
    assert "hour='3', minute='30'" in trigger
