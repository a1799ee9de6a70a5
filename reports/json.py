"""JSON: the report as `model_dump_json`, valid against `reports/schema.json`."""

from __future__ import annotations

import json
from typing import Any

from auditor.findings import Report
from reports import DEFAULT_OPTIONS, RenderOptions

__all__ = ["render", "schema"]


def render(report: Report, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """The report as indented JSON with a trailing newline."""
    return report.to_json(indent=2) + "\n"


def schema() -> dict[str, Any]:
    """The JSON schema of the report, generated from the pydantic models."""
    generated = Report.model_json_schema(mode="serialization")
    generated["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    generated["$id"] = "https://keras-audit.dev/schema/report-v1.json"
    return generated


def schema_text() -> str:
    """The schema as the text shipped in `reports/schema.json`."""
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"
