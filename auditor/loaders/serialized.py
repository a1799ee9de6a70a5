"""Read serialized Keras objects (regularizers, initializers, class references) as data.

Both shapes are accepted: Keras 3 (`{"module", "class_name", "config", "registered_name"}`)
and legacy (`{"class_name", "config"}`), plus the bare strings Keras accepts (`"l2"`).
Nothing is ever resolved, imported or instantiated.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from auditor.graph.declared import Initializer, Regularizer

__all__ = ["as_float", "class_ref", "parse_initializer", "parse_regularizer", "snake_case"]

# Keras's defaults for the bare strings and argument-less constructors
# (`keras/src/regularizers/regularizers.py`: `L1()` and `L2()` are 0.01, `L1L2()` is 0 and 0).
_STRING_REGULARIZERS = {
    "l1": ("L1", 0.01, 0.0),
    "l2": ("L2", 0.0, 0.01),
    "l1l2": ("L1L2", 0.0, 0.0),
    "l1_l2": ("L1L2", 0.0, 0.0),
}


def as_float(value: Any, default: float = 0.0) -> float:
    """A config number as float; `default` for None, non-numbers and booleans."""
    if isinstance(value, bool) or value is None:
        return default
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return default
    return default


def class_ref(value: Any) -> tuple[str, Mapping[str, Any], str | None, str | None] | None:
    """Split a serialized object into (class_name, config, module, registered_name)."""
    if not isinstance(value, Mapping):
        return None
    name = value.get("class_name")
    if not isinstance(name, str):
        return None
    config = value.get("config")
    module = value.get("module")
    registered = value.get("registered_name")
    return (
        name,
        config if isinstance(config, Mapping) else {},
        module if isinstance(module, str) else None,
        registered if isinstance(registered, str) else None,
    )


def parse_regularizer(value: Any) -> Regularizer | None:
    """A regularizer from its serialized form; None when the value says "no regularizer"."""
    if value is None:
        return None
    if isinstance(value, str):
        spec = _STRING_REGULARIZERS.get(value.lower())
        if spec is None:
            return Regularizer(class_name=value)
        name, l1, l2 = spec
        return Regularizer(class_name=name, l1=l1, l2=l2, config={"string": value})
    ref = class_ref(value)
    if ref is None:
        return Regularizer(class_name=type(value).__name__, config={"raw": str(value)[:200]})
    name, config, module, registered = ref
    lowered = name.lower()
    defaults = {"l1": (0.01, 0.0), "l2": (0.0, 0.01)}.get(lowered, (0.0, 0.0))
    return Regularizer(
        class_name=name,
        l1=_coefficient(config, "l1", defaults[0]),
        l2=_coefficient(config, "l2", defaults[1]),
        module=module,
        registered_name=registered,
        config=config,
    )


def _coefficient(config: Mapping[str, Any], key: str, default: float) -> float:
    """A coefficient as written (NaN and inf kept: the rules judge them)."""
    return as_float(config.get(key), default) if key in config else default


def parse_initializer(value: Any) -> Initializer | None:
    """An initializer from its serialized form (or a bare string such as `"zeros"`)."""
    if value is None:
        return None
    if isinstance(value, str):
        return Initializer(class_name=value)
    ref = class_ref(value)
    if ref is None:
        return None
    return Initializer(class_name=ref[0], config=ref[1])


@functools.lru_cache(maxsize=512)  # a few dozen class names, asked for once per layer
def snake_case(name: str) -> str:
    """Keras's `to_snake_case`: the HDF5 group name of a layer class in `.keras` files."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()
