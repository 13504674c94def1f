"""Conversation logic. Knows nothing about Telegram: adapters feed it events."""

from __future__ import annotations

from flows.engine import Context, Engine, Flow, FlowConfig, build_flows
from flows.evidence import EvidenceFlow
from flows.export import ExportFlow
from flows.onboarding import Help, Language, Onboarding
from flows.portfolio import PortfolioFlow


def default_flows() -> list[Flow]:
    """Every installed flow, in the order their commands appear in /help."""
    return [Onboarding(), Language(), Help(), EvidenceFlow(), PortfolioFlow(), ExportFlow()]


__all__ = ["Context", "Engine", "Flow", "FlowConfig", "build_flows", "default_flows"]
