"""What the SEC rules share: where a JSON object sits, and the issues of given kinds."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from auditor.analysis import layer_at, layer_index, walk_documents
from auditor.findings import Finding
from auditor.model import IssueKind, LoadIssue, ModelGraph
from auditor.rule import Rule, RuleContext

__all__ = ["issue_findings", "issues_of", "located_objects", "where"]

# Documents whose key paths are the model config's (the ones layers are keyed in).
_MODEL_DOCUMENTS = frozenset({"config.json", "model_config"})


def located_objects(
    model: ModelGraph,
) -> Iterator[tuple[str, str, Mapping[str, Any], str, str | None]]:
    """Every JSON object: (document, key path, object, layer path, layer class)."""
    index = layer_index(model)
    for document, path, value in walk_documents(model):
        layer = layer_at(index, path) if document in _MODEL_DOCUMENTS else None
        yield (
            document,
            path,
            value,
            layer.path if layer else "",
            layer.class_name if layer else None,
        )


def where(document: str, path: str) -> str:
    """`config.json:config.layers[2].config.function` for evidence and config keys."""
    return f"{document}:{path}" if path else document


def issues_of(model: ModelGraph, kinds: frozenset[IssueKind]) -> list[LoadIssue]:
    """The load issues of the given kinds."""
    return [issue for issue in model.issues if issue.kind in kinds]


def issue_findings(
    rule: Rule,
    ctx: RuleContext,
    model: ModelGraph,
    kinds: frozenset[IssueKind],
    message: str,
    fix: str,
) -> Iterator[Finding]:
    """One model-level finding per load issue of `kinds`; `message` has an `{issue}` slot."""
    for issue in issues_of(model, kinds):
        yield rule.finding(
            ctx,
            message.format(issue=issue.message),
            layer_path="",
            config_key=issue.where or None,
            fix=fix,
            details={"kind": issue.kind.value, "where": issue.where, "fatal": issue.fatal},
        )
