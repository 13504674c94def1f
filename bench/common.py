"""Result records, the table printed at the end, and small measuring helpers."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure beside its target. `better` says which side of the target passes."""

    bench: str
    name: str
    value: float
    unit: str
    target: float | None = None
    better: str = "lower"  # lower | higher | none

    @property
    def verdict(self) -> str:
        if self.target is None or self.better == "none":
            return "-"
        ok = self.value <= self.target if self.better == "lower" else self.value >= self.target
        return "pass" if ok else "short"

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "verdict": self.verdict}


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of the values fall (nearest rank)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def table(figures: list[Figure]) -> str:
    """The figures as an aligned text table."""
    rows = [("benchmark", "figure", "value", "target", "verdict")]
    for f in figures:
        target = (
            "" if f.target is None else f"{'<=' if f.better == 'lower' else '>='} {f.target:g}"
        )
        rows.append((f.bench, f.name, f"{f.value:,.3f} {f.unit}".strip(), target, f.verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
