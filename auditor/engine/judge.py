"""One model judged: every selected rule run over its graph, with the statistics of its
tensors, each read exactly once.

`prepare` resolves a configuration against the registry once per run. `audit_graph` then
takes one model: it computes the tensor statistics in one streaming pass (`read_stats`),
runs every prepared rule that can judge this source (the others are recorded as not
applicable), records rule crashes as `RuleError`s, and assembles the `ModelReport`.
Nothing here opens a file, prints or exits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from auditor.engine.config import AuditConfig, describe
from auditor.engine.registry import Registry, load_registry
from auditor.errors import UsageError
from auditor.graph.model import (
    GRAPH_FORMATS,
    NO_CONFIG,
    IssueKind,
    LoadIssue,
    ModelGraph,
    TensorSource,
    WeightRef,
)
from auditor.results.findings import (
    SOURCE_FORMATS,
    Finding,
    ModelReport,
    ModelSummary,
    NotApplicable,
    RuleError,
    Severity,
    Source,
)
from auditor.rules.base import Rule, RuleContext
from auditor.tensors.initializers import Reference, reference_for
from auditor.tensors.inventory import inventory
from auditor.tensors.readahead import ReadAhead
from auditor.tensors.stats import DEFAULT_CHUNK_BYTES, TensorStats, compute, read_size
from auditor.text import display_path

__all__ = ["PreparedRules", "audit_graph", "prepare", "read_stats"]


class PreparedRules:
    """The selected rules, instantiated, with validated options and severity overrides."""

    def __init__(self, entries: list[tuple[Rule, Any, Severity | None]]) -> None:
        self.entries = entries

    @property
    def codes(self) -> list[str]:
        return [rule.code for rule, _, _ in self.entries]

    def reads_tensors(self, config: AuditConfig) -> bool:
        """Whether an audit under `config` reads tensors: for the inventory, or for a
        selected rule that judges weights (never under `--no-weights`)."""
        return not config.no_weights and (
            config.inventory or any("weights" in rule.requires for rule, _, _ in self.entries)
        )


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


def _not_applicable(
    rule: Rule, graph: ModelGraph, reference: ModelGraph | None, no_weights: bool = False
) -> str | None:
    """Why a rule cannot judge this source, or None when it can."""
    if not graph.readable:
        return None if rule.judges_unreadable else "the model could not be read"
    if "live" in rule.requires and not graph.live:
        return "needs a live keras.Model (auditor.audit(model)); a file cannot show it"
    if "weights" in rule.requires and no_weights:
        return "no tensor was read (--no-weights)"
    if "weights" in rule.requires and not graph.has_tensors():
        return "no weight tensor could be read from this source"
    if "graph" in rule.requires and graph.source.format not in GRAPH_FORMATS:
        return "reads a SavedModel's graph; this source holds none"
    if "config" in rule.requires and not graph.has_config:
        return f"{NO_CONFIG[graph.source.format]}: no layer setting to judge"
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
        read_stats(graph, reference, inventory=config.inventory)
        if graph.readable and prepared.reads_tensors(config)
        else ({}, [])
    )
    if read_failures:
        extra = tuple(LoadIssue(IssueKind.UNREADABLE, msg) for msg in read_failures)
        graph = dataclasses.replace(graph, issues=graph.issues + extra)
    findings: list[Finding] = []
    errors: list[RuleError] = []
    run_codes: list[str] = []
    skipped: list[NotApplicable] = []
    runs: list[tuple[Rule, RuleContext]] = []
    for rule, options, severity in prepared.entries:
        reason = _not_applicable(rule, graph, reference, config.no_weights)
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
        runs.append((rule, ctx))
    # The rules that judge what could not be read run last: a rule that crashed left its
    # part of the audit undone, and that is their finding too (the gate fails closed).
    for late in (False, True):
        if late and errors:
            crashed = tuple(
                LoadIssue(IssueKind.INCOMPLETE, f"rule {e.code} crashed ({e.message})")
                for e in errors
            )
            graph = dataclasses.replace(graph, issues=graph.issues + crashed)
        for rule, ctx in runs:
            if rule.judges_unreadable != late:
                continue
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
        path=display_path(src.path),
        format=src.format if src.format in SOURCE_FORMATS else "unknown",
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
