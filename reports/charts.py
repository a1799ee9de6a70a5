"""Line charts as inline SVG geometry: series of numbers scaled to pixels, nothing else.

The templates draw what `line_chart` returns (polylines, ticks, a legend); every value
they label comes from the data. Missing points (None, NaN) break a line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from auditor.numbers import number

__all__ = ["Chart", "Line", "line_chart"]

PALETTE = ("#1565c0", "#c62828", "#2e7d32", "#b26a00", "#6a1b9a", "#00838f", "#5d4037", "#455a64")
WIDTH, HEIGHT = 560, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 12, 12, 28


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    color: str
    segments: tuple[str, ...]  # polyline "x,y x,y ..." pieces, split at missing points
    dots: tuple[tuple[float, float, float], ...]  # (x, y, value): hover targets
    last: float | None


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    y_label: str
    width: int
    height: int
    lines: tuple[Line, ...]
    y_ticks: tuple[tuple[float, str], ...]
    x_ticks: tuple[tuple[float, str], ...]
    log: bool

    @property
    def empty(self) -> bool:
        return not any(line.dots for line in self.lines)


def line_chart(
    title: str,
    x: Sequence[int],
    series: Mapping[str, Sequence[float | None]],
    *,
    y_label: str = "",
    log: bool = False,
) -> Chart:
    """Scale `series` (name -> one value per x) into a chart; `log` uses a log10 y axis
    (non-positive values are then missing)."""

    def usable(value: float | None) -> bool:
        return value is not None and math.isfinite(value) and (value > 0 or not log)

    values = [v for points in series.values() for v in points if usable(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if log:
        low, high = math.log10(low), math.log10(high)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    pad = (high - low) * 0.05
    low, high = low - pad, high + pad
    first, last = (min(x), max(x)) if x else (0, 1)
    span = max(last - first, 1)
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM

    def px(xv: float) -> float:
        return round(_LEFT + (xv - first) / span * plot_w, 1)

    def py(value: float) -> float:
        level = math.log10(value) if log else value
        return round(_TOP + (high - level) / (high - low) * plot_h, 1)

    lines = []
    for index, (name, points) in enumerate(series.items()):
        segments, current, dots = [], [], []
        for xv, value in zip(x, points, strict=True):
            if value is None or not usable(value):
                if current:
                    segments.append(" ".join(current))
                current = []
                continue
            dots.append((px(xv), py(value), value))
            current.append(f"{px(xv)},{py(value)}")
        if current:
            segments.append(" ".join(current))
        lines.append(
            Line(
                name=name,
                color=PALETTE[index % len(PALETTE)],
                segments=tuple(segments),
                dots=tuple(dots),
                last=dots[-1][2] if dots else None,
            )
        )
    y_ticks = tuple(
        (round(_TOP + (1 - i / 4) * plot_h, 1), _tick(low + (high - low) * i / 4, log))
        for i in range(5)
    )
    step = max(1, math.ceil(len(x) / 8))
    x_ticks = tuple((px(xv), str(xv)) for xv in list(x)[::step])
    return Chart(title, y_label, WIDTH, HEIGHT, tuple(lines), y_ticks, x_ticks, log)


def _tick(level: float, log: bool) -> str:
    return number(10**level if log else level, 3)
