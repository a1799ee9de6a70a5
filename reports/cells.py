"""Text-table cells shared by the training views (`audit history`, `audit compare`)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["aligned", "number"]


def number(value: float | None) -> str:
    """A compact figure for a text table: `-` when missing, 4 significant digits, or 3 in
    scientific notation for very small and very large values."""
    if value is None:
        return "-"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.3g}"
    return f"{value:.4g}"


def aligned(rows: Sequence[Sequence[str]], *, right: bool) -> list[str]:
    """Rows of cells padded into columns (numbers right-aligned, names left-aligned)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    pad = str.rjust if right else str.ljust
    return [
        "  ".join(pad(cell, width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
