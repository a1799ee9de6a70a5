"""SEC002 foreign-module-reference."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from auditor.graph.model import ModelGraph
from auditor.graph.paths import common_prefix, paths_text
from auditor.results.findings import Finding, Severity
from auditor.rules._references import judge, resolve
from auditor.rules._security import located_objects, where
from auditor.rules._tf_ops import judge_tf_op, tf_op_function
from auditor.rules.base import Rule, RuleContext

#: What pickling NumPy arrays (and dicts of them) imports: NumPy's array and scalar
#: reconstructors under both of NumPy's module names, and the bytes decoder of pickle
#: protocols 0-2.
NUMPY_PICKLE_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }
)


class ForeignModuleReference(Rule):
    """## What it does
    Resolves every object in the model's config to the name Keras would load, exactly as
    Keras resolves it (a custom `registered_name` first, whatever the `module`; a `keras`
    module joined with its `class_name`, so `module: "keras", class_name:
    "layers.Lambda"` is `keras.layers.Lambda`; a legacy `class_name` without a module
    among the loader's own objects), and reports every name that is not a model component
    Keras defines: layers, models, initializers, regularizers, constraints, activations,
    losses, metrics, optimizers and schedules. Errors: system modules (`os`, `subprocess`,
    `builtins`), Keras APIs that load, fetch or unlock other files or code
    (`keras.utils.get_file`, `keras.config.enable_unsafe_deserialization`,
    `keras.saving.load_model`, the legacy loaders, `python_utils.func_load`), and layers that
    wrap a model from outside the file (`TFSMLayer`, `TorchModuleWrapper`). Warnings:
    custom registered objects, other packages, and `keras` names no Keras version
    keras-audit knows defines. Nothing is imported.

    tf.keras 2 records each TensorFlow function applied to a symbolic tensor (`x * 2`,
    `tf.nn.relu(x)`) as a `TFOpLambda` layer that names it (`math.multiply`); loading the
    model looks the name up among TensorFlow's API and calls it on every forward pass.
    Tensor ops (`math`, `nn`, `linalg`, `image`, operators, `reshape` ...) are not
    reported; functions that reach files, the system or native code (`io.write_file`,
    `print`, `load_library`, `saved_model`, file and Python-calling `raw_ops`) are errors;
    any other TensorFlow function is a warning.

    An npz weights member (`model.weights.npz`) holds pickles: every global they would
    import other than NumPy's array reconstructors is an error, found by walking the
    pickle opcodes (never unpickling), as fickling and picklescan do.

    ## Why is this bad?
    Loading a model imports the modules its config names and calls what it references.
    A config pointing at `os.system`, at a download helper or at the switch that disables
    safe mode turns "open this model" into "run this code" without any Lambda layer; the
    Keras CVEs of 2025 and 2026 used exactly these gadgets, spelled so that a check of the
    bare `class_name` or of the `module` alone misses them. Custom objects are legitimate
    but mean the file can only be trusted together with the code it names.

    ## Example
    ```python
    # config.json written by hand or by an attacker
    {"module": "keras", "class_name": "function", "config": "utils.get_file", ...}
    ```

    Use instead:
    ```python
    model.save("model.keras")  # layers and objects from keras.* and your registered package
    ```

    ## Options
    None.

    ## References
    - Keras 3 `keras.saving.serialization_lib._retrieve_class_or_fn` and
      `NON_MODELING_APIS`; the legacy `class_and_config_for_serialized_keras_object`
    - CVE-2025-1550, CVE-2025-8747, CVE-2025-9906, CVE-2026-1462 (safe-mode bypasses
      through module and function references)
    - keras-team/tf-keras `tf_keras/layers/core/tf_op_layer.py` (`TFOpLambda.from_config`:
      the function looked up with `tf_export.get_symbol_from_name`)
    - Python `pickletools`; trailofbits/fickling and mmaitre314/picklescan (pickle
      import scanning)
    """

    code: ClassVar[str] = "SEC002"
    name: ClassVar[str] = "foreign-module-reference"
    severity: ClassVar[Severity] = Severity.ERROR

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        for found in model.pickle_globals:
            if (found.module, found.name) in NUMPY_PICKLE_GLOBALS:
                continue
            name = f"{found.module}.{found.name}"
            yield self.finding(
                ctx,
                f"The pickle in `{found.member}` of the npz weights imports {name!r}: "
                "loading the weights with allow_pickle=True runs it. keras-audit did not "
                f"unpickle it. Received: module={found.module!r}, name={found.name!r}",
                layer_path="",
                config_key=f"model.weights.npz:{found.member}",
                fix="Do not load these weights; re-save the model as `.keras` with the "
                "default HDF5 weights.",
                details={"member": found.member, "module": found.module, "name": found.name},
            )
        # Each dangerous object is a finding of its own; the objects that name the same
        # custom or unknown code are one finding, wherever they are.
        repeated: dict[tuple[str, str], list[tuple[str, str, str, str | None]]] = {}
        for document, path, value, layer_path, layer_class in located_objects(model):
            function = tf_op_function(value)
            if function is not None:  # tf.keras 2's own layer: what it calls is the question
                reference, verdict = f"tf.{function.removeprefix('tf.')}", judge_tf_op(function)
                how = "TFOpLambda"
            else:
                resolved = resolve(value)
                verdict = judge(resolved) if resolved is not None else None
                if resolved is None:
                    continue
                reference, how = resolved.name, resolved.how
            if verdict is None:
                continue
            severity, why = verdict
            if severity is Severity.WARNING:
                place = (where(document, path), layer_path, _received(value), layer_class)
                repeated.setdefault((reference, why), []).append(place)
                continue
            yield self.finding(
                ctx,
                f"The config references {reference!r}: {why}. keras-audit did not import "
                f"it. Received: {_received(value)}",
                layer_path=layer_path,
                layer_class=layer_class,
                config_key=where(document, path),
                severity=severity,
                fix=_FIX,
                details={"reference": reference, "resolved_by": how, "why": why},
            )
        for (name, why), places in repeated.items():
            keys = [key for key, _, _, _ in places]
            layers = sorted({layer for _, layer, _, _ in places})
            many = len(places) > 1
            named = [layer for layer in layers if layer]
            where_text = f" in {len(places)} objects" if many else ""
            where_text += f" ({paths_text(named)})" if many and named else ""
            yield self.finding(
                ctx,
                f"The config references {name!r}{where_text}: {why}. keras-audit did not "
                f"import it. Received: {places[0][2]}",
                layer_path=common_prefix(layers) if many else places[0][1],
                layer_class=None if many else places[0][3],
                config_key=keys[0],
                severity=Severity.WARNING,
                fix=_FIX,
                details={"reference": name, "why": why, "config_keys": keys},
            )


_FIX = (
    "Load this file only if you trust its author and the code it names; re-save it from "
    "Keras layers and your own registered package otherwise."
)


def _received(value: Mapping[str, Any]) -> str:
    """The object's naming keys as written (`module='keras', class_name='layers.Lambda'`)."""
    keys = ("module", "class_name", "registered_name")
    shown = [f"{key}={value[key]!r}" for key in keys if isinstance(value.get(key), str)]
    config = value.get("config")
    if value.get("class_name") == "function" and isinstance(config, str):
        shown.append(f"config={config!r}")
    elif tf_op_function(value) is not None:
        shown.append(f"function={config['function']!r}")
    return ", ".join(shown)
