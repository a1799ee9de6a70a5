"""The TensorFlow functions a tf.keras 2 model calls through `TFOpLambda` layers.

tf.keras 2 records every TensorFlow function applied to a symbolic tensor (`x * 2`,
`tf.nn.relu(x)`, `x[:, 0]`) as a `TFOpLambda` (or `SlicingOpLambda`) layer whose config
names the function by its public API name without the `tf.` prefix (`math.multiply`,
`__operators__.getitem`), and whose call node stores the other arguments. Loading the
model looks the name up among TensorFlow's exported symbols (`tf_export.
get_symbol_from_name`) and calls it on every forward pass: a name that writes files, loads
a shared library or prints to a file turns "call this model" into that, with arguments
the file chose. Nothing here imports TensorFlow: the names are judged as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.results.findings import Severity

__all__ = ["TF_OP_CLASSES", "judge_tf_op", "tf_op_function"]

#: tf.keras 2's layers that call a TensorFlow function named in their config.
TF_OP_CLASSES = frozenset({"TFOpLambda", "SlicingOpLambda"})
#: Namespaces of functions that only compute on tensors.
_PURE_NAMESPACES = (
    "__operators__.",
    "math.",
    "nn.",
    "linalg.",
    "signal.",
    "image.",
    "bitwise.",
    "random.",
    "strings.",
    "sparse.",
    "ragged.",
    "dtypes.",
    "experimental.numpy.",
)
#: Top-level functions that only compute on tensors (most are aliases of `math.*`).
_PURE_NAMES = frozenset(
    {
        "abs",
        "add",
        "add_n",
        "argmax",
        "argmin",
        "argsort",
        "boolean_mask",
        "broadcast_to",
        "cast",
        "ceil",
        "clip_by_norm",
        "clip_by_value",
        "concat",
        "constant",
        "convert_to_tensor",
        "cos",
        "cumsum",
        "divide",
        "einsum",
        "equal",
        "exp",
        "expand_dims",
        "eye",
        "fill",
        "floor",
        "gather",
        "gather_nd",
        "greater",
        "greater_equal",
        "identity",
        "less",
        "less_equal",
        "linspace",
        "logical_and",
        "logical_not",
        "logical_or",
        "matmul",
        "maximum",
        "meshgrid",
        "minimum",
        "multiply",
        "negative",
        "norm",
        "not_equal",
        "one_hot",
        "ones",
        "ones_like",
        "pad",
        "pow",
        "range",
        "rank",
        "reduce_all",
        "reduce_any",
        "reduce_logsumexp",
        "reduce_max",
        "reduce_mean",
        "reduce_min",
        "reduce_prod",
        "reduce_sum",
        "repeat",
        "reshape",
        "reverse",
        "roll",
        "round",
        "scatter_nd",
        "shape",
        "sigmoid",
        "sign",
        "sin",
        "size",
        "slice",
        "sort",
        "split",
        "sqrt",
        "square",
        "squeeze",
        "stack",
        "stop_gradient",
        "subtract",
        "tanh",
        "tensor_scatter_nd_update",
        "tile",
        "transpose",
        "truediv",
        "unstack",
        "where",
        "zeros",
        "zeros_like",
    }
)
#: What reaches files, the system, native code or the runtime: namespaces, and names.
_GADGET_NAMESPACES = (
    "io.",
    "saved_model.",
    "summary.",
    "debugging.experimental.",
    "config.",
    "data.",
    "gfile.",
    "train.",
    "keras.",
    "distribute.",
    "tpu.",
    "lookup.",
)
_GADGET_NAMES = frozenset(
    {
        "print",
        "load_op_library",
        "load_library",
        "py_function",
        "numpy_function",
        "py_func",
        "write_file",
        "read_file",
        "matching_files",
        "Print",
    }
)
#: Parts of `raw_ops` names that read or write files, print, or call Python.
_GADGET_RAW_OPS = (
    "File",
    "Save",
    "Restore",
    "Print",
    "Debug",
    "PyFunc",
    "Summary",
    "Reader",
    "Checkpoint",
    "Writer",
    "ImmutableConst",
    "Dataset",
)


def tf_op_function(value: Mapping[str, Any]) -> str | None:
    """The TensorFlow function a serialized `TFOpLambda` layer calls (`math.multiply`),
    or None for any other object."""
    class_name = value.get("class_name")
    if not isinstance(class_name, str) or class_name not in TF_OP_CLASSES:
        return None
    module = value.get("module")
    if isinstance(module, str) and module.split(".")[0] not in ("tf_keras", "keras"):
        return None  # another package's class of that name: judged as any reference
    config = value.get("config")
    function = config.get("function") if isinstance(config, Mapping) else None
    return function if isinstance(function, str) else None


def judge_tf_op(function: str) -> tuple[Severity, str] | None:
    """(severity, why) for a function a `TFOpLambda` calls; None for a tensor op."""
    name = function.removeprefix("tf.")
    for prefix in ("compat.v1.", "compat.v2."):
        name = name.removeprefix(prefix)
    if name.startswith("raw_ops."):
        op = name.removeprefix("raw_ops.")
        if any(part in op for part in _GADGET_RAW_OPS):
            return Severity.ERROR, _GADGET
        return Severity.WARNING, _UNKNOWN
    if name.startswith(_GADGET_NAMESPACES) or name in _GADGET_NAMES:
        return Severity.ERROR, _GADGET
    if name.startswith(_PURE_NAMESPACES) or name in _PURE_NAMES:
        return None
    return Severity.WARNING, _UNKNOWN


_GADGET = (
    "a TensorFlow function that reaches files, the system, native code or the runtime; "
    "TFOpLambda calls it, with the arguments the file stores, on every forward pass"
)
_UNKNOWN = (
    "a TensorFlow function keras-audit does not know to compute on tensors only; TFOpLambda "
    "calls it, with the arguments the file stores, on every forward pass"
)
