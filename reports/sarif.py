"""SARIF 2.1.0 for GitHub code scanning (and any SARIF viewer).

The model file is the physical location (region startLine 1: a binary file has no
lines); the layer path is a logical location. Each result carries its own
`partialFingerprints` (code, model path, layer, weight), so alerts survive re-runs;
artifacts carry the model's SHA-256. Rule descriptors come from the rule docs.

`render_model` and `render_document` produce the same text in pieces. A model's part is
what the document needs of it (its results, artifact, rule codes and rule crashes) as one
line of JSON; the document reads the parts twice, first for the rules, artifacts and
notes that come before and after the results, then for the results.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import PurePath
from typing import Any

from auditor.reports import DEFAULT_OPTIONS, Pieces, RenderOptions, RuleInfo
from auditor.reports.jsontext import INDENT, fill_array, nested
from auditor.results.findings import Finding, ModelReport, Report, Severity

__all__ = ["SCHEMA_URI", "render", "render_document", "render_model"]

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_INFORMATION_URI = "https://github.com/keras-audit/keras-audit"


def render(report: Report, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """The report as one SARIF run, indented JSON."""
    return Pieces(render_model, render_document).render(report, options=options)


def render_model(
    model: ModelReport, index: int, *, options: RenderOptions = DEFAULT_OPTIONS
) -> str:
    """What the document needs of one model, as one line of JSON: its results (without
    the rule and artifact indexes, which depend on every model), its artifact (None for a
    live model), the rules it ran or reported, and its rule-crash notes."""
    part = {
        "codes": sorted(set(model.rules_run) | {f.code for f in model.findings}),
        "artifact": _artifact(model) if model.source.format != "live" else None,
        "results": [_result(finding, model) for finding in model.findings],
        "notes": [
            {
                "level": "error",
                "message": {
                    "text": f"rule {error.code} crashed on {model.source.path}: {error.message}"
                },
            }
            for error in model.errors
        ],
    }
    return json.dumps(part, separators=(",", ":")) + "\n"


def render_document(
    report: Report, parts: Iterable[str], *, options: RenderOptions = DEFAULT_OPTIONS
) -> Iterator[str]:
    """`render(report)` in pieces, from `parts` (from `render_model`, in report order; read
    twice, one part at a time); reads only the report's totals."""
    codes: set[str] = set()
    artifacts: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for part in parts:
        facts = json.loads(part)
        codes.update(facts["codes"])
        if facts["artifact"] is not None:
            artifacts.append(facts["artifact"])
        notes.extend(facts["notes"])
    index = {code: i for i, code in enumerate(sorted(codes))}
    artifact_index = {a["location"]["uri"]: i for i, a in enumerate(artifacts)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "keras-audit",
                "version": report.tool.version,
                "informationUri": _INFORMATION_URI,
                "rules": [_descriptor(code, options.rules.get(code)) for code in sorted(codes)],
            }
        },
        "artifacts": artifacts,
        "results": [],
        "invocations": [{"executionSuccessful": not notes, "toolExecutionNotifications": notes}],
        "columnKind": "unicodeCodePoints",
    }
    document = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    results = (
        nested(json.dumps(_indexed(result, index, artifact_index), indent=INDENT), 4)
        for part in parts
        for result in json.loads(part)["results"]
    )  # runs[0].results: three levels down, each result four
    yield from fill_array(json.dumps(document, indent=INDENT), "results", 3, results)
    yield "\n"


def _indexed(
    result: dict[str, Any], index: dict[str, int], artifacts: dict[str, int]
) -> dict[str, Any]:
    """A result with its rule's index, and its artifact's index when the model's file is
    one of the run's artifacts (else without a physical location)."""
    rule_id = result.pop("ruleId")
    location = result["locations"][0]
    physical = location.pop("physicalLocation")
    uri = physical["artifactLocation"]["uri"]
    if uri in artifacts:
        physical["artifactLocation"]["index"] = artifacts[uri]
        location["physicalLocation"] = physical
    return {"ruleId": rule_id, "ruleIndex": index[rule_id], **result}


def _uri(path: str) -> str:
    pure = PurePath(path)
    return pure.as_uri() if pure.is_absolute() else pure.as_posix()


def _artifact(model: ModelReport) -> dict[str, Any]:
    artifact: dict[str, Any] = {"location": {"uri": _uri(model.source.path)}}
    if model.source.sha256:
        artifact["hashes"] = {"sha-256": model.source.sha256}
    if model.source.size_bytes is not None:
        artifact["length"] = model.source.size_bytes
    return artifact


def _descriptor(code: str, info: RuleInfo | None) -> dict[str, Any]:
    if info is None:
        return {"id": code}
    return {
        "id": code,
        "name": info.name,
        "shortDescription": {"text": info.summary or info.name},
        "fullDescription": {"text": info.docs},
        "help": {"text": info.docs, "markdown": info.docs},
        "helpUri": info.help_uri,
        "defaultConfiguration": {"level": _LEVELS[Severity(info.severity)]},
        "properties": {"tags": ["keras", code.rstrip("0123456789")], "mode": info.mode},
    }


def _fingerprint(finding: Finding, model: ModelReport) -> str:
    loc = finding.location
    key = "\x00".join((finding.code, model.source.path, loc.layer_path, loc.weight or ""))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _result(finding: Finding, model: ModelReport) -> dict[str, Any]:
    """A result, without the indexes `render_document` adds (`_indexed`)."""
    loc = finding.location
    location: dict[str, Any] = {
        "logicalLocations": [
            {
                "fullyQualifiedName": loc.layer_path or "<model>",
                "name": (loc.layer_path or "<model>").rsplit("/", 1)[-1],
                "kind": "object",
            }
        ],
        "physicalLocation": {
            "artifactLocation": {"uri": _uri(model.source.path)},
            "region": {"startLine": 1},
        },
    }
    text = finding.message + (f"\n\nFix: {finding.fix}" if finding.fix else "")
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "level": _LEVELS[finding.severity],
        "message": {"text": text},
        "locations": [location],
        "partialFingerprints": {"kerasAudit/v1": _fingerprint(finding, model)},
        "properties": {
            key: value
            for key, value in (
                ("name", finding.name),
                ("layerClass", loc.layer_class),
                ("weight", loc.weight),
                ("configKey", loc.config_key),
                ("confidence", finding.confidence.value if finding.confidence else None),
                ("fix", finding.fix),
            )
            if value is not None
        },
    }
    if finding.suppressed is not None:
        result["suppressions"] = [
            {
                "kind": "external",
                "justification": finding.suppressed.reason or finding.suppressed.kind,
            }
        ]
    return result
