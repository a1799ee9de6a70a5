"""REG014 regularizer-dropped-by-version."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.model import ModelGraph
from auditor.graph.paths import paths_text
from auditor.graph.version_bugs import VERSION_BUGS
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext


class RegularizerDroppedByVersion(Rule):
    """## What it does
    Checks the `keras_version` that wrote a file against Keras bugs that dropped declared
    regularizers from the loss, and reports the weights whose penalty the config declares
    but training never applied. The known bug: standalone Keras before 2.2.0 did not apply
    the regularizers of a `Bidirectional` wrapper's backward layer. The file-mode
    counterpart of REG001; such penalties are also left out of REG010's sum and WD002's
    list.

    ## Why is this bad?
    The config is the only record of how the weights were trained, and here it is wrong:
    the backward layer was never regularized. The forward and backward weights of one
    layer were trained under different penalties, and a reload in a fixed version (any
    Keras from 2.2.0 on, tf.keras, Keras 3) switches the missing penalty on, so the loss
    jumps and those weights start to shrink on the first step of fine-tuning.

    ## Example
    ```python
    # Keras 2.1.6
    model.add(Bidirectional(GRU(64, kernel_regularizer=l2(1e-4))))  # backward: no L2
    model.save("model.h5")
    ```

    Use instead:
    ```python
    # Keras 2.2.0 or later applies both directions' regularizers; when fine-tuning an
    # old file, decide deliberately whether the backward layer should now be penalized.
    ```

    ## Options
    None.

    ## References
    - keras-team/keras#7514 (Bidirectional: regularization not applied to the reverse
      network), fixed by keras-team/keras#10012 (Keras 2.2.0)
    """

    code: ClassVar[str] = "REG014"
    name: ClassVar[str] = "regularizer-dropped-by-version"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"config"})

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        version = model.source.keras_version
        for bug in VERSION_BUGS:
            if not bug.affects(version):
                continue
            for layer, weights in bug.layers(model):
                penalties = sorted({w.regularizer.describe() for w in weights if w.regularizer})
                yield self.finding(
                    ctx,
                    f"This file was written by Keras {version}, and in Keras before "
                    f"{bug.fixed_in_text} {bug.summary} ({bug.reference}). `{layer.path}` "
                    "declares "
                    f"{', '.join(penalties)} on {paths_text([w.shown for w in weights])}, "
                    f"but training never penalized {'it' if len(weights) == 1 else 'them'}; a "
                    "reload in a fixed version does.",
                    layer=layer,
                    config_key=weights[0].regularizer_key,
                    fix="Fine-tune with the penalty knowingly (it is new to these weights), "
                    "or set the backward layer's regularizers to None.",
                    details={
                        "keras_version": version,
                        "fixed_in": bug.fixed_in_text,
                        "reference": bug.reference,
                        "weights": [w.path for w in weights],
                    },
                )
