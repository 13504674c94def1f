"""`make bench`: runs every benchmark, prints one table, writes one JSON file.

python -m bench.run                 # the full run (10 to 20 minutes on 2 cores)
python -m bench.run --scale tiny    # a smoke test, as in CI: figures are not judged
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import atrisk, dispatcher, memory, nudges, update_cost, workers
from bench.common import Figure, table
from bot.runtime import tune_collector

SCALES = {
    "tiny": {
        "learners": 2,
        "memory_learners": 50,
        "dispatch_messages": 90,
        "worker_messages": 90,
        "worker_replies": 120,
        "planning_learners": 500,
        "ceiling_messages": 200,
        "atrisk_learners": 200,
        "atrisk_large": 1_000,
    },
    "full": {
        "learners": 40,
        "memory_learners": 10_000,
        "dispatch_messages": 1_800,
        "worker_messages": 1_800,
        "worker_replies": 600,
        "planning_learners": 100_000,
        "ceiling_messages": 5_000,
        "atrisk_learners": 10_000,
        "atrisk_large": 100_000,
    },
}


async def run_all(scale: str, postgres: str | None = None) -> list[Figure]:
    sizes = SCALES[scale]
    figures: list[Figure] = []
    figures += await update_cost.run(learners=sizes["learners"])
    figures += await memory.run(learners=sizes["memory_learners"])
    figures += await dispatcher.run(messages=int(sizes["dispatch_messages"]))
    figures += await workers.run(postgres=postgres, messages=int(sizes["worker_messages"]))
    figures += await workers.replies(postgres=postgres, learners=int(sizes["worker_replies"]))
    scheduler = await nudges.run(
        learners=int(sizes["planning_learners"]), messages=int(sizes["ceiling_messages"])
    )
    figures += [
        Figure(
            "dispatcher",
            "ceiling, sending stubbed / 30 per s",
            scheduler["ceiling_over_telegram_rate"],
            "x",
            20,
            "higher",
        ),
        Figure(
            "planning",
            f"a week (7 daily rounds) for {scheduler['learners']:,.0f} learners (CPU)",
            scheduler["planning_cpu_seconds"],
            "s",
            30,
        ),
        Figure("planning", "wall time", scheduler["planning_seconds"], "s", better="none"),
        Figure(
            "planning",
            "the week after, the planner running on (CPU)",
            scheduler["next_week_cpu_seconds"],
            "s",
            better="none",
        ),
        Figure("planning", "nudges and notices planned", scheduler["planned"], "", better="none"),
        Figure("planning", "planned again (duplicates)", scheduler["planned_again"], "", 0),
        # "A few minutes" of sending at 30/s (PRODUCT.md): 3 minutes, 5,400 messages.
        Figure(
            "planning",
            "peak messages due in one second",
            scheduler["peak_due_per_second"],
            "",
            180 * 30,
        ),
        Figure(
            "planning",
            "peak messages to one chat in one second (a digest counts once)",
            scheduler["peak_per_chat_second"],
            "",
            1,
        ),
        Figure(
            "planning",
            f"coach notices planned, sent as {scheduler['digests']:,.0f} digests",
            scheduler["coach_notices"],
            "",
            better="none",
        ),
        Figure("planning", "nudges due in quiet hours", scheduler["due_in_quiet_hours"], "", 0),
    ]
    figures += await nudges.postgres_figures(
        postgres=postgres, learners=int(sizes["planning_learners"])
    )
    figures += await atrisk.run(
        learners=int(sizes["atrisk_learners"]),
        large=int(sizes["atrisk_large"]),
        postgres=postgres,
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run", description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--json", type=Path, default=Path("bench/results.json"))
    parser.add_argument(
        "--postgres",
        help="a PostgreSQL URL for the two-worker, planning and /atrisk runs (tables replaced)",
    )
    args = parser.parse_args(argv)
    tune_collector()  # the in-process benchmarks measure the process as `opstap run` runs
    started = time.perf_counter()
    figures = asyncio.run(run_all(args.scale, args.postgres))
    elapsed = time.perf_counter() - started
    print(table(figures))
    print(f"\n{args.scale} run in {elapsed:.0f} s on {platform.processor() or platform.machine()}")
    report = {
        "scale": args.scale,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "seconds": round(elapsed, 1),
        "figures": [f.as_dict() for f in figures],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
