"""WD004 exclusion-matches-nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.model import ModelGraph
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext


class ExclusionMatchesNothing(Rule):
    """## What it does
    Checks, on a live model, each `exclude_from_weight_decay(var_names=...)` pattern
    against the trainable variables, the way Keras 3 does (`re.search` against the short
    `variable.name`: `kernel`, `bias`, `gamma`, `beta`, `embeddings`), and reports the
    patterns that match none of them.

    ## Why is this bad?
    A pattern that matches nothing excludes nothing, silently. Layer names and paths are
    not searched, so the natural `var_names=["batch_normalization", "LayerNorm"]` leaves
    every normalization layer decayed. The same mistake shipped in Hugging Face's
    TensorFlow AdamW (transformers#4360).

    ## Example
    ```python
    optimizer.exclude_from_weight_decay(var_names=["batch_normalization", "bias"])
    ```

    Use instead:
    ```python
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    ```

    ## Options
    None.

    ## References
    - Keras 3 `BaseOptimizer._use_weight_decay` (`re.search(pattern, variable.name)`)
    - huggingface/transformers#4360 (exclusion names that matched no variable)
    """

    code: ClassVar[str] = "WD004"
    name: ClassVar[str] = "exclusion-matches-nothing"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"live", "compile"})

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        optimizer = model.optimizer
        if optimizer is None or not optimizer.exclusions:
            return
        trainable = [w for w in model.weights() if w.trainable]
        names = sorted({w.name for w in trainable})
        for pattern in optimizer.exclusions:
            if any(re.search(pattern, name) for name in names):
                continue
            by_path = sorted({w.name for w in trainable if re.search(pattern, w.path)})
            hint = (
                f" It does match the paths of variables named {by_path}: exclude those names "
                "instead, or pass the variables as `var_list=`."
                if by_path
                else ""
            )
            yield self.finding(
                ctx,
                f"Weight-decay exclusion pattern {pattern!r} matches no trainable variable: "
                "Keras 3 searches the short variable name (such as `kernel`, `bias`, `gamma`)"
                f", not the layer name or path.{hint} Received: var_names pattern {pattern!r}",
                layer_path="",
                layer_class=model.root.class_name,
                fix='Use variable names, e.g. `exclude_from_weight_decay(var_names=["bias", '
                '"gamma", "beta"])`, or `var_list=[...]` for specific variables. The '
                f"trainable variable names here are {names[:12]}.",
                details={"pattern": pattern, "matches_paths_of": by_path, "names": names},
            )
