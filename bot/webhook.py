"""Webhook mode: an ASGI app (Starlette, served by uvicorn) in front of the Application.

- `POST <path>` takes an update from Telegram. The header X-Telegram-Bot-Api-Secret-Token must
  equal OPSTAP_WEBHOOK_SECRET (compared in constant time), else 403. The update is queued and
  answered 200 at once; the Application handles it (deduplicated by update_id in the
  database, so a retry or a second worker never handles it twice).
- `GET /healthz` answers 200 when the database answers, else 503.
- Shutdown is graceful: new updates get 503 (Telegram sends them again later, perhaps to
  another worker) and `Application.stop()` handles every update already accepted before the
  process ends. uvicorn starts the shutdown on SIGTERM or SIGINT.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from bot.runtime import Runtime

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
MAX_BODY_BYTES = 1_000_000


def webhook_path(webhook_url: str | None) -> str:
    """The path Telegram posts to: the path of OPSTAP_WEBHOOK_URL, or /telegram."""
    path = urlsplit(webhook_url).path if webhook_url else ""
    return path if path and path != "/" else "/telegram"


def create_webhook_app(
    runtime: Runtime,
    application: Application[Any, Any, Any, Any, Any, Any],
    *,
    secret: str,
    path: str = "/telegram",
    webhook_url: str | None = None,
) -> Starlette:
    """The ASGI app. With `webhook_url`, the webhook is registered with Telegram at start."""
    if not secret:
        raise ValueError("a webhook secret is required")
    state = {"accepting": False}

    async def receive(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return PlainTextResponse("forbidden", status_code=403)
        if not state["accepting"]:
            return PlainTextResponse("shutting down", status_code=503)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return PlainTextResponse("too large", status_code=413)
        try:
            data = await request.json()
        except ValueError:
            return PlainTextResponse("not JSON", status_code=400)
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return PlainTextResponse("not an update", status_code=400)
        try:
            update = Update.de_json(data, application.bot)
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("refused a malformed update")
            return PlainTextResponse("malformed update", status_code=400)
        await application.update_queue.put(update)
        return Response(status_code=200)

    async def healthz(request: Request) -> Response:
        try:
            async with runtime.db.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError):
            log.warning("health check: the database does not answer")
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", "accepting": state["accepting"]})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with application:
            if application.post_init:
                await application.post_init(application)
            if webhook_url:
                await application.bot.set_webhook(
                    url=webhook_url, secret_token=secret, allowed_updates=ALLOWED_UPDATES
                )
            await application.start()
            state["accepting"] = True
            try:
                yield
            finally:
                state["accepting"] = False
                log.info("stopping: handling the updates already received")
                await application.stop()
        if application.post_shutdown:
            await application.post_shutdown(application)

    return Starlette(
        routes=[
            Route(path, receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def serve(runtime: Runtime) -> None:
    """Runs the webhook app with uvicorn until SIGTERM or SIGINT (`opstap run --webhook`)."""
    import uvicorn

    from bot.telegram import build_application

    settings = runtime.settings
    assert settings.webhook_secret is not None
    url = str(settings.webhook_url) if settings.webhook_url else None
    application = build_application(runtime, webhook=True)
    app = create_webhook_app(
        runtime,
        application,
        secret=settings.webhook_secret.get_secret_value(),
        path=webhook_path(url),
        webhook_url=url,
    )
    config = uvicorn.Config(
        app,
        host=settings.listen,
        port=settings.port,
        proxy_headers=True,
        timeout_graceful_shutdown=30,
        access_log=False,
        log_config=None,
    )
    uvicorn.Server(config).run()
