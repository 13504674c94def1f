"""Webhook mode: an ASGI app (Starlette, served by uvicorn) in front of the Application.

- `POST <path>` takes an update from Telegram. The header X-Telegram-Bot-Api-Secret-Token must
  equal OPSTAP_WEBHOOK_SECRET (compared in constant time), else 403. A body over 1 MB is
  refused (413) on its Content-Length, or as soon as that much has been read. The update is
  stored in the durable inbox and only then answered 200 (503 when the database cannot store
  it: Telegram sends it again); the Application handles it from there (deduplicated by
  update_id in the database, so a retry or a second worker never handles it twice). Updates
  stored before a crash are handled at the next start.
- `GET /healthz` answers 200 when the database answers, else 503.
- Shutdown is graceful: new updates get 503 (Telegram sends them again later, perhaps to
  another worker) and `Application.stop()` handles every update already accepted before the
  process ends. uvicorn starts the shutdown on SIGTERM or SIGINT.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram.ext import Application

from bot.config import ConfigError
from bot.http import TooLarge, healthz, read_body
from bot.runtime import Runtime
from bot.telegram import ALLOWED_UPDATES, accept, accept_pending, drain, raw_user_key

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


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
        try:
            body = await read_body(request)
        except TooLarge:
            return PlainTextResponse("too large", status_code=413)
        try:
            data = json.loads(body)
        except ValueError:
            return PlainTextResponse("not JSON", status_code=400)
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return PlainTextResponse("not an update", status_code=400)
        update_id = data["update_id"]
        try:
            new = await application.bot_data.inbox.store([(update_id, raw_user_key(data), data)])
        except (SQLAlchemyError, OSError) as error:
            log.error("could not store update %d (%s)", update_id, type(error).__name__)
            return PlainTextResponse("try again later", status_code=503)
        if update_id in new:
            await accept(application, update_id, data)
        return Response(status_code=200)

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
            await accept_pending(application)
            state["accepting"] = True
            try:
                yield
            finally:
                state["accepting"] = False
                log.info("stopping: handling the updates already received")
                await drain(application)
                await application.stop()
        if application.post_shutdown:
            await application.post_shutdown(application)

    return Starlette(
        routes=[
            Route(path, receive, methods=["POST"]),
            healthz(runtime, state),
        ],
        lifespan=lifespan,
    )


def app_from_settings(
    runtime: Runtime, application: Application[Any, Any, Any, Any, Any, Any]
) -> Starlette:
    """The Telegram webhook app with the secret, path and URL the settings give."""
    settings = runtime.settings
    if settings.webhook_secret is None:  # checked in cmd_run
        raise ConfigError("OPSTAP_WEBHOOK_SECRET is not set: it is needed for --webhook.")
    url = str(settings.webhook_url) if settings.webhook_url else None
    return create_webhook_app(
        runtime,
        application,
        secret=settings.webhook_secret.get_secret_value(),
        path=webhook_path(url),
        webhook_url=url,
    )


def serve(runtime: Runtime) -> None:
    """Runs the webhook app with uvicorn until SIGTERM or SIGINT (`opstap run --webhook`)."""
    import uvicorn

    from bot.telegram import build_application

    settings = runtime.settings
    app = app_from_settings(runtime, build_application(runtime))
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
