"""Small PNG charts (Pillow): horizontal bars with short labels.

Labels are kept short and in Latin script (theme numbers, week numbers); the words go in the
message beside the chart, where right-to-left text is shown correctly.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

BAR_COLOURS = ("#2a9d8f", "#e9c46a", "#f4a261", "#e76f51", "#264653", "#8ab17d")


def bar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    maximum: float,
    title: str = "",
    width: int = 640,
) -> bytes:
    """Draws one horizontal bar per (label, value), scaled to `maximum`; returns PNG bytes."""
    font = ImageFont.load_default(size=18)
    row, top, left = 44, 50 if title else 16, 130
    height = top + row * len(bars) + 16
    image = Image.new("RGB", (width, max(height, 80)), "white")
    draw = ImageDraw.Draw(image)
    if title:
        draw.text((16, 14), title, fill="#222222", font=font)
    span = width - left - 70
    for index, (label, value) in enumerate(bars):
        y = top + index * row
        draw.text((16, y + 8), label[:12], fill="#222222", font=font)
        length = 0 if maximum <= 0 else round(span * max(0.0, min(value, maximum)) / maximum)
        draw.rectangle(
            (left, y + 4, left + max(length, 2), y + row - 8),
            fill=BAR_COLOURS[index % len(BAR_COLOURS)],
        )
        shown = f"{value:g}"
        draw.text((left + max(length, 2) + 8, y + 8), shown, fill="#222222", font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
