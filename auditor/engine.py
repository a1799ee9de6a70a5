"""The rule runner: select rules, read tensors once, run rules in isolation, build reports.

For each source: open it (a file that cannot be read becomes a graph carrying a fatal
issue), compute tensor statistics in one streaming pass, run every selected rule that can
judge this source (the others are recorded as not applicable), record rule crashes as
`RuleError`s, and assemble a `ModelReport`. Nothing here prints or exits.
"""

from __future__ import annotations

import dataclasses
import gc
import glob
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from auditor import __version__
from auditor.config import AuditConfig, describe
from auditor.errors import UsageError
from auditor.findings import (
    Finding,
    ModelReport,
    ModelSummary,
    NotApplicable,
    Report,
    ReportSummary,
    RuleError,
    Severity,
    Source,
    ToolInfo,
)
from auditor.gate import BaselineGate, SuppressionGate, read_baseline
from auditor.initializers import Reference, reference_for
from auditor.inventory import inventory
from auditor.limits import Limits
from auditor.loaders import MODEL_SUFFIXES, format_from_suffix, open_model
from auditor.model import IssueKind, LoadIssue, ModelGraph, SourceInfo, TensorSource, WeightRef
from auditor.readahead import ReadAhead
from auditor.registry import Registry, load_registry
from auditor.rule import Rule, RuleContext
from auditor.stats import DEFAULT_CHUNK_BYTES, TensorStats, compute, read_size

__all__ = ["PreparedRules", "audit_graph", "discover", "prepare", "run", "run_live"]


class PreparedRules:
    """The selected rules, instantiated, with validated options and severity overrides."""

    def __init__(self, entries: list[tuple[Rule, Any, Severity | None]]) -> None:
        self.entries = entries

    @property
    def codes(self) -> list[str]:
        return [rule.code for rule, _, _ in self.entries]


def prepare(config: AuditConfig, registry: Registry | None = None) -> PreparedRules:
    """Resolve the config against the registry.

    Raises:
        UsageError: for unknown rule names and options that fail validation.
    """
    registry = registry or load_registry()
    try:
        selected = registry.select(config.select) | registry.select(config.extend_select)
        selected -= registry.select(config.ignore)
        overrides = {registry.get(key).code: value for key, value in config.severity.items()}
        options = {registry.get(key).code: value for key, value in config.rules.items()}
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    entries: list[tuple[Rule, Any, Severity | None]] = []
    for rule_cls in registry.rules:
        if rule_cls.code not in selected:
            continue
        try:
            rule_options = rule_cls.Options(**options.get(rule_cls.code, {}))
        except ValidationError as exc:
            raise UsageError(
                f"invalid options for {rule_cls.code} ({rule_cls.name}): {describe(exc)}"
            ) from None
        entries.append((rule_cls(), rule_options, overrides.get(rule_cls.code)))
    return PreparedRules(entries)


def discover(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Expand folders into the model files below them and glob patterns (`models/**/*.h5`)
    into the files they match, sorted; keep plain files as given."""
    found: list[str] = []
    for raw in paths:
        path = Path(raw)
        text = os.fspath(raw)
        if not path.exists() and is_glob(text):
            matches = sorted(glob.glob(text, recursive=True))  # noqa: PTH207 (absolute too)
            found.extend(discover(m for m in matches if not Path(m).is_dir()))
            found.extend(discover(m for m in matches if Path(m).is_dir()))
        elif path.is_dir() and path.suffix.lower() not in MODEL_SUFFIXES:
            found.extend(
                str(p)
                for p in sorted(path.rglob("*"))
                if p.suffix.lower() in MODEL_SUFFIXES and not p.is_dir()
            )
        else:
            found.append(text)
    return list(dict.fromkeys(found))


def is_glob(text: str) -> bool:
    """True for a path pattern with `*`, `?` or `[...]`."""
    return any(char in text for char in "*?[")


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
) -> Report:
    """Audit model files and return one report.

    Files are audited in order, or with `config.jobs` worker processes (same report, same
    order). A file taking longer than `config.timeout` seconds becomes an AUD001 finding.
    Configured suppressions and the baseline are applied to each model as it finishes.

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

    Raises:
        UsageError: for bad options, an unreadable baseline, or a reference model that
            cannot be read.
    """
    config = config or AuditConfig()
    registry = registry or load_registry()
    prepared = prepare(config, registry)
    gates = _Gates(config, registry)
    started = time.perf_counter()
    files = discover(paths)
    reports: list[ModelReport] = []
    totals = Totals()
    with closing(_audit_files(files, prepared, config, registry, debug, reference)) as audited:
        for done, (path, report) in enumerate(audited, 1):
            report = gates.admit(report)
            totals.add(report)
            kept = on_model(report) if on_model is not None else report
            if kept is not None:
                reports.append(kept)
            if progress is not None:
                progress(done, len(files), path)
    return gates.finish(reports, time.perf_counter() - started, totals)


def _audit_files(
    files: list[str],
    prepared: PreparedRules,
    config: AuditConfig,
    registry: Registry,
    debug: bool,
    reference: Any,
) -> Iterator[tuple[str, ModelReport]]:
    """(path, report) for each file, in order: in worker processes, in isolated children,
    or in this process."""
    if config.jobs > 1 and len(files) > 1 and _is_path(reference):
        yield from zip(files, _run_parallel(files, config, registry, debug, reference), strict=True)
    elif _isolating(config, debug, reference):
        isolated = _Isolated(prepared, config, reference)
        try:
            for path in files:
                yield path, isolated.audit(path)
        finally:
            isolated.close()
    else:
        with _open_reference(reference, config) as base:
            for path in files:
                yield path, _audit_file(path, prepared, config, debug, base)


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
    with _open_reference(reference, config) as base:
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


def _is_path(reference: Any) -> bool:
    return reference is None or isinstance(reference, str | os.PathLike)


class FileTimeout(Exception):
    """A file took longer than the per-file time limit."""


@contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise FileTimeout in this thread after `seconds` (main thread, POSIX only; elsewhere
    no limit). Reading is chunked, so Python regains control often enough to stop."""
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return
    assert seconds is not None

    def expire(signum: int, frame: Any) -> None:
        raise FileTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _audit_file(
    path: str,
    prepared: PreparedRules,
    config: AuditConfig,
    debug: bool,
    reference: ModelGraph | None,
    on_report: Callable[[ModelReport], None] | None = None,
) -> ModelReport:
    """One file, within the time limit (past it: an unreadable-model report).

    Args:
        on_report: called with the report before the file is closed (the isolated child
            sends it then: closing an HDF5 file of a thousand tensors takes 30-50 ms).
    """
    try:
        with (
            _time_limit(config.timeout),
            open_model(path, config.limits, digest=config.digest) as loaded,
        ):
            report = audit_graph(
                loaded.graph,
                prepared,
                config,
                debug=debug,
                sha256=loaded.sha256,
                reference=reference,
            )
            if on_report is not None:
                on_report(report)
            return report
    except FileTimeout:
        return _unreadable_report(path, _over_time(config), prepared, config)


def _over_time(config: AuditConfig) -> str:
    return (
        f"auditing the file took longer than the per-file time limit of "
        f"{config.timeout:g} s (timeout setting)"
    )


def _unreadable_report(
    path: str, message: str, prepared: PreparedRules, config: AuditConfig
) -> ModelReport:
    """The report of a file that could not be audited: one fatal issue (AUD001)."""
    issue = LoadIssue(IssueKind.UNREADABLE, message, fatal=True)
    source = SourceInfo(path=path, format=format_from_suffix(path))
    return audit_graph(ModelGraph.unreadable(source, issue), prepared, config)


_WORKER: dict[str, Any] = {}


def _start_worker(
    config: AuditConfig, registry: Registry, debug: bool, reference: str | None
) -> None:
    _WORKER.update(
        prepared=prepare(config, registry), config=config, debug=debug, reference=reference
    )


def _worker_audit(path: str) -> ModelReport:
    state = _WORKER
    config, reference = state["config"], state["reference"]
    if _isolating(config, state["debug"], reference):
        if "isolated" not in state:
            state["isolated"] = _Isolated(state["prepared"], config, reference)
        return state["isolated"].audit(path)
    with _open_reference(reference, config) as base:
        return _audit_file(path, state["prepared"], config, state["debug"], base)


def _isolating(config: AuditConfig, debug: bool, reference: Any) -> bool:
    """Each file in a child process that can be killed: with a time limit, where fork
    exists, not under --debug (which wants exceptions in this process), and with a file
    (or no) reference, which the child opens itself."""
    return (
        config.timeout is not None
        and not debug
        and _is_path(reference)
        and "fork" in multiprocessing.get_all_start_methods()
    )


_GRACE_SECONDS = 5.0


class _Isolated:
    """Files audited one after another in a forked child process that can be killed.

    A hostile file can hang or crash the HDF5 C library where no Python-level time limit
    reaches. The child is then killed and replaced, and the file becomes an AUD001
    finding. The child's own time limit fires first when it can, with the same result.
    One child serves many files, so the fork costs once per run, not once per file.
    """

    def __init__(self, prepared: PreparedRules, config: AuditConfig, reference: Any) -> None:
        self.prepared, self.config, self.reference = prepared, config, reference
        self.child: Any = None
        self.conn: Any = None

    def _start(self) -> None:
        context = multiprocessing.get_context("fork")
        self.conn, child_end = context.Pipe()
        self.child = context.Process(
            target=_isolated_child,
            args=(child_end, self.prepared, self.config, self.reference),
            daemon=True,
        )
        # The child inherits the parent's heap copy-on-write; a garbage collection there
        # would touch (and so copy) every inherited object. Frozen objects are skipped.
        # A caller that froze objects itself (a pre-forking server) keeps them frozen:
        # `gc.unfreeze()` would thaw them too, so its heap is left as it is.
        freeze = gc.get_freeze_count() == 0
        if freeze:
            gc.freeze()
        try:
            self.child.start()
        finally:
            if freeze:
                gc.unfreeze()
        child_end.close()

    def _stop(self) -> None:
        if self.child is not None:
            if self.child.is_alive():
                self.child.kill()
            self.child.join()
            self.conn.close()
        self.child = self.conn = None

    def audit(self, path: str) -> ModelReport:
        if self.child is None:
            self._start()
        assert self.config.timeout is not None
        try:
            self.conn.send(path)
            if self.conn.poll(self.config.timeout + _GRACE_SECONDS):
                kind, payload = self.conn.recv()
            else:
                kind, payload = "timeout", None
        except (EOFError, OSError, BrokenPipeError):
            kind, payload = "crash", None
        if kind not in ("ok", "usage"):
            exit_code = self.child.exitcode if self.child is not None else None
            self._stop()  # a hung or dead child is replaced for the next file
            payload = payload or exit_code
        if kind == "ok":
            return payload
        if kind == "usage":
            raise UsageError(payload)
        return self._unreadable(path, kind, payload)

    def _unreadable(self, path: str, kind: str, payload: Any) -> ModelReport:
        if kind == "timeout":
            message = f"{_over_time(self.config)}; the reader was stopped"
        elif kind == "crash":
            message = f"the reader crashed on this file (exit code {payload})"
        else:
            message = f"the audit of this file failed ({payload})"
        return _unreadable_report(path, message, self.prepared, self.config)

    def close(self) -> None:
        if self.child is not None and self.child.is_alive():
            with suppress(OSError):
                self.conn.send(None)
        self._stop()


def _isolated_child(
    conn: Any, prepared: PreparedRules, config: AuditConfig, reference: Any
) -> None:
    """The child's loop: a path in, exactly one ("ok" | "usage" | "error", payload) out.

    A report leaves as soon as it is complete, before its file (and the reference) is
    closed; whatever happens after that is not reported again.
    """
    sent: list[ModelReport] = []

    def send(report: ModelReport) -> None:
        conn.send(("ok", report))
        sent.append(report)

    try:
        while (path := conn.recv()) is not None:
            sent.clear()
            try:
                with _open_reference(reference, config) as base:
                    report = _audit_file(path, prepared, config, False, base, on_report=send)
                if not sent:  # over the time limit before the audit ended
                    send(report)
            except UsageError as exc:
                if not sent:
                    conn.send(("usage", str(exc)))
            except Exception as exc:
                if not sent:
                    conn.send(("error", f"{type(exc).__name__}: {exc}"))
    except (EOFError, OSError, KeyboardInterrupt):
        pass
    finally:
        conn.close()
        os._exit(0)  # no atexit handlers, no flushing of the parent's buffers


def _run_parallel(
    files: list[str],
    config: AuditConfig,
    registry: Registry,
    debug: bool,
    reference: str | os.PathLike[str] | None,
) -> Iterator[ModelReport]:
    """Audit files in `config.jobs` processes; results in input order, as they finish."""
    from concurrent.futures import ProcessPoolExecutor  # only --jobs N needs it

    context = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    ref = os.fspath(reference) if reference is not None else None
    with ProcessPoolExecutor(
        max_workers=min(config.jobs, len(files)),
        mp_context=context,
        initializer=_start_worker,
        initargs=(config, registry, debug, ref),
    ) as pool:
        yield from pool.map(_worker_audit, files)


@contextmanager
def _open_reference(reference: Any, config: AuditConfig) -> Iterator[ModelGraph | None]:
    """The reference model's graph (a file, kept open for the run, or a live model)."""
    if reference is None:
        yield None
        return
    if not isinstance(reference, str | os.PathLike):
        from auditor.loaders.live import load_live

        yield load_live(reference).graph
        return
    with open_readable(reference, config.limits, "the reference model", "reference=") as graph:
        yield graph


@contextmanager
def open_readable(
    path: str | os.PathLike[str], limits: Limits | None, what: str, received: str = ""
) -> Iterator[ModelGraph]:
    """A model file that must be readable (a reference, a checkpoint), open for the block.

    Raises:
        UsageError: `"{what} cannot be read: <reason>. Received: {received}'path'"`.
    """
    with open_model(path, limits, digest=False) as loaded:
        fatal = next((issue for issue in loaded.graph.issues if issue.fatal), None)
        if fatal is not None:
            raise UsageError(
                f"{what} cannot be read: {fatal.message}. Received: {received}{os.fspath(path)!r}"
            )
        yield loaded.graph


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


def _not_applicable(rule: Rule, graph: ModelGraph, reference: ModelGraph | None) -> str | None:
    """Why a rule cannot judge this source, or None when it can."""
    if not graph.readable:
        return None if rule.judges_unreadable else "the model could not be read"
    if "live" in rule.requires and not graph.live:
        return "needs a live keras.Model (auditor.audit(model)); a file cannot show it"
    if "weights" in rule.requires and not graph.has_tensors():
        return "no weight tensor could be read from this source"
    if "compile" in rule.requires and (graph.compile is None or graph.optimizer is None):
        return "the model was not compiled: there is no optimizer to judge"
    if "reference" in rule.requires and reference is None:
        return "needs a reference model (--reference REF, or audit(..., reference=...))"
    return None


def read_stats(
    graph: ModelGraph, reference: ModelGraph | None, *, inventory: bool = True
) -> tuple[dict[str, TensorStats], list[str]]:
    """Statistics of every readable tensor, each read exactly once: measured against its
    initializer and, when a reference model is given, against its reference tensor (read
    in step). `inventory=False` leaves out what only the inventory shows."""
    stats: dict[str, TensorStats] = {}
    failures: list[str] = []
    nodes = {node.path: node for node in graph.root.walk()}
    others = {w.path: w for w in reference.weights()} if reference is not None else {}
    version = graph.source.keras_version
    todo: list[tuple[WeightRef, TensorSource, Reference | None, TensorSource | None]] = []
    for weight in graph.weights():
        if weight.tensor is None:
            continue
        layer = nodes.get(weight.layer_path)
        init = reference_for(weight, layer, version) if layer is not None else None
        other = others.get(weight.path)
        against = (
            other.tensor
            if other is not None and other.tensor is not None and other.shape == weight.shape
            else None
        )
        todo.append((weight, weight.tensor, init, against))
    # Every tensor in this order, the next slice on a thread, into reused buffers (compute()
    # keeps nothing of a slice once it asks for the next).
    with ReadAhead(reuse_bytes=DEFAULT_CHUNK_BYTES) as ahead:
        for _, tensor, init, _ in todo:
            ahead.plan(tensor, read_size(tensor, init))
        for weight, tensor, init, against in todo:
            l1 = any(
                r is not None and r.l1 for r in (weight.regularizer, weight.active_regularizer)
            )
            try:
                stats[weight.path] = compute(
                    tensor,
                    reference=init,
                    against=against,
                    absolute=l1,
                    inventory=inventory,
                    ahead=ahead,
                )
            except (OSError, RuntimeError, ValueError, TypeError, MemoryError) as exc:
                failures.append(f"tensor {weight.storage or weight.path} is unreadable ({exc})")
    return stats, failures


def audit_graph(
    graph: ModelGraph,
    prepared: PreparedRules,
    config: AuditConfig,
    *,
    debug: bool = False,
    sha256: Callable[[], str | None] | None = None,
    reference: ModelGraph | None = None,
) -> ModelReport:
    """Run the prepared rules over one model graph.

    Args:
        sha256: called once the audit is done, for the file's digest (it is computed on a
            thread meanwhile; see `auditor.loaders.digest`).
        reference: ModelGraph | None, a reference model to compare the tensors with.
    """
    stats, read_failures = (
        read_stats(graph, reference, inventory=config.inventory) if graph.readable else ({}, [])
    )
    if read_failures:
        extra = tuple(LoadIssue(IssueKind.UNREADABLE, msg) for msg in read_failures)
        graph = dataclasses.replace(graph, issues=graph.issues + extra)
    findings: list[Finding] = []
    errors: list[RuleError] = []
    run_codes: list[str] = []
    skipped: list[NotApplicable] = []
    for rule, options, severity in prepared.entries:
        reason = _not_applicable(rule, graph, reference)
        if reason is not None:
            skipped.append(NotApplicable(code=rule.code, reason=reason))
            continue
        ctx = RuleContext(
            options=options,
            severity=severity,
            stats=stats,
            expect_pretrained=config.expect_pretrained,
            reference=reference,
        )
        run_codes.append(rule.code)
        try:
            findings.extend(rule.check(graph, ctx))
        except Exception as exc:
            if debug:
                raise
            errors.append(RuleError(code=rule.code, message=f"{type(exc).__name__}: {exc}"))
    order = {node.path: index for index, node in enumerate(graph.root.walk())}
    findings.sort(key=lambda f: (order.get(f.location.layer_path, -1), f.code))
    return ModelReport(
        source=_source(graph, sha256() if sha256 else graph.source.sha256),
        summary=_summary(graph, findings),
        findings=findings,
        inventory=inventory(graph, stats) if config.inventory else [],
        rules_run=run_codes,
        rules_not_applicable=skipped,
        errors=errors,
    )


def _source(graph: ModelGraph, sha256: str | None) -> Source:
    src = graph.source
    return Source(
        path=src.path,
        format=src.format if src.format in ("keras", "h5", "live") else "unknown",
        keras_version=src.keras_version,
        backend=src.backend,
        sha256=sha256,
        size_bytes=src.size_bytes,
        model_name=graph.root.name or None,
        model_class=graph.root.class_name or None,
    )


def _summary(graph: ModelGraph, findings: list[Finding]) -> ModelSummary:
    weights = list(graph.weights())
    active = [f for f in findings if f.suppressed is None]
    return ModelSummary(
        layers=sum(
            1 for node in graph.layers() if not (node.module or "").startswith("keras.src.ops")
        ),
        weights=len(weights),
        parameters=sum(w.size for w in weights),
        trainable_parameters=sum(w.size for w in weights if w.trainable),
        errors=sum(f.severity is Severity.ERROR for f in active),
        warnings=sum(f.severity is Severity.WARNING for f in active),
        infos=sum(f.severity is Severity.INFO for f in active),
        suppressed=len(findings) - len(active),
    )
