"""Charts as PNG, drawn with matplotlib (Agg, no display): a title, one labelled bar per item,
an axis with its scale and unit, numbers written the way the reader's language writes them
(Babel: "2,7" in Dutch), and colours that keep one meaning (see MEANINGS).

Arabic text is shaped and laid out right to left by matplotlib itself (libraqm, since 3.11),
directional isolates included, so texts go in as they are, in logical order (python-bidi and
arabic-reshaper would shape them a second time and undo it). Right-to-left charts also grow
their bars from the right and put their labels and title on the right.

A chart is cached by its content: the same numbers and words give the same file, stored per
user under `charts/u<id>/`, which /delete erases with the user's other folders. The QR flyer
(a PNG and a one-page PDF) is drawn here too, under `qrcodes/u<id>/`.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal

from storage.files import FileStore

#: Raise when the drawing changes, so cached charts are drawn again.
VERSION = 2
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
    labels = [short(bar.label) for bar in chart.bars]
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
            axes.set_xlabel(chart.axis, color=INK)
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
            axes.set_ylabel(chart.axis, color=INK)
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
            chart.title,
            x=0.98 if rtl else 0.02,
            ha="right" if rtl else "left",
            color=INK,
            fontsize=13,
            fontweight="bold",
        )
        if chart.legend:
            handles = [
                Patch(color=MEANINGS[meaning], label=words) for meaning, words in chart.legend
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


#: PNGs drawn lately by this process, by their contents (numbers and words, nothing that names
#: a learner): learners at the same point get the same chart without drawing it again.
_DRAWN: OrderedDict[str, bytes] = OrderedDict()
DRAWN_KEPT = 64
_DRAWN_LOCK = threading.Lock()


def drawn(chart: Chart) -> bytes:
    """The chart's PNG, drawn unless the same contents were drawn lately."""
    key = chart.key()
    with _DRAWN_LOCK:
        png = _DRAWN.get(key)
        if png is not None:
            _DRAWN.move_to_end(key)
            return png
    png = render(chart)
    with _DRAWN_LOCK:
        _DRAWN[key] = png
        while len(_DRAWN) > DRAWN_KEPT:
            _DRAWN.popitem(last=False)
    return png


async def chart_file(files: FileStore, chart: Chart, *, owner_id: int) -> Path:
    """The chart's PNG in the file store, written (in a thread, not to hold up other users)
    only when these contents were not written yet for this user, and drawn only when they
    were not drawn lately for anyone."""
    path = files.path(f"charts/u{owner_id}/{chart.key()}.png")
    if not path.exists():
        await asyncio.to_thread(_write, path, lambda: drawn(chart))
    return path


def _write(path: Path, draw: Callable[[], bytes]) -> None:
    """Writes what `draw` makes to `path` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(f".{secrets.token_hex(4)}.part")
    part.write_bytes(draw())
    part.replace(path)


__all__ = [
    "MEANINGS",
    "Bar",
    "Chart",
    "Flyer",
    "FlyerCode",
    "chart_file",
    "drawn",
    "flyer_files",
    "number",
    "render",
    "render_flyer",
]


@dataclass(frozen=True)
class FlyerCode:
    """One QR code of a flyer: the channel it opens a chat in, its link, and what learners
    without a camera type instead."""

    channel: str  # as shown: "Telegram", "WhatsApp"
    link: str
    footer: str  # "No camera? Send this to ...: /start join_<code>"


@dataclass(frozen=True)
class Flyer:
    """A one-page flyer: a QR code per channel the bot runs on (the coach's own first), with
    the words around them, in the coach's language."""

    heading: str  # "Scan me to join"
    group: str  # the group's name
    details: str  # its day, time and place
    codes: tuple[FlyerCode, ...]
    rtl: bool = False

    def key(self) -> str:
        data = json.dumps([VERSION, asdict(self)], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(data.encode("utf-8")).hexdigest()[:32]


def _qr_matrix(link: str) -> list[list[int]]:
    import qrcode

    code = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(link)
    code.make(fit=True)
    return [[0 if cell else 1 for cell in row] for row in code.get_matrix()]


def _draw_code(figure: Any, code: FlyerCode, *, top: float, size: float, label: bool) -> None:
    """A QR code whose top edge is at `top` (a share of the page's height) and `size` high,
    centred, with the channel's name above it (when `label`) and under it what to type
    without a camera and the link."""
    width = size * 11.69 / 8.27  # the same length across the page as down it (A4)
    if label:
        figure.text(0.5, top + 0.012, code.channel, ha="center", fontsize=20, weight="bold")
    axes = figure.add_axes(((1 - width) / 2, top - size, width, size))
    axes.imshow(_qr_matrix(code.link), cmap="gray", interpolation="nearest", vmin=0, vmax=1)
    axes.set_axis_off()
    # The command learners type goes on a line of its own: the sentence stays within the
    # page, and a right-to-left one does not reorder the command's letters.
    sentence, command, typed = code.footer.partition("/start ")
    bottom = top - size
    figure.text(0.5, bottom - 0.025, sentence.strip(), ha="center", fontsize=13, color=INK)
    figure.text(0.5, bottom - 0.052, command + typed, ha="center", fontsize=13, color=INK)
    figure.text(0.5, bottom - 0.08, code.link, ha="center", fontsize=10, color="#555555")


def render_flyer(flyer: Flyer, *, format: str) -> bytes:
    """Draws the flyer on an A4 page, as "png" or "pdf": one large QR code, or one above the
    other with their channels' names when the bot runs on two."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    with _LOCK:
        figure = pyplot.figure(figsize=(8.27, 11.69))  # A4, portrait
        figure.text(0.5, 0.9, flyer.heading, ha="center", fontsize=34, weight="bold")
        figure.text(0.5, 0.84, flyer.group, ha="center", fontsize=24, color=INK)
        figure.text(0.5, 0.8, flyer.details, ha="center", fontsize=16, color=INK)
        if len(flyer.codes) == 1:
            _draw_code(figure, flyer.codes[0], top=0.76, size=0.52, label=False)
        else:  # (each still about 7 cm across: a phone reads it from a wall)
            for index, code in enumerate(flyer.codes[:2]):
                _draw_code(figure, code, top=0.72 - index * 0.38, size=0.23, label=True)
        buffer = io.BytesIO()
        figure.savefig(buffer, format=format, dpi=100, metadata={"Creator": None})
        pyplot.close(figure)
    return buffer.getvalue()


async def flyer_files(files: FileStore, flyer: Flyer, *, owner_id: int) -> tuple[Path, Path]:
    """The flyer as PNG and as PDF in the file store, drawn once per content."""
    paths = []
    for format in ("png", "pdf"):
        path = files.path(f"qrcodes/u{owner_id}/{flyer.key()}.{format}")
        if not path.exists():
            await asyncio.to_thread(_write, path, partial(render_flyer, flyer, format=format))
        paths.append(path)
    return paths[0], paths[1]
