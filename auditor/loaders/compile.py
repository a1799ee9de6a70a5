"""Read the compile configuration: optimizer, learning rate, weight decay, loss, metrics.

Keras 3 stores it as `config.json["compile_config"]`; legacy `.h5` files as the
`training_config` attribute with an `optimizer_config`. Legacy keys (`lr`, `decay`) are
understood; exclusion lists are never serialized, so they are always unknown for files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.graph.model import CompileSpec, OptimizerSpec
from auditor.loaders.serialized import as_float, class_ref

__all__ = ["initial_rate", "parse_compile"]


def parse_compile(compile_config: Any) -> CompileSpec | None:
    """A CompileSpec from a Keras 3 `compile_config` or a legacy `training_config`.

    Returns None when the model was never compiled (missing or empty config).
    """
    if not isinstance(compile_config, Mapping) or not compile_config:
        return None
    optimizer_value = compile_config.get("optimizer", compile_config.get("optimizer_config"))
    return CompileSpec(
        optimizer=_optimizer(optimizer_value),
        loss=_name_of(compile_config.get("loss")),
        metrics=tuple(_names(compile_config.get("metrics"))),
    )


def _optimizer(value: Any) -> OptimizerSpec | None:
    if isinstance(value, str):
        return OptimizerSpec(class_name=value)
    ref = class_ref(value)
    if ref is None:
        return None
    class_name, config, _, registered = ref
    name = (registered or class_name).rsplit(">", 1)[-1].rsplit(".", 1)[-1]
    lr_value = config.get("learning_rate", config.get("lr"))
    schedule = class_ref(lr_value)
    if schedule is not None:
        learning_rate = initial_rate(schedule[1])
        schedule_name: str | None = schedule[0]
    else:
        learning_rate = as_float(lr_value, default=float("nan")) if lr_value is not None else None
        schedule_name = None
    if learning_rate is not None and learning_rate != learning_rate:
        learning_rate = None
    weight_decay = config.get("weight_decay")
    decay = config.get("decay")
    return OptimizerSpec(
        class_name=name,
        learning_rate=learning_rate,
        learning_rate_schedule=schedule_name,
        weight_decay=as_float(weight_decay) if weight_decay is not None else None,
        legacy_decay=as_float(decay) if decay is not None else None,
        exclusions=None,
        config=config,
    )


def initial_rate(config: Mapping[str, Any]) -> float | None:
    """The starting learning rate of a serialized schedule's config."""
    for key in ("initial_learning_rate", "learning_rate", "values"):
        value = config.get(key)
        if isinstance(value, list) and value:
            value = value[0]
        if value is not None:
            return as_float(value)
    return None


def _name_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    ref = class_ref(value)
    if ref is not None:
        return ref[0]
    if isinstance(value, Mapping) and value:  # per-output losses
        names = [n for n in (_name_of(v) for v in value.values()) if n]
        return names[0] if len(set(names)) == 1 else None
    if isinstance(value, list) and value:
        names = [n for n in (_name_of(v) for v in value) if n]
        return names[0] if len(set(names)) == 1 else None
    return None


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [n for n in (_name_of(v) for v in value) if n]
    single = _name_of(value)
    return [single] if single else []
