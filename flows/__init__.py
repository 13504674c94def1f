"""Conversation logic. Knows nothing about Telegram: adapters feed it events."""

from __future__ import annotations

from flows.engine import Context, Engine, Flow, FlowConfig, build_flows
from flows.onboarding import Help, Language, Onboarding
from flows.preferences import Pause, Settings


def default_flows() -> list[Flow]:
    """Every installed flow, in the order their commands appear in /help."""
    return [Onboarding(), Language(), Help(), Settings(), Pause()]


__all__ = ["Context", "Engine", "Flow", "FlowConfig", "build_flows", "default_flows"]
