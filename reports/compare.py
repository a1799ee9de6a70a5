"""`audit compare A B`: a CheckpointComparison as text, JSON or one HTML page.

Pure functions of the comparison.
"""

from __future__ import annotations

from auditor.numbers import number, percent
from auditor.reports.cells import aligned
from auditor.reports.safe import visible
from auditor.results.comparison import CheckpointComparison, LayerChange

__all__ = ["FORMATS", "render"]

FORMATS = ("text", "json", "html")


def render(comparison: CheckpointComparison, fmt: str) -> str:
    """The comparison in `fmt` (text, json or html)."""
    if fmt == "json":
        return comparison.model_dump_json(indent=2) + "\n"
    if fmt == "html":
        from auditor.reports.html import environment

        return environment().get_template("compare.html.j2").render(c=comparison)
    if fmt == "text":
        return _text(comparison)
    raise ValueError(f"unknown compare format {fmt!r}; expected one of {', '.join(FORMATS)}")


def headline(c: CheckpointComparison) -> str:
    s = c.summary
    parts = [
        f"{getattr(s, status)} {status}"
        for status in ("reset", "changed", "unchanged", "added", "removed", "reshaped")
        if getattr(s, status)
    ]
    layers = f"{s.layers} layer{'s' if s.layers != 1 else ''}"
    return (
        f"{layers} with weights: {', '.join(parts) or 'none'}; "
        f"{percent(s.changed_share)} of {number(s.values)} values differ"
    )


def _row(layer: LayerChange) -> list[str]:
    return [
        layer.path or "<model>",
        layer.class_name,
        layer.status,
        number(layer.norm_a),
        number(layer.norm_b),
        percent(layer.norm_change, signed=True),
        number(layer.distance),
        percent(layer.changed_share),
        layer.note,
    ]


def _text(c: CheckpointComparison) -> str:
    lines = [f"A: {c.a.path}", f"B: {c.b.path}", headline(c), ""]
    header = ["layer", "class", "status", "norm A", "norm B", "norm change", "distance"]
    rows = [[*header, "changed", "note"]] + [_row(layer) for layer in c.layers]
    lines += aligned([[visible(cell) for cell in row] for row in rows], right=False)
    for problem in c.unreadable:
        lines.append(f"unreadable: {problem}")
    reset = c.reset_layers()
    if reset:
        lines += [
            "",
            f"{len(reset)} layer(s) of B are back at their initialization: B was rebuilt or "
            "re-initialized instead of loading A's weights (e.g. Model.from_config without "
            "set_weights).",
        ]
    return "\n".join(visible(line) for line in lines) + "\n"  # names from the files, inert
