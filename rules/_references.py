"""What a serialized object names, resolved the way Keras resolves it, and judged against
the names a model config legitimately gives.

Keras 3 resolves `{"module", "class_name", "registered_name", "config"}` in
`keras.saving.serialization_lib._retrieve_class_or_fn`: an object registered under the
`registered_name` (a function's under its name) comes first, whatever the `module`; then,
for `keras` modules, the public API name `module + "." + class_name`
(`module: "keras", class_name: "layers.Lambda"` is `keras.layers.Lambda`); a function of
`module: "builtins"` is searched in Keras's modules of built-in functions; any other
module is imported (any at all before Keras 3.9). Without a `module`, the legacy loaders
(Keras 3's for `.h5`, and tf-keras) look the `class_name` up among the loading program's
custom objects, then among their own. Nothing here imports anything: the names Keras
defines are read from `_keras_names.json`, built from Keras itself by the tests.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from auditor.results.findings import Severity

__all__ = ["Catalog", "Resolved", "catalog", "judge", "keras_class", "resolve"]

How = Literal["registered", "module", "builtins", "legacy"]


@dataclass(frozen=True, slots=True)
class Resolved:
    """A serialized object's name as Keras resolves it.

    Attributes:
        name: str, the full name: dotted for a module (`keras.layers.Lambda`, `os.system`),
            the registration key for a registered object (`acme>Backdoor`), the bare name
            for a legacy one (`MyLayer`).
        short: str, the class or function name itself (`Lambda`, `system`, `Backdoor`).
        how: how Keras finds it: `registered` (its registration key, whatever the module),
            `module` (a module and a name), `builtins` (a function searched among Keras's
            built-in functions), or `legacy` (a class name without a module).
        function: bool, a function reference (`class_name: "function"`), not a class.
    """

    name: str
    short: str
    how: How
    function: bool = False

    @property
    def root(self) -> str:
        """The top-level package the name is found in (`keras`, `os`), `""` for names
        found without a module."""
        return self.name.split(".", 1)[0] if self.how in ("module", "builtins") else ""


def resolve(value: Mapping[str, Any]) -> Resolved | None:
    """The name a serialized object gives, as Keras resolves it; None for a mapping that
    names nothing (no string `class_name`, or a function reference without a name)."""
    class_name = value.get("class_name")
    if class_name == "__typespec__":
        class_name = value.get("spec_name")
    if not isinstance(class_name, str):
        return None
    module = value.get("module")
    module = module if isinstance(module, str) and module else None
    registered = value.get("registered_name")
    if class_name == "function":
        name = value.get("config")
        if not isinstance(name, str) or not name:
            return None
        if ">" in name:
            return Resolved(name, name.rsplit(">", 1)[1], "registered", function=True)
        if module == "builtins":
            return Resolved(f"builtins.{name}", name, "builtins", function=True)
        if module is None:
            return Resolved(name, name.rsplit(".", 1)[-1], "legacy", function=True)
        return Resolved(f"{module}.{name}", name.rsplit(".", 1)[-1], "module", function=True)
    key = registered if isinstance(registered, str) and registered else class_name
    if ">" in key:
        return Resolved(key, key.rsplit(">", 1)[1], "registered")
    short = class_name.rsplit(".", 1)[-1]
    if module is None:
        return Resolved(class_name, short, "legacy")
    return Resolved(f"{module}.{class_name}", short, "module")


#: Layers of Keras 1 that Keras 2.0-2.1 still loaded from `keras/legacy/layers.py`, and that
#: no Keras the catalog is built from defines: a file of that time names them without a
#: module. (A `Merge` whose `mode` is a marshalled function is SEC001's.)
LEGACY_LAYERS = frozenset({"Merge", "MaxoutDense", "Highway"})


@dataclass(frozen=True, slots=True)
class Catalog:
    """The names of `_keras_names.json` (see tests/keras_catalog.py)."""

    keras: str
    tf_keras: str
    names: frozenset[str]
    builtins: frozenset[str]
    short: frozenset[str]
    denied: frozenset[str]

    def knows(self, resolved: Resolved) -> bool:
        """True when Keras defines what `resolved` names as a model component."""
        if resolved.how == "module":
            return resolved.name in self.names
        if resolved.how == "builtins":
            return resolved.short in self.builtins
        if resolved.how == "legacy":
            return resolved.name in self.short or resolved.name in LEGACY_LAYERS
        return resolved.name in self.short  # tf-keras's own registered names (Custom>Adam)


@functools.cache
def catalog() -> Catalog:
    """The catalog shipped beside this module."""
    text = resources.files("auditor.rules").joinpath("_keras_names.json").read_text("utf-8")
    data = json.loads(text)
    return Catalog(
        keras=data["keras"],
        tf_keras=data["tf_keras"],
        names=frozenset(data["names"]),
        builtins=frozenset(data["builtins"]),
        short=frozenset(data["short"]),
        denied=frozenset(data["denied"]),
    )


#: Modules no model has a reason to name: they reach the system, run code or unpickle.
_SYSTEM = frozenset(
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
        "io",
        "pathlib",
        "tempfile",
        "urllib",
        "requests",
        "dill",
        "cloudpickle",
        "joblib",
    }
)
#: Where Keras keeps what loads, saves, fetches or unpacks files, or runs serialized code:
#: `keras.saving`, the legacy loaders (`legacy_h5_format.load_model_from_hdf5`,
#: `serialization.deserialize_keras_object`), `keras.utils` (`get_file`, `file_utils`'s
#: `rmtree` and `extract_archive`, `python_utils.func_load`), `keras.config`
#: (`enable_unsafe_deserialization`), `keras.models.load_model`, and tf-keras's and
#: TensorFlow's own.
_GADGET_MODULES = (
    "keras.saving",
    "keras.src.saving",
    "keras.src.legacy",
    "keras.legacy",
    "keras.utils",
    "keras.src.utils",
    "keras.config",
    "keras.src.backend.config",
    "keras.backend",
    "keras.models.load_model",
    "keras.models.model_from_json",
    "keras.src.models.model.model_from_json",
    "keras.src.export",
    "tf_keras.saving",
    "tf_keras.src.saving",
    "tf_keras.utils",
    "tf_keras.src.utils",
    "tf_keras.models.load_model",
    "tensorflow.io",
    "tensorflow.saved_model",
    "tensorflow.keras.models.load_model",
    "tensorflow.py_function",
    "tensorflow.numpy_function",
)
#: Layers that run or load a model from outside the file: a SavedModel (`TFSMLayer`,
#: CVE-2026-1462), a pickled PyTorch module (`TorchModuleWrapper`), JAX or Flax code.
GADGET_CLASSES = frozenset({"TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"})
#: The packages of Keras and its libraries: Keras 3.9+ imports classes from the first four.
_KERAS_FAMILY = frozenset({"keras", "keras_hub", "keras_cv", "keras_nlp", "tf_keras", "tensorflow"})


def judge(resolved: Resolved) -> tuple[Severity, str] | None:
    """(severity, why) for a name a model config should not give, None for a model
    component Keras defines.

    Errors: code that reaches the system, Keras APIs that load, fetch or unlock other
    files or code, and layers wrapping a model from outside the file. Warnings: every other
    name Keras does not define as a model component (custom registered objects, other
    packages, and `keras` names no version keras-audit knows defines).
    """
    known = catalog()
    gadget_class = resolved.short in GADGET_CLASSES and resolved.how != "registered"
    if known.knows(resolved) and not gadget_class:
        return None  # a model component (`keras.utils.FeatureSpace` and `relu` included)
    if resolved.root in _SYSTEM:
        return Severity.ERROR, f"module {resolved.root!r} gives access to the system"
    if resolved.name in known.denied or any(
        resolved.name == module or resolved.name.startswith(f"{module}.")
        for module in _GADGET_MODULES
    ):
        return Severity.ERROR, "a Keras API that loads, fetches or unlocks other files or code"
    if gadget_class:
        return Severity.ERROR, f"{resolved.short} wraps a model that lives outside this file"
    if resolved.how == "registered":
        return Severity.WARNING, "a custom registered object (its code is elsewhere)"
    if resolved.how == "legacy":
        return Severity.WARNING, (
            "a custom object (Keras looks the name up among the loading program's own)"
        )
    if resolved.root in _KERAS_FAMILY:
        return Severity.WARNING, (
            f"not a model component of Keras {known.keras} or tf-keras {known.tf_keras}"
        )
    return Severity.WARNING, f"module {resolved.name.rsplit('.', 1)[0]!r} is not part of Keras"


def keras_class(value: Mapping[str, Any], names: frozenset[str]) -> str | None:
    """The Keras class among `names` (short names) that a serialized object resolves to,
    else None: a registered object is whatever the loading program registered."""
    resolved = resolve(value)
    if resolved is None or resolved.function or resolved.short not in names:
        return None
    if resolved.how == "legacy" or resolved.root in _KERAS_FAMILY:
        return resolved.short
    return None
