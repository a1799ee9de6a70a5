"""The CI gate: configured suppressions and the baseline, applied to each finished report.

Neither removes a finding: a suppressed or baselined finding stays in every format, marked
(`Finding.suppressed`), and no longer counts towards the exit code. Suppressions that
match nothing (or expired) and baseline entries whose findings were fixed are reported.

The baseline is sorted, stable JSON keyed by (code, model path, layer path) with a count
and the fingerprints of the evidence; model paths are stored relative to the working
directory, so a baseline written at a repository's root works in its CI.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from auditor.engine.config import Suppress
from auditor.errors import UsageError
from auditor.results.findings import (
    Finding,
    ModelReport,
    Severity,
    StaleBaselineEntry,
    Suppression,
    UnusedSuppression,
)

__all__ = [
    "Baseline",
    "BaselineBuilder",
    "BaselineEntry",
    "BaselineGate",
    "SuppressionGate",
    "read_baseline",
    "write_baseline",
]


class BaselineEntry(BaseModel):
    """Findings of one rule on one layer of one model, accepted as they are."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    model: str
    layer: str
    count: int = Field(ge=1)
    fingerprints: list[str] = Field(default_factory=list)


class Baseline(BaseModel):
    """A baseline file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    tool: Literal["keras-audit"] = "keras-audit"
    entries: list[BaselineEntry] = Field(default_factory=list)


def model_key(path: str) -> str:
    """A model path as the baseline stores it: relative to the working directory when it
    lies below it, POSIX separators."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def fingerprint(finding: Finding, model: str) -> str:
    """A short, stable hash of a finding's evidence (code, model, layer, weight, message)."""
    loc = finding.location
    text = "\x00".join((finding.code, model, loc.layer_path, loc.weight or "", finding.message))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _counts(reports: list[ModelReport]) -> tuple[int, int, int, int]:
    active = [f for m in reports for f in m.findings if f.suppressed is None]
    return (
        sum(f.severity is Severity.ERROR for f in active),
        sum(f.severity is Severity.WARNING for f in active),
        sum(f.severity is Severity.INFO for f in active),
        sum(1 for m in reports for f in m.findings if f.suppressed is not None),
    )


def _with_findings(model: ModelReport, findings: list[Finding]) -> ModelReport:
    errors, warnings, infos, suppressed = _counts([model.model_copy(update={"findings": findings})])
    summary = model.summary.model_copy(
        update={"errors": errors, "warnings": warnings, "infos": infos, "suppressed": suppressed}
    )
    return model.model_copy(update={"findings": findings, "summary": summary})


class SuppressionGate:
    """Configured suppressions, applied one finished model at a time.

    Models pass through `admit` in report order; `unused()` then lists the suppressions
    that covered nothing (or expired). Streaming output relies on this: each model is final
    as soon as it is admitted.

    Args:
        suppressions: each suppression with the rule codes its `code` selects.
    """

    def __init__(self, suppressions: Iterable[tuple[Suppress, frozenset[str]]]) -> None:
        self._pairs = list(suppressions)
        self._used = [False] * len(self._pairs)

    def admit(self, model: ModelReport) -> ModelReport:
        """The model with the findings each unexpired suppression covers marked."""
        if not self._pairs:
            return model
        findings = []
        for finding in model.findings:
            for index, (rule, codes) in enumerate(self._pairs):
                if (
                    finding.suppressed is None
                    and not rule.expired()
                    and finding.code in codes
                    and rule.matches_path(model.source.path)
                    and rule.matches_layer(finding.location.layer_path)
                ):
                    self._used[index] = True
                    finding = finding.model_copy(
                        update={"suppressed": Suppression(kind="config", reason=rule.reason)}
                    )
            findings.append(finding)
        return _with_findings(model, findings)

    def unused(self) -> list[UnusedSuppression]:
        """The suppressions that have matched no admitted finding, or have expired."""
        return [
            UnusedSuppression(
                code=rule.code,
                path=rule.path,
                layer=rule.layer,
                reason=rule.reason,
                expired=rule.expired(),
            )
            for (rule, _), hit in zip(self._pairs, self._used, strict=True)
            if not hit
        ]


def read_baseline(path: str | os.PathLike[str]) -> Baseline:
    """Read a baseline file.

    Raises:
        UsageError: when it is missing or not a keras-audit baseline.
    """
    try:
        return Baseline.model_validate_json(Path(path).read_bytes())
    except OSError as exc:
        raise UsageError(
            f"cannot read the baseline ({exc.strerror}). Received: --baseline {os.fspath(path)!r}"
        ) from None
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise UsageError(
            f"not a keras-audit baseline ({problem}). Received: --baseline {os.fspath(path)!r}"
        ) from None


class BaselineGate:
    """The baseline, applied one finished model at a time (see `SuppressionGate`).

    Each entry marks up to `count` findings; `stale()` lists the entries that found fewer.
    """

    def __init__(self, baseline: Baseline) -> None:
        self._entries = baseline.entries
        self._budget = {(e.code, e.model, e.layer): e.count for e in baseline.entries}
        self._found: dict[tuple[str, str, str], int] = {}

    def admit(self, model: ModelReport) -> ModelReport:
        """The model with the findings the baseline still accepts marked."""
        key_model = model_key(model.source.path)
        findings = []
        for finding in model.findings:
            key = (finding.code, key_model, finding.location.layer_path)
            if finding.suppressed is None and key in self._budget:
                self._found[key] = self._found.get(key, 0) + 1
                if self._found[key] <= self._budget[key]:
                    finding = finding.model_copy(
                        update={
                            "suppressed": Suppression(kind="baseline", reason="in the baseline")
                        }
                    )
            findings.append(finding)
        return _with_findings(model, findings)

    def stale(self) -> list[StaleBaselineEntry]:
        """The entries that recorded more findings than the admitted models have."""
        found = self._found
        return [
            StaleBaselineEntry(
                code=e.code, model=e.model, layer=e.layer, recorded=e.count, found=found.get(key, 0)
            )
            for e in self._entries
            if found.get(key := (e.code, e.model, e.layer), 0) < e.count
        ]


class BaselineBuilder:
    """A baseline accepting every finding not suppressed by configuration, built model by
    model (a run can then drop each model once it is counted)."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str, str], list[str]] = {}

    def add(self, model: ModelReport) -> None:
        """Accept the findings of one model."""
        key_model = model_key(model.source.path)
        for finding in model.findings:
            if finding.suppressed is not None and finding.suppressed.kind == "config":
                continue
            key = (finding.code, key_model, finding.location.layer_path)
            self._groups.setdefault(key, []).append(fingerprint(finding, key_model))

    def baseline(self) -> Baseline:
        """The entries, sorted by model, layer and code."""
        entries = [
            BaselineEntry(
                code=code, model=model, layer=layer, count=len(prints), fingerprints=sorted(prints)
            )
            for (code, model, layer), prints in sorted(
                self._groups.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])
            )
        ]
        return Baseline(entries=entries)


def write_baseline(baseline: Baseline, path: str | os.PathLike[str]) -> None:
    """Write a baseline as sorted, indented JSON (diff-friendly)."""
    text = json.dumps(baseline.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"cannot write the baseline ({exc.strerror}). Received: --write-baseline "
            f"{os.fspath(path)!r}"
        ) from None
