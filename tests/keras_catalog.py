"""The names a model config may legitimately give, read off the installed Keras 3 and
tf-keras 2, for `rules/_keras_names.json`.

keras-audit never imports keras to judge a file, so what Keras would resolve a
serialized object's name to is judged against this catalog, which the tests build from
Keras itself and compare with the shipped one (`UPDATE_CATALOG=1` rewrites it):

* `names`: the dotted names Keras 3 resolves for a `module` and `class_name` (or a
  function's `config`): every class of its public modules of model components (layers,
  models, activations, initializers, regularizers, constraints, losses, metrics,
  optimizers and their schedules, dtype policies, seed generators, quantizers), the
  functions of those whose functions are components (activations, losses, ...), and the
  layers of `keras.utils` (`FeatureSpace`), each under its public name and under the module
  it is defined in; and the model, operation and application layer classes a config names
  by their own module (`keras.src.models.functional.Functional`, `keras.src.ops.numpy.Add`,
  `keras.src.applications.convnext.LayerScale`). Keras's own
  `get`, `serialize` and `deserialize` are not components, nor are the non-modeling APIs
  it refuses.
* `builtins`: the functions a `module: "builtins"` function reference resolves to
  (`keras.saving.serialization_lib.BUILTIN_MODULES`: Keras searches those modules).
* `short`: the class and function names the legacy loaders find without a `module`
  (Keras 3's legacy `.h5` loader and tf-keras look the `class_name` up among their own
  objects), with tf-keras's registered names (`Custom>Adam`), and the structural names
  of serialized values (`__tuple__`, `__numpy__`, ...).
* `denied`: Keras's `NON_MODELING_APIS`, the APIs it refuses to deserialize because they
  load, save or fetch other files.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

#: Keras 3's public modules of model components; those whose functions are components too.
_API = (
    "keras",
    "keras.layers",
    "keras.models",
    "keras.activations",
    "keras.initializers",
    "keras.regularizers",
    "keras.constraints",
    "keras.losses",
    "keras.metrics",
    "keras.optimizers",
    "keras.optimizers.schedules",
    "keras.dtype_policies",
    "keras.mixed_precision",
    "keras.random",
    "keras.quantizers",
)
_FUNCTIONS = (
    "keras.activations",
    "keras.constraints",
    "keras.initializers",
    "keras.losses",
    "keras.metrics",
    "keras.regularizers",
)
_NOT_COMPONENTS = frozenset({"get", "serialize", "deserialize"})
#: Serialized values that are not objects a loader looks up: Keras 3's
#: `deserialize_keras_object` and tf-keras's legacy serialization build them in place.
_STRUCTURAL = (
    "__keras_tensor__",
    "__tensor__",
    "__numpy__",
    "__bytes__",
    "__ellipsis__",
    "__slice__",
    "__typespec__",
    "__tuple__",
    "__lambda__",
    "__passive_serialization__",
    "function",
    "TensorShape",
)
_TF_KERAS_API = (
    "tf_keras.layers",
    "tf_keras.models",
    "tf_keras.activations",
    "tf_keras.initializers",
    "tf_keras.regularizers",
    "tf_keras.constraints",
    "tf_keras.losses",
    "tf_keras.metrics",
    "tf_keras.optimizers",
    "tf_keras.optimizers.schedules",
    "tf_keras.mixed_precision",
)


def build() -> dict[str, Any]:
    """The catalog, from the installed keras and tf_keras."""
    import keras
    from keras.src.ops.operation import Operation
    from keras.src.saving import serialization_lib
    from keras.src.saving.keras_saveable import KerasSaveable

    denied = set(serialization_lib.NON_MODELING_APIS)
    names: set[str] = set()
    short: set[str] = set(_STRUCTURAL)
    for module_name in (*_API, "keras.utils"):
        module = importlib.import_module(module_name)
        for attr in dir(module):
            obj = getattr(module, attr)
            if module_name == "keras.utils":
                component = inspect.isclass(obj) and issubclass(obj, KerasSaveable)
            else:
                component = inspect.isclass(obj) or (
                    module_name in _FUNCTIONS and inspect.isfunction(obj)
                )
            public = f"{module_name}.{attr}"
            if attr.startswith("_") or attr in _NOT_COMPONENTS or not component or public in denied:
                continue
            names.update((public, f"{obj.__module__}.{obj.__name__}"))
            short.update((attr, obj.__name__))
    # (package, base class, whether the legacy loaders find its classes by name): they
    # know Functional, not ConvNeXt's LayerScale, which a legacy file must name as custom.
    packages = (
        ("keras.src.ops", Operation, True),
        ("keras.src.models", keras.Model, True),
        ("keras.src.applications", keras.layers.Layer, False),
    )
    for package, base, legacy in packages:
        for info in pkgutil.walk_packages(importlib.import_module(package).__path__, f"{package}."):
            if info.name.endswith("_test"):
                continue
            module = importlib.import_module(info.name)
            for attr, obj in vars(module).items():
                if inspect.isclass(obj) and issubclass(obj, base) and obj.__module__ == info.name:
                    names.add(f"{info.name}.{attr}")
                    if legacy:
                        short.add(attr)
    builtins = {
        attr
        for module in serialization_lib.BUILTIN_MODULES
        for attr in dir(importlib.import_module(f"keras.{module}"))
        if not attr.startswith("_") and attr not in _NOT_COMPONENTS
    }
    short |= _tf_keras_names()
    return {
        "keras": keras.__version__,
        "tf_keras": importlib.import_module("tf_keras").__version__,
        "names": sorted(names),
        "builtins": sorted(builtins),
        "short": sorted(short),
        "denied": sorted(denied),
    }


def _tf_keras_names() -> set[str]:
    """tf-keras's component names, and the registered names it writes (`Custom>Adam`)."""
    import tf_keras

    found: set[str] = set()
    for module_name in _TF_KERAS_API:
        module = importlib.import_module(module_name)
        for attr in dir(module):
            obj = getattr(module, attr)
            if attr.startswith("_") or attr in _NOT_COMPONENTS:
                continue
            if inspect.isclass(obj) or inspect.isfunction(obj):
                found.add(attr)
                registered = tf_keras.saving.get_registered_name(obj)
                if registered:
                    found.add(registered)
    return found
