"""The finding REG004, REG005 and REG006 share: optimizer weight decay reaching weights
that should not be decayed (one model-level finding per rule)."""

from __future__ import annotations

from auditor.graph.decay import optimizer_label, optimizer_note
from auditor.graph.model import ModelGraph, WeightRef
from auditor.graph.paths import paths_text
from auditor.results.findings import Finding
from auditor.rules.base import Rule, RuleContext

__all__ = ["optimizer_decay_finding"]


def optimizer_decay_finding(
    rule: Rule,
    ctx: RuleContext,
    model: ModelGraph,
    decayed: list[WeightRef],
    what: str,
    fix: str,
) -> Finding:
    """`<Optimizer>(weight_decay=...) also decays <what>: <paths>.` at the model level.

    Args:
        what: str, the decayed things, counted (`"2 depthwise kernel(s)"`), followed by the
            paths listed in the message (`what` says what they are).
        fix: str, the exclusion call to paste.
    """
    return rule.finding(
        ctx,
        f"{optimizer_label(model)} also decays {what}.{optimizer_note(model)}",
        layer_path="",
        layer_class=model.root.class_name,
        config_key="compile_config.optimizer.config.weight_decay",
        fix=fix,
        details={"weights": [w.path for w in decayed]},
    )


def listed(paths: list[str]) -> str:
    """`: a, b and 3 more` for the end of `what`."""
    return f": {paths_text(paths)}"
