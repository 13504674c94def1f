"""Conversation logic. Knows nothing about Telegram: adapters feed it events."""

from __future__ import annotations

from flows.engine import Context, Engine, Flow, FlowConfig, build_flows
from flows.evidence import EvidenceFlow
from flows.export import ExportFlow
from flows.goals import CheckinFlow, GoalFlow
from flows.holidays import Holidays
from flows.intake import Intake
from flows.onboarding import AboutEvc, Help, Language, Onboarding
from flows.portfolio import PortfolioFlow
from flows.preferences import Pause, Settings
from flows.privacy import privacy_flows
from flows.quickscan import QuickScan
from flows.reflect import ReflectFlow
from flows.transcripts import HeardFlow


def default_flows() -> list[Flow]:
    """Every installed flow, in the order their commands appear in /help and their buttons in
    the main menu (the weekly rhythm first, help last)."""
    from flows.coach import coach_flows  # coach flows import the learner flows' sections

    return [
        Onboarding(),
        Language(),
        Intake(),
        QuickScan(),
        GoalFlow(),
        CheckinFlow(),
        ReflectFlow(),
        EvidenceFlow(),
        PortfolioFlow(),
        ExportFlow(),
        Settings(),
        Pause(),
        *privacy_flows(),
        *coach_flows(),
        Holidays(),
        AboutEvc(),
        HeardFlow(),
        Help(),
    ]


__all__ = ["Context", "Engine", "Flow", "FlowConfig", "build_flows", "default_flows"]
