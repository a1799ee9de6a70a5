"""Renderers: one pure function per output format, `render(report, *, options) -> str`.

`RENDERERS` maps format names to renderers; there are no if-chains over format strings.
Renderers read the Report (and rule metadata passed in options) and never recompute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from auditor.findings import Report

__all__ = ["DEFAULT_OPTIONS", "RENDERERS", "RenderOptions", "Renderer"]


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """Presentation choices that are not part of the report.

    Attributes:
        color: bool, emit ANSI colour (text only).
        verbose: bool, include fixes and evidence (text only).
    """

    color: bool = False
    verbose: bool = False


Renderer = Callable[..., str]
DEFAULT_OPTIONS = RenderOptions()


def _text(report: Report, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    from reports.text import render

    return render(report, options=options)


def _json(report: Report, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    from reports.json import render

    return render(report, options=options)


RENDERERS: dict[str, Renderer] = {"text": _text, "json": _json}
