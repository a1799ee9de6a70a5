"""Numbers as people read them: one function, so that a value reads the same in a finding's
message, a text table, the HTML report and a chart's axis."""

from __future__ import annotations

import math

__all__ = ["DECLARED_DIGITS", "number", "percent", "size_text"]

#: Significant digits of a value a config declares (a regularizer's coefficient): as many
#: as a float32 holds reliably, so the value echoes what was typed (`0.000125`), while
#: float32 noise (`0.0001` stored as `9.99999974737875e-05`) stays hidden.
DECLARED_DIGITS = 6


def number(value: float | None, digits: int = 4, *, missing: str = "-") -> str:
    """`value` in at most `digits` significant digits, in fixed or scientific notation,
    whichever `g` chooses (`0.0001`, `1.235e-07`, `3.142`, `2.5e+06`).

    Integers are written whole, in groups of three (`25,557,032`); zero is `0`; NaN and
    infinities are `nan`, `inf` and `-inf`; a missing value is `missing`.
    """
    if value is None:
        return missing
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    value = float(value)
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return repr(value)
    return f"{value:.{digits}g}"


def percent(share: float | None, decimals: int = 1, *, signed: bool = False) -> str:
    """A share as a percentage with `decimals` decimals (`12.3%`; `+4.7%` when `signed`);
    a missing share is `-`."""
    if share is None:
        return "-"
    return f"{share:{'+' if signed else ''}.{decimals}%}"


def size_text(size: int) -> str:
    """A byte count as people read it, in decimal units (`41 KB`, `1.0 GB`, `512 B`)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            value = size / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:,.0f} {unit}"
    return f"{size} B"
