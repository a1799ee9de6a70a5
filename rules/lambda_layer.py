"""SEC001 lambda-layer."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from auditor.graph.model import ModelGraph
from auditor.results.findings import Finding, Severity
from auditor.rules._references import keras_class
from auditor.rules._security import located_objects, where
from auditor.rules.base import Rule, RuleContext

_LAMBDA = frozenset({"Lambda"})


class LambdaLayer(Rule):
    """## What it does
    Finds `Lambda` layers anywhere in the model config (nested models, wrappers, cells
    included) and any marshalled Python function (`__lambda__`), and reports what they
    would run: the length and SHA-256 of the bytecode, or the function they reference.
    Nothing is unmarshalled, imported or executed.

    ## Why is this bad?
    A Lambda layer stores Python bytecode that Keras executes when the model is loaded
    with `safe_mode=False` (or by older Keras versions, always): opening the file runs
    code chosen by whoever wrote it. This is how several model-loading CVEs were
    exploited, and safe-mode bypasses keep being found.

    ## Example
    ```python
    x = keras.layers.Lambda(lambda t: t * 2)(x)
    ```

    Use instead:
    ```python
    @keras.saving.register_keras_serializable(package="my_project")
    class Double(keras.layers.Layer):
        def call(self, t):
            return t * 2
    ```

    ## Options
    None.

    ## References
    - CVE-2024-3660 (arbitrary code execution through Lambda layers)
    - CVE-2025-9905 (safe_mode ignored for legacy .h5 Lambda layers)
    """

    code: ClassVar[str] = "SEC001"
    name: ClassVar[str] = "lambda-layer"
    severity: ClassVar[Severity] = Severity.ERROR

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        for document, path, value, layer_path, layer_class in located_objects(model):
            marshalled = value.get("class_name") == "__lambda__"
            if keras_class(value, _LAMBDA) is not None:
                config = value.get("config")
                config = config if isinstance(config, Mapping) else {}
                function = config.get("function")
                key = f"{path}.config.function" if path else "config.function"
            elif marshalled and not path.endswith(".config.function"):
                function, key = value, path  # marshalled code outside a Lambda layer
            else:
                continue
            evidence = _evidence(function, {} if marshalled else config)
            what = (
                f"marshalled bytecode ({evidence['bytes']} bytes, SHA-256 "
                f"{evidence['sha256'][:16]}...)"
                if "sha256" in evidence
                else f"a reference to {evidence.get('function', 'an unknown function')!r}"
            )
            label = "A marshalled function" if marshalled else f"Lambda layer `{layer_path}`"
            yield self.finding(
                ctx,
                f"{label} carries {what}, which Keras runs when the model is loaded with "
                "safe_mode=False (or by older Keras). keras-audit did not run, import or "
                "unmarshal it.",
                layer_path=layer_path,
                layer_class=layer_class,
                config_key=where(document, key),
                fix="Replace the Lambda with a registered custom layer, and never load "
                "files from untrusted sources with safe_mode=False.",
                details=evidence,
            )


def _evidence(function: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    """Bytecode length and hash, or the referenced function, without unmarshalling."""
    code: Any = None
    if isinstance(function, Mapping):
        inner = function.get("config")
        if function.get("class_name") == "__lambda__" and isinstance(inner, Mapping):
            code = inner.get("code")
        elif isinstance(inner, str):
            module = function.get("module") or ""
            return {"function": f"{module}.{inner}" if module else inner, "form": "reference"}
    elif isinstance(function, list) and function:
        code = function[0]  # legacy [code, defaults, closure]
    elif isinstance(function, str):
        if config.get("function_type") == "lambda":
            code = function
        else:
            module = config.get("module") or ""
            return {"function": f"{module}.{function}" if module else function, "form": "raw"}
    if not isinstance(code, str):
        return {"form": "unknown"}
    try:
        raw = base64.b64decode(code.encode("ascii", "replace"), validate=False)
    except (binascii.Error, ValueError):
        raw = code.encode("utf-8", "replace")
    return {"form": "bytecode", "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
