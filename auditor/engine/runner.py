"""The rule runner: audit model files (or a live model) and build one report.

`run` resolves the configuration against the registry once, finds the model files
(`auditor.engine.discovery`), and audits each one: in a child process that can be killed
(`auditor.engine.isolation`), in a pool of worker processes with `--jobs N`, or in this
process. Each model is judged by `auditor.engine.judge` (tensors read once, every rule
run, a rule crash an AUD001 error), then gated by the suppressions and the baseline as
soon as it is done. Nothing here prints or exits.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from typing import Any

from auditor import __version__
from auditor.engine.config import AuditConfig
from auditor.engine.discovery import discover
from auditor.engine.file_audit import audit_file, is_file_reference, open_reference
from auditor.engine.gate import BaselineGate, SuppressionGate, read_baseline
from auditor.engine.isolation import Isolated, isolating, run_parallel
from auditor.engine.judge import audit_graph, prepare
from auditor.engine.registry import Registry, load_registry
from auditor.errors import UsageError
from auditor.results.findings import ModelReport, Report, ReportSummary, Severity, ToolInfo

__all__ = ["Totals", "build_report", "run", "run_live", "stream"]


Progress = Callable[[int, int, str], None]


def run(
    paths: Sequence[str | os.PathLike[str]],
    config: AuditConfig | None = None,
    *,
    registry: Registry | None = None,
    debug: bool = False,
    reference: Any = None,
    progress: Progress | None = None,
    on_model: Callable[[ModelReport], ModelReport | None] | None = None,
    client: Any = None,
) -> Report:
    """Audit model files and return one report.

    Files are audited in order, with `config.jobs` worker processes, or on the Dask
    cluster behind `client` (same report, same order). A file taking longer than
    `config.timeout` seconds becomes an AUD001 finding. Configured suppressions and the
    baseline are applied to each model as it finishes.

    Args:
        paths: files or folders.
        config: AuditConfig | None.
        registry: Registry | None, defaults to built-ins plus plugins.
        debug: bool, re-raise rule crashes instead of recording them.
        reference: a model file path or a live keras.Model to compare tensors with (WGT002).
        progress: called as `progress(done, total, path)` after each file.
        on_model: called with each finished model report, in order, as soon as its
            suppressions and baseline are applied; the report keeps what it returns, or
            nothing of the model when it returns None (the model still counts in
            `summary`). The CLI writes its outputs this way, model by model, so memory
            stays flat however many files a run audits.
        client: a `distributed.Client`: each file is one task on its cluster
            (`auditor.engine.cluster`); `config.jobs` is then not used.

    Raises:
        UsageError: for bad options, an unreadable baseline, or a reference model that
            cannot be read.
    """
    started = time.perf_counter()
    batch = _Batch(paths, config, registry, debug, reference, client)
    reports: list[ModelReport] = []
    totals = Totals()
    with closing(batch.reports()) as audited:
        for done, (path, report) in enumerate(audited, 1):
            totals.add(report)
            kept = on_model(report) if on_model is not None else report
            if kept is not None:
                reports.append(kept)
            if progress is not None:
                progress(done, len(batch.files), path)
    return batch.gates.finish(reports, time.perf_counter() - started, totals)


def stream(
    paths: Sequence[str | os.PathLike[str]],
    config: AuditConfig | None = None,
    *,
    registry: Registry | None = None,
    debug: bool = False,
    reference: Any = None,
    client: Any = None,
) -> Iterator[ModelReport]:
    """Each model's report, in input order, as soon as it is done (suppressions and
    baseline applied): `run` without the run's totals, for callers that handle each
    model as it comes. The options, the baseline and the files are checked now; the
    audits run as the iterator is consumed.

    Raises:
        UsageError: as `run`.
    """
    return _reports_of(_Batch(paths, config, registry, debug, reference, client))


def _reports_of(batch: _Batch) -> Iterator[ModelReport]:
    with closing(batch.reports()) as audited:
        for _, report in audited:
            yield report


class _Batch:
    """One run's files, rules and gates, resolved up front (so that bad options fail
    before any audit), and its audits, gated model by model."""

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        config: AuditConfig | None,
        registry: Registry | None,
        debug: bool,
        reference: Any,
        client: Any,
    ) -> None:
        self.config = config or AuditConfig()
        self.registry = registry or load_registry()
        self.prepared = prepare(self.config, self.registry)
        self.gates = _Gates(self.config, self.registry)
        self.debug, self.reference, self.client = debug, reference, client
        if client is not None and not is_file_reference(reference):
            raise UsageError(
                "a cluster's workers open the reference model themselves: give its path or "
                "URL, not a live model"
            )
        self.files = discover(
            paths,
            max_entries=self.config.limits.max_discovered_entries,
            seconds=self.config.timeout,
        )

    def reports(self) -> Iterator[tuple[str, ModelReport]]:
        """(path, report) for each file, in order, with suppressions and baseline applied."""
        with closing(self._audits()) as audited:
            for path, report in audited:
                yield path, self.gates.admit(report)

    def _audits(self) -> Iterator[tuple[str, ModelReport]]:
        """(path, report) for each file, in order: on a cluster, in worker processes, in
        isolated children, or in this process."""
        files, prepared, config = self.files, self.prepared, self.config
        registry, debug, reference = self.registry, self.debug, self.reference
        if self.client is not None:
            from auditor.engine.cluster import run_on_cluster

            ref = os.fspath(reference) if reference is not None else None
            audited = run_on_cluster(files, prepared, config, registry, debug, ref, self.client)
            yield from zip(files, audited, strict=True)
        elif config.jobs > 1 and len(files) > 1 and is_file_reference(reference):
            yield from zip(
                files, run_parallel(files, config, registry, debug, reference), strict=True
            )
        elif isolating(config, debug, reference):
            isolated = Isolated(prepared, config, reference)
            try:
                for path in files:
                    yield path, isolated.audit(path)
            finally:
                isolated.close()
        else:
            with open_reference(reference, config) as base:
                for path in files:
                    yield path, audit_file(path, prepared, config, debug, base)


def run_live(
    model: Any,
    config: AuditConfig | None = None,
    *,
    registry: Registry | None = None,
    debug: bool = False,
    reference: Any = None,
) -> Report:
    """Audit a live Keras 3 model (see `auditor.loaders.live`).

    Raises:
        TypeError: when `model` is not a `keras.Model`.
        ValueError: when it is not built.
        UsageError: for bad options, or a reference model that cannot be read.
    """
    from auditor.loaders.live import load_live

    config = config or AuditConfig()
    registry = registry or load_registry()
    prepared = prepare(config, registry)
    gates = _Gates(config, registry)
    started = time.perf_counter()
    graph = load_live(model).graph
    with open_reference(reference, config) as base:
        report = audit_graph(graph, prepared, config, debug=debug, reference=base)
    return gates.finish([gates.admit(report)], time.perf_counter() - started)


class _Gates:
    """Suppressions and baseline: checked up front, applied to each finished report."""

    def __init__(self, config: AuditConfig, registry: Registry) -> None:
        try:
            suppressions = [(s, frozenset(registry.select([s.code]))) for s in config.suppress]
        except ValueError as exc:
            raise UsageError(f"invalid suppression: {exc}") from None
        self.suppressions = SuppressionGate(suppressions)
        baseline = read_baseline(config.baseline) if config.baseline else None
        self.baseline = BaselineGate(baseline) if baseline is not None else None

    def admit(self, report: ModelReport) -> ModelReport:
        report = self.suppressions.admit(report)
        return self.baseline.admit(report) if self.baseline is not None else report

    def finish(
        self, reports: list[ModelReport], duration: float, totals: Totals | None = None
    ) -> Report:
        stale = self.baseline.stale() if self.baseline is not None else []
        report = build_report(reports, duration, totals)
        return report.model_copy(
            update={"unused_suppressions": self.suppressions.unused(), "stale_baseline": stale}
        )


@dataclasses.dataclass(slots=True)
class Totals:
    """The counts of a run's `ReportSummary`, added up model by model (so that a run can
    drop each model once it is written)."""

    models: int = 0
    findings: int = 0
    errors: int = 0
    warnings: int = 0
    infos: int = 0
    suppressed: int = 0
    rule_errors: int = 0

    def add(self, model: ModelReport) -> None:
        """Count one model, with its suppressions and baseline applied."""
        active = [f for f in model.findings if f.suppressed is None]
        self.models += 1
        self.findings += len(model.findings)
        self.errors += sum(f.severity is Severity.ERROR for f in active)
        self.warnings += sum(f.severity is Severity.WARNING for f in active)
        self.infos += sum(f.severity is Severity.INFO for f in active)
        self.suppressed += len(model.findings) - len(active)
        self.rule_errors += len(model.errors)

    def summary(self, duration: float) -> ReportSummary:
        """The counts as the run's `ReportSummary` (whose fields they are), with its
        duration."""
        return ReportSummary(**dataclasses.asdict(self), duration_seconds=round(duration, 3))


def build_report(
    models: list[ModelReport], duration: float, totals: Totals | None = None
) -> Report:
    """Wrap model reports with the tool info and the totals: `totals` when the run counted
    them as it went (it may have kept fewer models than it counted), else those of
    `models`."""
    if totals is None:
        totals = Totals()
        for model in models:
            totals.add(model)
    return Report(
        tool=ToolInfo(version=__version__), models=models, summary=totals.summary(duration)
    )
