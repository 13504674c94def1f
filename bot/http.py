"""What the webhook servers of every channel share: a capped request body and /healthz."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.runtime import Runtime

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1_000_000


class TooLarge(Exception):
    """The request body is over the limit."""


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused on a Content-Length over `limit` or once more than that was read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge
    return bytes(body)


def healthz(runtime: Runtime, state: dict[str, bool]) -> Route:
    """`GET /healthz`: 200 when the database answers (with whether updates are taken), else
    503."""

    async def check(request: Request) -> Response:
        try:
            async with runtime.db.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError):
            log.warning("health check: the database does not answer")
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", "accepting": state["accepting"]})

    return Route("/healthz", check, methods=["GET"])
