"""The coach workspace: becoming a coach, groups, who is slipping away and why, the learner
view with feedback, sessions, group questions, leaving and statistics."""

from __future__ import annotations

from flows.coach.groups import Groups, Invite, Join, NewGroup, Sharing
from flows.coach.invites import BecomeCoach, CoachMenu, create_invite
from flows.coach.learner import LearnerView
from flows.coach.leaving import Stop
from flows.coach.prompts import Answer, Prompt
from flows.coach.relay import CoachMessage, LearnerReply, Listen
from flows.coach.risk import AtRisk
from flows.coach.sessions import Sessions
from flows.coach.stats import Stats
from flows.engine import Flow


def coach_flows() -> list[Flow]:
    """The flows of the coach workspace, coach commands first."""
    return [
        CoachMenu(),
        BecomeCoach(),
        AtRisk(),
        LearnerView(),
        NewGroup(),
        Groups(),
        Invite(),
        Sessions(),
        Prompt(),
        Stats(),
        CoachMessage(),
        Listen(),
        Join(),
        Sharing(),
        LearnerReply(),
        Answer(),
        Stop(),
    ]


__all__ = ["coach_flows", "create_invite"]
