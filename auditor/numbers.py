"""Numbers as people read them."""

from __future__ import annotations

import math

__all__ = ["fmt"]


def fmt(value: float) -> str:
    """A coefficient or ratio, readably (`1e-04`, `0.01`, `3.2`)."""
    if value == 0 or not math.isfinite(value):
        return repr(value)
    if abs(value) < 1e-3 or abs(value) >= 1e5:
        return f"{value:.2g}"
    return f"{value:.4g}"
