"""Conversation logic. Knows nothing about Telegram: adapters feed it events."""

from __future__ import annotations

from flows.engine import Context, Engine, Flow, FlowConfig, build_flows
from flows.onboarding import Help, Language, Onboarding


def default_flows() -> list[Flow]:
    """Every installed flow, in the order their commands appear in /help."""
    from flows.coach import coach_flows

    return [Onboarding(), Language(), Help(), *coach_flows()]


__all__ = ["Context", "Engine", "Flow", "FlowConfig", "build_flows", "default_flows"]
