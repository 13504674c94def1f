"""What the scheduler keeps besides the outbox: holidays a coach enters for the programme, and
when the planner next needs to look at each learner."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import DDL, ForeignKey, String, event
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow


class ProgrammeHoliday(Base):
    """A day without nudges for the whole programme (a school holiday, a closing day)."""

    __tablename__ = "programme_holidays"

    day: Mapped[date] = mapped_column(unique=True)
    id: Mapped[int] = mapped_column(primary_key=True, init=False)
    name: Mapped[str | None] = mapped_column(String(80), default=None)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default_factory=utcnow)


class PlanningState(Base):
    """When the daily planning round next needs to look at a learner.

    The planner writes `plan_on`, the first programme day on which planning this learner
    again can give anything (found by planning the days ahead with what it knows), so a
    round reads only the learners whose day came. Whatever the planner reads changing makes
    the row due again (`plan_on` NULL, `version` + 1), in the same statement, by the triggers
    below: a signal, the learner's row (seen, status, consent), their preferences, their
    group, a planned message that will not go, a programme holiday. A learner without a row
    is due. The planner writes its day only where the version is still the one it read, so a
    change during a round is never lost.
    """

    __tablename__ = "planning_states"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    plan_on: Mapped[date | None] = mapped_column(default=None)
    version: Mapped[int] = mapped_column(default=0, server_default="0")


class PlanningRun(Base):
    """The last planning round that finished (one row): its programme day and the
    fingerprint of what the planning days depend on (`flows.nudges.fingerprint`). A process
    that starts, or takes over the lease, plans every learner only when the fingerprint
    changed; otherwise it goes on with the daily rounds, and a day already planned is not
    planned again."""

    __tablename__ = "planning_runs"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    planned_on: Mapped[date]
    fingerprint: Mapped[str] = mapped_column(String(64))
    finished_at: Mapped[datetime]


#: What makes a learner due for planning: (table, events, the column naming the learner,
#: an SQL condition on NEW or None). Migration 0024 creates the same triggers.
PLANNING_INPUTS: tuple[tuple[str, str, str, str | None], ...] = (
    ("signals", "INSERT", "user_id", None),
    ("users", "UPDATE OF last_seen_at, status, consent_version, role", "id", None),
    ("preferences", "INSERT", "user_id", None),
    ("preferences", "UPDATE", "user_id", None),
    ("memberships", "INSERT", "learner_id", None),
    ("memberships", "UPDATE", "learner_id", None),
    (
        "outbox",
        "UPDATE OF status",
        "user_id",
        "NEW.status NOT IN ('pending', 'claimed', 'sent')",
    ),
)
_DUE = (
    "INSERT INTO planning_states (user_id, plan_on, version) VALUES ({id}, NULL, 1) "
    "ON CONFLICT (user_id) DO UPDATE SET plan_on = NULL, version = planning_states.version + 1"
)
_ALL_DUE = "UPDATE planning_states SET plan_on = NULL, version = version + 1"


def planning_triggers(dialect: str) -> list[str]:
    """The statements that create the triggers of `PlanningState`, for one dialect (again
    without harm: `create_all` of a few tables runs them once more)."""
    statements: list[str] = []
    for n, (table, events, column, condition) in enumerate(PLANNING_INPUTS):
        name = f"planning_due_{table}_{n}"
        if dialect == "sqlite":
            when = f" WHEN {condition}" if condition else ""
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {events} ON {table} "
                f"FOR EACH ROW{when} BEGIN {_DUE.format(id=f'NEW.{column}')}; END"
            )
        else:
            when = f" WHEN ({condition})" if condition else ""
            statements += [
                f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN {_DUE.format(id=f'NEW.{column}')}; RETURN NULL; END $$",
                f"CREATE OR REPLACE TRIGGER {name} AFTER {events} ON {table} "
                f"FOR EACH ROW{when} EXECUTE FUNCTION {name}()",
            ]
    if dialect == "sqlite":
        statements += [
            f"CREATE TRIGGER IF NOT EXISTS planning_due_holidays_{event} AFTER {event} "
            f"ON programme_holidays FOR EACH ROW BEGIN {_ALL_DUE}; END"
            for event in ("INSERT", "DELETE")
        ]
    else:
        statements += [
            "CREATE OR REPLACE FUNCTION planning_due_holidays() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN {_ALL_DUE}; RETURN NULL; END $$",
            "CREATE OR REPLACE TRIGGER planning_due_holidays AFTER INSERT OR DELETE "
            "ON programme_holidays "
            "FOR EACH STATEMENT EXECUTE FUNCTION planning_due_holidays()",
        ]
    return statements


for _dialect in ("sqlite", "postgresql"):
    for _statement in planning_triggers(_dialect):
        event.listen(Base.metadata, "after_create", DDL(_statement).execute_if(dialect=_dialect))
