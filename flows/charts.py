"""Charts as PNG, drawn with matplotlib (Agg, no display): a title, one labelled bar per item,
an axis with its scale and unit, numbers written the way the reader's language writes them
(Babel: "2,7" in Dutch), and colours that keep one meaning (see MEANINGS).

Arabic text is shaped and laid out right to left by matplotlib itself (libraqm, since 3.11:
looked at, see tests/flows/test_charts.py); right-to-left charts also grow their bars from the
right and put their labels and title on the right. A chart is cached by its content: the same
numbers and words give the same file, stored per user under `charts/u<id>/`, which /delete
erases with the user's other folders.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from babel.numbers import format_decimal

from storage.files import FileStore

#: Raise when the drawing changes, so cached charts are drawn again.
VERSION = 1
#: One colour per meaning, the same in every chart.
MEANINGS: dict[str, str] = {
    "count": "#2a7f8f",  # a plain number of things (actions, learners)
    "none": "#b8b8b8",  # nothing yet
    "low": "#e9a23b",  # a start: one piece, a beginner level
    "middle": "#7fb0d6",  # on the way (doorstroom)
    "high": "#2e8b57",  # enough, or the exit level (uitstroom)
}
INK = "#222222"
GRID = "#dddddd"
#: Format characters that only steer text direction in a chat; a picture has no use for them.
_STEERING = dict.fromkeys(map(ord, "\u2066\u2067\u2068\u2069\u200e\u200f\u202a\u202b\u202c"))
_LOCK = threading.Lock()  # pyplot's state is global: one chart at a time


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value, what its colour means, and the value as shown (when a
    number alone does not say it, e.g. "2,7")."""

    label: str
    value: float
    meaning: str = "count"


@dataclass(frozen=True)
class Chart:
    """What a chart shows, in the reader's words and language."""

    title: str
    bars: Sequence[Bar]
    #: The axis of the values: what is counted or measured, and its unit.
    axis: str
    language: str
    maximum: float
    horizontal: bool = True
    rtl: bool = False
    #: Whole numbers only on the axis (counts).
    whole: bool = True
    #: Colour meanings explained under the chart: (meaning, words).
    legend: Sequence[tuple[str, str]] = field(default_factory=tuple)
    #: Where the value axis has its marks (the quick scan: 1, 2, 3, 4); else chosen.
    ticks: Sequence[float] = field(default_factory=tuple)

    def key(self) -> str:
        """A digest of everything drawn: the cache key."""
        data = json.dumps([VERSION, asdict(self)], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


def shaped(text: str) -> str:
    """Text as matplotlib draws it: without the direction marks meant for chat apps.
    matplotlib (3.11 and later, with libraqm) joins Arabic letters and orders right-to-left
    runs itself, so the text stays in logical order (shaping it twice would undo it)."""
    return text.translate(_STEERING)


def number(value: float, language: str) -> str:
    """A value as the language writes it, with at most one decimal ("2,7")."""
    return format_decimal(round(value, 1), format="#,##0.#", locale=language)


def short(label: str, limit: int = 28) -> str:
    """A bar label short enough to fit beside the bar, cut at a word."""
    from flows.i18n import shorten

    return shorten(label, limit)


def render(chart: Chart) -> bytes:
    """Draws the chart; returns PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.axis import Axis
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    rtl, language = chart.rtl, chart.language
    labels = [shaped(short(bar.label)) for bar in chart.bars]
    values = [bar.value for bar in chart.bars]
    colours = [MEANINGS.get(bar.meaning, MEANINGS["count"]) for bar in chart.bars]
    rows = max(len(chart.bars), 1)
    with _LOCK:
        if chart.horizontal:
            figure, axes = pyplot.subplots(
                figsize=(7.2, 1.3 + 0.5 * rows + 0.3 * bool(chart.legend))
            )
            positions = list(range(rows))[::-1]  # the first bar on top, as in the list
            axes.barh(positions, values, color=colours, height=0.62)
            axes.set_yticks(positions, labels)
            axes.set_xlim(0, chart.maximum * 1.12)
            value_axis: Axis = axes.xaxis
            axes.set_xlabel(shaped(chart.axis), color=INK)
            axes.grid(axis="x", color=GRID, linewidth=0.8)
            if rtl:
                axes.invert_xaxis()
                axes.yaxis.tick_right()
            for position, value in zip(positions, values, strict=True):
                axes.annotate(
                    number(value, language),
                    (value, position),
                    xytext=(-4 if rtl else 4, 0),
                    textcoords="offset points",
                    ha="right" if rtl else "left",
                    va="center",
                    color=INK,
                    fontsize=10,
                )
        else:
            figure, axes = pyplot.subplots(figsize=(7.2, 3.8))
            positions = list(range(rows))
            if rtl:
                positions = positions[::-1]  # time runs from right to left
            axes.bar(positions, values, color=colours, width=0.62)
            axes.set_xticks(positions, labels)
            axes.set_ylim(0, chart.maximum * 1.15)
            value_axis = axes.yaxis
            axes.set_ylabel(shaped(chart.axis), color=INK)
            axes.grid(axis="y", color=GRID, linewidth=0.8)
            if rtl:
                axes.yaxis.tick_right()
                axes.yaxis.set_label_position("right")
            for position, value in zip(positions, values, strict=True):
                axes.annotate(
                    number(value, language),
                    (position, value),
                    xytext=(0, 3),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    color=INK,
                    fontsize=10,
                )
        if chart.ticks:
            value_axis.set_ticks(list(chart.ticks))
        elif chart.whole:
            value_axis.set_major_locator(MaxNLocator(integer=True))
        value_axis.set_major_formatter(FuncFormatter(lambda v, _: number(v, language)))
        axes.set_axisbelow(True)
        for side in ("top", "right", "left") if not rtl else ("top", "left", "right"):
            axes.spines[side].set_visible(False)
        axes.tick_params(colors=INK, labelsize=10)
        figure.suptitle(
            shaped(chart.title),
            x=0.98 if rtl else 0.02,
            ha="right" if rtl else "left",
            color=INK,
            fontsize=13,
            fontweight="bold",
        )
        if chart.legend:
            handles = [
                Patch(color=MEANINGS[meaning], label=shaped(words))
                for meaning, words in chart.legend
            ]
            figure.legend(
                handles=handles,
                loc="lower center",
                ncol=len(handles),
                frameon=False,
                fontsize=9,
            )
            figure.tight_layout(rect=(0, 0.07, 1, 1))
        else:
            figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
        pyplot.close(figure)
    return buffer.getvalue()


def chart_file(files: FileStore, chart: Chart, *, owner_id: int) -> Path:
    """The chart's PNG in the file store, drawn only when these contents were not drawn yet
    for this user."""
    path = files.path(f"charts/u{owner_id}/{chart.key()}.png")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(".part")
        part.write_bytes(render(chart))
        part.replace(path)
    return path


__all__ = ["MEANINGS", "Bar", "Chart", "chart_file", "number", "render", "shaped"]
