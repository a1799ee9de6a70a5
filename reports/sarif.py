"""SARIF 2.1.0 for GitHub code scanning (and any SARIF viewer).

The model file is the physical location (region startLine 1: a binary file has no
lines); the layer path is a logical location. Each result carries its own
`partialFingerprints` (code, model path, layer, weight), so alerts survive re-runs;
artifacts carry the model's SHA-256. Rule descriptors come from the rule docs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import PurePath
from typing import Any

from auditor.findings import Finding, ModelReport, Report, Severity
from reports import DEFAULT_OPTIONS, RenderOptions, RuleInfo

__all__ = ["SCHEMA_URI", "render"]

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_INFORMATION_URI = "https://github.com/keras-audit/keras-audit"


def render(report: Report, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """The report as one SARIF run, indented JSON."""
    codes = sorted(
        {code for model in report.models for code in model.rules_run}
        | {f.code for f in report.findings}
    )
    index = {code: i for i, code in enumerate(codes)}
    artifacts = [_artifact(model) for model in report.models if model.source.format != "live"]
    artifact_index = {a["location"]["uri"]: i for i, a in enumerate(artifacts)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "keras-audit",
                "version": report.tool.version,
                "informationUri": _INFORMATION_URI,
                "rules": [_descriptor(code, options.rules.get(code)) for code in codes],
            }
        },
        "artifacts": artifacts,
        "results": [
            _result(finding, model, index, artifact_index)
            for model in report.models
            for finding in model.findings
        ],
        "invocations": [_invocation(report)],
        "columnKind": "unicodeCodePoints",
    }
    document = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(document, indent=2) + "\n"


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


def _result(
    finding: Finding,
    model: ModelReport,
    index: dict[str, int],
    artifacts: dict[str, int],
) -> dict[str, Any]:
    loc = finding.location
    location: dict[str, Any] = {
        "logicalLocations": [
            {
                "fullyQualifiedName": loc.layer_path or "<model>",
                "name": (loc.layer_path or "<model>").rsplit("/", 1)[-1],
                "kind": "object",
            }
        ]
    }
    uri = _uri(model.source.path)
    if uri in artifacts:
        location["physicalLocation"] = {
            "artifactLocation": {"uri": uri, "index": artifacts[uri]},
            "region": {"startLine": 1},
        }
    text = finding.message + (f"\n\nFix: {finding.fix}" if finding.fix else "")
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "ruleIndex": index[finding.code],
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


def _invocation(report: Report) -> dict[str, Any]:
    notes = [
        {
            "level": "error",
            "message": {
                "text": f"rule {error.code} crashed on {model.source.path}: {error.message}"
            },
        }
        for model in report.models
        for error in model.errors
    ]
    return {"executionSuccessful": not notes, "toolExecutionNotifications": notes}
