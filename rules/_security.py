"""What the SEC rules share: where a JSON object sits, and the issues of given kinds."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from auditor.graph.documents import walk_objects
from auditor.graph.model import IssueKind, LoadIssue, ModelGraph
from auditor.graph.paths import layer_index
from auditor.results.findings import Finding
from auditor.rules.base import Rule, RuleContext

__all__ = ["issue_findings", "issues_of", "located_objects", "where"]

# Documents whose key paths are the model config's (the ones layers are keyed in).
_MODEL_DOCUMENTS = frozenset({"config.json", "model_config"})


Located = tuple[str, str, Mapping[str, Any], str, str | None]

# The SEC rules each walk every JSON object of the same model: the walk is done once and
# kept for the model being audited (one entry: the cache never grows with the files).
_walked: tuple[ModelGraph, tuple[Located, ...]] | None = None


def located_objects(model: ModelGraph) -> tuple[Located, ...]:
    """Every JSON object: (document, key path, object, layer path, layer class)."""
    global _walked
    if _walked is None or _walked[0] is not model:
        _walked = (model, tuple(_locate(model)))
    return _walked[1]


def _locate(model: ModelGraph) -> Iterator[Located]:
    index = layer_index(model)
    for document, tree in model.documents:
        keyed = index if document in _MODEL_DOCUMENTS else None
        for path, value, layer in walk_objects(tree, keyed):
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
