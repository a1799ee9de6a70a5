"""SEC002 foreign-module-reference."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from auditor.graph.model import ModelGraph
from auditor.results.findings import Finding, Severity
from auditor.rules._security import located_objects, where
from auditor.rules.base import Rule, RuleContext

# Keras APIs that turn a model file into a download, a file read or an unsafe load.
_GADGET_FUNCTIONS = frozenset(
    {"get_file", "enable_unsafe_deserialization", "load_model", "load_weights", "model_from_json"}
)
_GADGET_CLASSES = frozenset({"TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"})
# Modules no model has a reason to name.
_DANGEROUS_MODULES = frozenset(
    {
        "os",
        "posix",
        "nt",
        "subprocess",
        "builtins",
        "__builtin__",
        "sys",
        "shutil",
        "importlib",
        "pickle",
        "marshal",
        "runpy",
        "code",
        "pty",
        "socket",
        "ctypes",
        "webbrowser",
    }
)


class ForeignModuleReference(Rule):
    """## What it does
    Finds every object in the model config that names code outside Keras: a `module`
    that is not `keras.*`, a custom `registered_name` (`package>Name`), and references to
    Keras APIs that act on other files (`keras.utils.get_file`, `load_model`,
    `keras.config.enable_unsafe_deserialization`, `keras.saving.*`) or wrap foreign models
    (`TFSMLayer`, `TorchModuleWrapper`). Custom registered objects are warnings; gadgets and
    modules such as `os`, `subprocess` or `builtins` are errors. Nothing is imported.

    ## Why is this bad?
    Loading a model imports every module its config names and calls what it references.
    A config pointing at `os.system`, at a download helper or at the switch that disables
    safe mode turns "open this model" into "run this code" without any Lambda layer; the
    Keras CVEs of 2025 and 2026 used exactly these gadgets. Custom objects are legitimate
    but mean the file can only be trusted together with the code it names.

    ## Example
    ```python
    # config.json written by hand or by an attacker
    {"module": "keras.utils", "class_name": "function", "config": "get_file", ...}
    ```

    Use instead:
    ```python
    model.save("model.keras")  # layers and objects from keras.* and your registered package
    ```

    ## Options
    None.

    ## References
    - CVE-2025-1550, CVE-2025-8747, CVE-2025-9906, CVE-2026-1462 (safe-mode bypasses
      through module and function references)
    """

    code: ClassVar[str] = "SEC002"
    name: ClassVar[str] = "foreign-module-reference"
    severity: ClassVar[Severity] = Severity.ERROR

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        for document, path, value, layer_path, layer_class in located_objects(model):
            verdict = _judge(value)
            if verdict is None:
                continue
            severity, reference, why = verdict
            yield self.finding(
                ctx,
                f"The config references {reference!r}: {why}. keras-audit did not import "
                f"it. Received: {reference}",
                layer_path=layer_path,
                layer_class=layer_class,
                config_key=where(document, path),
                severity=severity,
                fix="Load this file only if you trust its author and the code it names; "
                "re-save it from Keras layers and your own registered package otherwise.",
                details={"reference": reference, "why": why},
            )


def _judge(value: Mapping[str, Any]) -> tuple[Severity, str, str] | None:
    """(severity, reference, why) for an object naming foreign or dangerous code."""
    module = value.get("module")
    class_name = value.get("class_name")
    registered = value.get("registered_name")
    config = value.get("config")
    module = module if isinstance(module, str) else ""
    class_name = class_name if isinstance(class_name, str) else ""
    called = config if isinstance(config, str) else class_name
    root = module.partition(".")[0]
    if class_name in _GADGET_CLASSES:
        severity, why = Severity.ERROR, f"{class_name} wraps a model that lives outside this file"
    elif called in _GADGET_FUNCTIONS or module.startswith(("keras.saving", "keras.src.saving")):
        severity, why = Severity.ERROR, "a Keras API that loads, downloads or unlocks other code"
    elif root in _DANGEROUS_MODULES:
        severity, why = Severity.ERROR, f"module {module!r} gives access to the system"
    elif module and root not in ("keras", "tensorflow", "tf_keras"):
        severity, why = Severity.WARNING, f"module {module!r} is not part of Keras"
    elif isinstance(registered, str) and ">" in registered and not module.startswith("keras"):
        return Severity.WARNING, registered, "a custom registered object (its code is elsewhere)"
    else:
        return None
    reference = ".".join(part for part in (module, called) if part) or str(registered)
    return severity, reference, why
