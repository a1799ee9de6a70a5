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
    included; named as Keras resolves them, `layers.Lambda` under `keras` too), any
    marshalled Python function (`__lambda__`), and marshalled bytecode under any other key
    (a Lambda's `output_shape` or `mask`, or anywhere else), and reports what they would
    run: the length and SHA-256 of the bytecode, or the function they reference. Nothing
    is unmarshalled, imported or executed.

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
        reported: set[str] = set()  # config keys of the code reported as a Lambda's
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
            reported.add(where(document, key))
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
        yield from self._stray_code(model, ctx, reported)

    def _stray_code(
        self, model: ModelGraph, ctx: RuleContext, reported: set[str]
    ) -> Iterator[Finding]:
        """Marshalled bytecode under any key the Lambda findings did not cover."""
        for document, path, value, layer_path, layer_class in located_objects(model):
            for key, item in value.items():
                key_path = where(document, f"{path}.{key}" if path else str(key))
                texts = item if isinstance(item, list) else [item]
                code = next((t for t in texts if isinstance(t, str) and _is_bytecode(t)), None)
                if code is None or any(key_path.startswith(done) for done in reported):
                    continue
                evidence = _digest(code)
                yield self.finding(
                    ctx,
                    f"The config holds marshalled bytecode under `{key}` ({evidence['bytes']} "
                    f"bytes, SHA-256 {evidence['sha256'][:16]}...), which a Keras loader can "
                    "run. keras-audit did not unmarshal it.",
                    layer_path=layer_path,
                    layer_class=layer_class,
                    config_key=key_path,
                    fix="Do not load this file with safe_mode=False; re-save the model "
                    "without Lambda layers.",
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
    return _digest(code)


def _digest(code: str) -> dict[str, Any]:
    """The length and SHA-256 of base64-encoded bytecode, decoded (never unmarshalled)."""
    try:
        raw = base64.b64decode(code.encode("ascii", "replace"), validate=False)
    except (binascii.Error, ValueError):
        raw = code.encode("utf-8", "replace")
    return {"form": "bytecode", "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}


#: A marshalled code object starts with its type, `c` (with the reference flag: 0xe3), then
#: four-byte fields, then its bytecode as a bytes object (`s`, 0x73, or 0xf3): at byte 21
#: for CPython 3.7 and 3.11 on, 25 for 3.8-3.10. What `keras.utils.func_dump` writes, in
#: base64 (`Lambda.function`, `output_shape`, `mask`).
_CODE_TYPES = frozenset({0x63, 0xE3})
_BYTES_TYPES = frozenset({0x73, 0xF3})
_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n")


def _is_bytecode(text: str) -> bool:
    """True for base64 text that decodes to a marshalled code object (not unmarshalled)."""
    if len(text) < 40 or text[0] not in "4Y" or not _BASE64.issuperset(text[:64]):
        return False
    try:
        head = base64.b64decode(text[:36], validate=False)
    except (binascii.Error, ValueError):
        return False
    return (
        len(head) >= 26
        and head[0] in _CODE_TYPES
        and (head[21] in _BYTES_TYPES or head[25] in _BYTES_TYPES)
    )
