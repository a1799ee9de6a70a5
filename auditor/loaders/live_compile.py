"""The compiled optimizer of a live model, as Keras holds it: its class, learning rate or
schedule, `weight_decay`, and the exclusions set with `exclude_from_weight_decay()` (which
Keras never serializes). Reading the optimizer's private exclusion attributes is confined
to this module and pinned by tests/test_live.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from auditor.graph.model import CompileSpec, OptimizerSpec
from auditor.loaders.compile import initial_rate, parse_compile

__all__ = ["live_compile"]


def _excluded_paths(optimizer: Any, excluded: Any, variables: Mapping[str, Any]) -> frozenset[str]:
    """The paths of the variables given as `var_list`, keyed the way the optimizer keys
    them (`_var_key`: `id()` in the base class, the tf.Variable on TensorFlow)."""
    if not excluded:
        return frozenset()
    key = getattr(optimizer, "_var_key", id)
    paths = set()
    for path, variable in variables.items():
        try:
            if key(variable) in excluded:
                paths.add(path)
        except Exception:  # a backend that cannot key this variable
            continue
    return frozenset(paths)


def live_compile(model: Any, keras: Any, variables: Mapping[str, Any]) -> CompileSpec | None:
    """What the model was compiled with: the live optimizer (None: never compiled), and the
    loss and metrics of its compile config."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    compiled = parse_compile(_compile_config(model)) or CompileSpec()
    return CompileSpec(
        optimizer=_optimizer(optimizer, keras, variables),
        loss=compiled.loss,
        metrics=compiled.metrics,
    )


def _compile_config(model: Any) -> Any:
    try:
        return model.get_compile_config()
    except Exception:  # custom losses or metrics that cannot serialize
        return None


def _optimizer(optimizer: Any, keras: Any, variables: Mapping[str, Any]) -> OptimizerSpec:
    inner = getattr(optimizer, "inner_optimizer", None)  # LossScaleOptimizer
    if inner is not None:
        optimizer = inner
    try:
        config: Mapping[str, Any] = optimizer.get_config()
    except Exception:
        config = {}
    rate = getattr(optimizer, "_learning_rate", None)
    schedule = None
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        schedule = type(rate).__name__
        learning_rate = initial_rate(rate.get_config())
    else:
        learning_rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    decay = getattr(optimizer, "weight_decay", None)
    pattern = getattr(optimizer, "_exclude_from_weight_decay_pattern", None)
    names = tuple(sorted(pattern.pattern.split("|"))) if isinstance(pattern, re.Pattern) else ()
    excluded = getattr(optimizer, "_exclude_from_weight_decay", None) or ()
    return OptimizerSpec(
        class_name=type(optimizer).__name__,
        learning_rate=learning_rate,
        learning_rate_schedule=schedule,
        weight_decay=float(decay) if decay is not None else None,
        exclusions=names,
        excluded_paths=_excluded_paths(optimizer, excluded, variables),
        config=config,
    )
