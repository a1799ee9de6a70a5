"""`assert_rule`: run one rule through the real engine and compare exact findings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auditor.config import AuditConfig
from auditor.engine import run
from auditor.findings import Finding, Report, Severity


def audit_one(path: Path, code: str, options: Mapping[str, Any] | None = None) -> Report:
    config = AuditConfig(select=[code], rules={code: dict(options or {})})
    return run([path], config)


def findings_of(path: Path, code: str, options: Mapping[str, Any] | None = None) -> list[Finding]:
    """The findings of one rule on one file, after checking the report's integrity."""
    report = audit_one(path, code, options)
    model = report.models[0]
    assert model.errors == [], f"rule crashed: {model.errors}"
    assert code in model.rules_run, f"{code} did not run: {model.rules_not_applicable}"
    # Every finding survives the JSON round trip unchanged.
    assert Report.model_validate_json(report.to_json()) == report
    return [f for f in model.findings if f.code == code]


def assert_rule(
    path: Path,
    code: str,
    expected: set[tuple[str, str | None]],
    *,
    options: Mapping[str, Any] | None = None,
    severity: Severity | None = None,
) -> list[Finding]:
    """Assert the exact set of (layer_path, weight) locations the rule reports."""
    found = findings_of(path, code, options)
    got = {(f.location.layer_path, f.location.weight) for f in found}
    assert got == expected, "\n".join(f"{f.location} {f.message}" for f in found)
    assert len(found) == len(expected), "duplicate findings"
    if severity is not None:
        assert {f.severity for f in found} <= {severity}
    return found
