"""SEC005 unsafe-graph-op."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from pydantic import Field

from auditor.graph.model import ModelGraph
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext, RuleOptions

#: Ops that call back into the Python process that runs the graph.
PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
#: Ops that read, write or list files by a path the graph computes.
FILE_OPS = frozenset(
    {
        "ReadFile",
        "WriteFile",
        "MatchingFiles",
        "ImmutableConst",
        "Save",
        "SaveSlices",
        "Restore",
        "RestoreSlice",
        "TextLineDataset",
        "TFRecordDataset",
        "TFRecordDatasetV2",
        "FixedLengthRecordDataset",
        "FixedLengthRecordDatasetV2",
        "CreateSummaryFileWriter",
    }
)


class UnsafeGraphOp(Rule):
    """## What it does
    Lists the ops of a SavedModel's graph and of every function in its library, read from
    `saved_model.pb` without TensorFlow, and reports those that touch the file system
    (`ReadFile`, `WriteFile`, `MatchingFiles`, dataset readers, summary writers) or call
    back into Python (`PyFunc`, `EagerPyFunc`), with the function they sit in. The ops of
    the checkpoint functions every SavedModel has (`SaveV2`, `RestoreV2`,
    `MergeV2Checkpoints`, `ShardedFilename`, `StringJoin`) are not reported.

    ## Why is this bad?
    A SavedModel's graph runs when the model is served or called
    (`tf.saved_model.load(path)(x)`, Keras 3's `TFSMLayer`). A model's computation needs
    no file access: a `ReadFile` of `/etc/passwd` or a `WriteFile` into a start-up script
    in its serving function is an attack that no Keras-level check sees, and a `PyFunc`
    runs whatever Python function the loading process registered under its token.

    ## Example
    ```python
    @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
    def serve(x):
        return tf.io.read_file("/etc/passwd")
    ```

    Use instead:
    ```python
    model.export("serving")  # only the model's own computation in the graph
    ```

    ## Options
    - `extra_ops`: more op names to report (default none).

    ## References
    - TensorFlow security model: "Running untrusted models"
      (https://github.com/tensorflow/tensorflow/blob/master/SECURITY.md)
    - CVE-2026-1462 (Keras TFSMLayer loads a SavedModel's graph)
    """

    code: ClassVar[str] = "SEC005"
    name: ClassVar[str] = "unsafe-graph-op"
    severity: ClassVar[Severity] = Severity.ERROR
    requires: ClassVar[frozenset[str]] = frozenset({"graph"})

    class Options(RuleOptions):
        """Settings of SEC005."""

        extra_ops: list[str] = Field(default_factory=list)

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        extra = frozenset(ctx.options.extra_ops)
        for use in model.ops:
            if use.op in PYTHON_OPS:
                what = "calls back into the Python process that runs it"
            elif use.op in FILE_OPS or use.op in extra:
                what = "reaches the file system by a path the graph computes"
            else:
                continue
            where = f"function `{use.function}`" if use.function else "the top-level graph"
            yield self.finding(
                ctx,
                f"The SavedModel's {where} holds {use.count} `{use.op}` op(s), which "
                f"{what}: a model's computation needs neither. Received: op={use.op!r}",
                layer_path="",
                layer_class=model.root.class_name,
                config_key=f"saved_model.pb:{use.function or '<graph>'}",
                fix="Do not load or serve this SavedModel; re-export the model from its "
                "source code (`model.export(...)`) and audit it again.",
                details={"op": use.op, "function": use.function, "count": use.count},
            )
