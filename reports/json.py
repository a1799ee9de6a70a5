"""JSON: the report as `model_dump_json`, valid against `reports/schema.json`.

`render_model` and `render_document` produce the same text in pieces: each model's entry
of the `models` array, then the document around them. The CLI writes each entry as its
model finishes, so a run over many files never holds every inventory at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from auditor.reports import DEFAULT_OPTIONS, Pieces, RenderOptions
from auditor.reports.jsontext import INDENT, fill_array, nested
from auditor.results.findings import ModelReport, Report

__all__ = ["render", "render_document", "render_model", "schema"]


def render(report: Report, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """The report as indented JSON with a trailing newline: `report.to_json(indent=2)`."""
    return Pieces(render_model, render_document).render(report, options=options)


def render_model(
    model: ModelReport, index: int, *, options: RenderOptions = DEFAULT_OPTIONS
) -> str:
    """One model's entry of the `models` array, indented as it sits there."""
    return nested(model.model_dump_json(indent=INDENT), 2)


def render_document(
    report: Report, models: Iterable[str], *, options: RenderOptions = DEFAULT_OPTIONS
) -> Iterator[str]:
    """`render(report)` in pieces, with `models` (from `render_model`, in report order) as
    the `models` array; reads nothing of `report.models` itself."""
    outline = report.model_copy(update={"models": []}).to_json(indent=INDENT)
    yield from fill_array(outline, "models", 1, models)
    yield "\n"


def schema() -> dict[str, Any]:
    """The JSON schema of the report, generated from the pydantic models."""
    generated = Report.model_json_schema(mode="serialization")
    generated["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    generated["$id"] = "https://keras-audit.dev/schema/report-v1.json"
    return generated


def schema_text() -> str:
    """The schema as the text shipped in `reports/schema.json`."""
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"
