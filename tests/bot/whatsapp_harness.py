"""The real WhatsApp adapter on the fake Graph API, in process: notifications are posted
to its ASGI routes (signature checked), the outbox dispatcher runs when a test says so."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette

from bot.config import WhatsAppSettings
from bot.ratelimit import Limits, SendBudget
from bot.runtime import Runtime
from bot.scheduler import Dispatcher, DispatchResult
from bot.whatsapp import CHANNEL, WhatsAppAdapter, WhatsAppSender, routes, template_definitions
from tests.fake_whatsapp import (
    API_URL,
    APP_SECRET,
    PHONE_ID,
    TOKEN,
    VERIFY_TOKEN,
    FakeGraph,
    Sent,
    sign,
)

SETTINGS = WhatsAppSettings(
    token=TOKEN,
    phone_id=PHONE_ID,
    app_secret=APP_SECRET,
    verify_token=VERIFY_TOKEN,
    api_url=API_URL,
)


def fake_graph(runtime: Runtime) -> FakeGraph:
    """A fake Graph API that knows Opstap's templates and follows the runtime's clock."""
    graph = FakeGraph(templates=template_definitions(runtime.engine.translator))
    graph.now = runtime.engine.clock
    return graph


@dataclass
class WhatsAppHarness:
    runtime: Runtime
    graph: FakeGraph
    adapter: WhatsAppAdapter
    client: httpx.AsyncClient
    dispatcher: Dispatcher

    async def post(self, notification: dict[str, Any], *, signed: bool = True) -> httpx.Response:
        body = json.dumps(notification).encode()
        headers = {"content-type": "application/json"}
        if signed:
            headers["X-Hub-Signature-256"] = sign(body)
        return await self.client.post("/whatsapp", content=body, headers=headers)

    async def feed(self, notification: dict[str, Any]) -> list[Sent]:
        """Posts a signed notification; returns what the bot sent meanwhile."""
        start = len(self.graph.sent)
        response = await self.post(notification)
        assert response.status_code == 200, response.text
        await self.adapter.drain()  # handled after the 200, from the durable inbox
        assert self.graph.refused == [], self.graph.refused
        return self.graph.sent[start:]

    async def say(self, wa_id: str, text: str) -> list[Sent]:
        return await self.feed(self.graph.text(wa_id, text))

    async def choose(self, wa_id: str, label: str) -> list[Sent]:
        return await self.feed(self.graph.choose(wa_id, label))

    async def statuses(self) -> None:
        """Delivers the status reports the fake Graph API has queued."""
        notification = self.graph.status_notification()
        if notification is not None:
            assert (await self.post(notification)).status_code == 200
            await self.adapter.drain()

    async def dispatch(self) -> tuple[DispatchResult, list[Sent]]:
        start = len(self.graph.sent)
        result = await self.dispatcher.run_once()
        return result, self.graph.sent[start:]


@asynccontextmanager
async def running_whatsapp(runtime: Runtime, graph: FakeGraph) -> AsyncIterator[WhatsAppHarness]:
    # The pacing is tested with a fake clock (tests/bot/test_ratelimit.py); here it would
    # only make the tests wait in real time.
    budget = SendBudget(Limits.lifted())
    adapter = WhatsAppAdapter(runtime, SETTINGS, transport=graph.transport, budget=budget)
    sender = WhatsAppSender(adapter)
    runtime.senders[CHANNEL] = sender
    app = Starlette(routes=routes(adapter, {"accepting": True}))
    dispatcher = Dispatcher(
        uow_factory=runtime.uow,
        sender=sender,
        clock=runtime.engine.clock,
        translator=runtime.engine.translator,
        policy=runtime.nudge_policy(),
        senders={CHANNEL: sender},
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://opstap.test"
    ) as client:
        yield WhatsAppHarness(runtime, graph, adapter, client, dispatcher)
    await adapter.close()
