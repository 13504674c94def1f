"""Signals: what happened to or was said by a learner, recorded for the coach's risk view and
the contact timeline. Flows record them with `ctx.signal(KIND, **details)`."""

from __future__ import annotations

GOAL_SET = "goal_set"
GOAL_REACHED = "goal_reached"
GOAL_PARTLY = "goal_partly"
GOAL_MISSED = "goal_missed"
CHECKIN_NO_TIME = "checkin_no_time"
CHECKIN_STUCK = "checkin_stuck"
ASKED_FOR_COACH = "asked_for_coach"
REFLECTION_SAVED = "reflection_saved"
EVIDENCE_ADDED = "evidence_added"
SESSION_PRESENT = "session_present"
SESSION_ABSENT = "session_absent"
BARRIER = "barrier"  # details: {"barrier": one of BARRIERS}
BLOCKED_BOT = "blocked_bot"
NUDGE_SENT = "nudge_sent"
INACTIVE = "inactive"  # details: {"days": 14}
COACH_CONTACT = "coach_contact"  # details: {"how": "called" | "met" | "message"}
PAUSED = "paused"
RESUMED = "resumed"
LEFT = "left"  # details: {"reason": "<reason id>"}

#: Barrier ids the intake records (as BARRIER signals) and the coach's risk view names.
BARRIERS = (
    "time",  # little time
    "shifts",  # works shifts or irregular hours
    "work_family",  # work and family are hard to combine
    "distance",  # the place is far away
    "no_support_home",  # no support at home
    "no_support_employer",  # no support from the employer
    "cost",  # the cost
    "admission",  # admission rules, diplomas
    "language",  # Dutch is hard
    "health",  # health
    "fear",  # afraid it will be too hard, of failing
    "school_memories",  # bad memories of school
    "digital",  # computers and apps are hard
)
