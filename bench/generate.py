"""Synthetic programmes for benchmarks: learners in groups of ten with their coaches,
preferences, and months of signals (goals set, reached, missed; check-ins; sessions;
reflections; barriers), inserted in bulk.

    python -m bench.generate --url sqlite+aiosqlite:///data/bench.db --learners 10000
"""

from __future__ import annotations

import argparse
import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from flows import signals
from storage.db import create_engine
from storage.models import Group, Membership, Preferences, Signal, User

LANGUAGES = ("nl", "fr", "en", "ar", "tr")
CHUNK = 5_000


async def _insert(connection: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        await connection.execute(insert(table), rows[start : start + CHUNK])


async def generate(
    url: str,
    *,
    learners: int,
    coaches: int = 1,
    weeks: int = 8,
    now: datetime | None = None,
    seed: int = 7,
) -> dict[str, int]:
    """Fills an empty database (schema already created); returns the row counts."""
    rng = random.Random(seed)
    now = now or datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    engine = create_engine(url)
    counts: dict[str, int] = {}
    try:
        async with engine.begin() as connection:
            coach_rows = [
                {
                    "id": index + 1,
                    "channel": "telegram",
                    "external_id": f"c{index}",
                    "chat_id": f"c{index}",
                    "language": "nl",
                    "language_chosen": True,
                    "display_name": f"Coach {index}",
                    "role": "coach",
                    "status": "active",
                    "consent_version": 1,
                    "created_at": now - timedelta(weeks=weeks + 1),
                }
                for index in range(coaches)
            ]
            await _insert(connection, User.__table__, coach_rows)
            first = coaches + 1
            users, groups, members, prefs, sigs = [], [], [], [], []
            for index in range(learners):
                user_id = first + index
                group_id = index // 10 + 1
                if index % 10 == 0:
                    groups.append(
                        {
                            "id": group_id,
                            "name": f"Leergroep {group_id}",
                            "coach_id": 1 + (group_id - 1) % coaches,
                            "join_code": f"g{group_id:07d}",
                            "session_weekday": rng.choice((1, 3)),
                            "session_time": "18:30",
                            "created_at": now - timedelta(weeks=weeks + 1),
                        }
                    )
                silent_days = rng.choice((0, 1, 2, 3, 5, 8, 10, 15, 22, 30))
                users.append(
                    {
                        "id": user_id,
                        "channel": "telegram",
                        "external_id": str(100_000 + index),
                        "chat_id": str(100_000 + index),
                        "language": rng.choice(LANGUAGES),
                        "language_chosen": True,
                        "display_name": f"Learner {index}",
                        "role": "learner",
                        "status": "unreachable" if rng.random() < 0.01 else "active",
                        "consent_version": 1,
                        "created_at": now - timedelta(weeks=weeks),
                        "last_seen_at": now - timedelta(days=silent_days, hours=rng.random()),
                    }
                )
                members.append(
                    {
                        "group_id": group_id,
                        "learner_id": user_id,
                        "joined_at": now - timedelta(weeks=weeks),
                        "share_goals": True,
                        "share_reflections": rng.random() < 0.7,
                        "share_evidence": rng.random() < 0.7,
                    }
                )
                prefs.append(
                    {
                        "user_id": user_id,
                        "goal_weekday": rng.choice((0, 1, 3)),
                        "preferred_time": rng.choice(("08:30", "12:30", "18:00", "20:00")),
                        "quiet_start": "21:00",
                        "quiet_end": "08:00",
                        "days_off": rng.sample(range(7), rng.choice((0, 1, 2))),
                        "pace": "light" if rng.random() < 0.2 else "normal",
                        "paused_indefinitely": False,
                    }
                )
                if rng.random() < 0.3:
                    barrier = rng.choice(signals.BARRIERS)
                    sigs.append(
                        _signal(
                            user_id, signals.BARRIER, now - timedelta(weeks=weeks), barrier=barrier
                        )
                    )
                for week in range(weeks, 0, -1):
                    start = now - timedelta(weeks=week)
                    if start > now - timedelta(days=silent_days):
                        break
                    sigs.append(_signal(user_id, signals.GOAL_SET, start))
                    outcome = rng.choices(
                        (signals.GOAL_REACHED, signals.GOAL_PARTLY, signals.GOAL_MISSED),
                        weights=(5, 2, 3),
                    )[0]
                    if rng.random() < 0.15:
                        sigs.append(
                            _signal(user_id, signals.CHECKIN_NO_TIME, start + timedelta(days=3))
                        )
                    sigs.append(_signal(user_id, outcome, start + timedelta(days=6)))
                    if outcome == signals.GOAL_REACHED and rng.random() < 0.5:
                        sigs.append(
                            _signal(user_id, signals.REFLECTION_SAVED, start + timedelta(days=6))
                        )
                    if week % 2 == 0:
                        kind = (
                            signals.SESSION_ABSENT
                            if rng.random() < 0.2
                            else signals.SESSION_PRESENT
                        )
                        sigs.append(_signal(user_id, kind, start + timedelta(days=1)))
            await _insert(connection, User.__table__, users)
            await _insert(connection, Group.__table__, groups)
            await _insert(connection, Membership.__table__, members)
            await _insert(connection, Preferences.__table__, prefs)
            await _insert(connection, Signal.__table__, sigs)
            counts = {
                "coaches": coaches,
                "learners": learners,
                "groups": len(groups),
                "signals": len(sigs),
            }
    finally:
        await engine.dispose()
    return counts


def _signal(user_id: int, kind: str, at: datetime, **details: Any) -> dict[str, Any]:
    return {"user_id": user_id, "kind": kind, "at": at, "details": details}


def main() -> None:
    from tests.conftest import reset_schema

    parser = argparse.ArgumentParser(prog="bench.generate", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--coaches", type=int, default=1)
    args = parser.parse_args()

    async def go() -> None:
        await reset_schema(args.url)
        print(await generate(args.url, learners=args.learners, coaches=args.coaches))

    asyncio.run(go())


if __name__ == "__main__":
    main()
