"""Apply a regularization plan to a live Keras 3 model, the right way.

For each setting: the layer attribute that `get_config()` serializes (so the change
survives `model.save()`), the same attribute on the sub-layers that hold the variables
(an RNN's cell, MultiHeadAttention's projections), and `variable.regularizer` (what
`model.losses` is computed from). Weights are never touched. A model whose train or test
step was already traced gets it retraced, or the change would wait for the next
`compile()`.
"""

from __future__ import annotations

from typing import Any

from auditor.fix.plan import Change, FixResult, Skip
from auditor.graph.declared import Regularizer
from auditor.loaders.live import LiveModel

__all__ = ["apply_plan"]


def apply_plan(
    model: Any,
    live: LiveModel,
    changes: list[Change],
    skipped: list[Skip],
    target: Regularizer | None,
) -> FixResult:
    """Carry out `changes` on `model` (whose graph is `live`) and retrace its steps."""
    import keras

    applied: list[Change] = []
    for change in changes:
        value = None if change.after is None else _instance(keras, target)
        if not change.weights:
            _clear_unused(live.layers.get(change.layer_path), change.setting)
            applied.append(change)
            continue
        holders = _holders(live, change)
        if not any(_set_attribute(layer, change.setting, value) for layer in holders):
            skipped.append(
                Skip(
                    change.layer_path,
                    change.setting,
                    change.weights,
                    "no layer object holds this setting as an attribute",
                )
            )
            continue
        for path in change.weights:
            live.variables[path].regularizer = value
        applied.append(change)
    return FixResult(tuple(applied), tuple(skipped), _retrace(model))


def _instance(keras: Any, target: Regularizer | None) -> Any:
    if target is None:
        return None
    if target.l1 and target.l2:
        return keras.regularizers.L1L2(l1=target.l1, l2=target.l2)
    if target.l1:
        return keras.regularizers.L1(target.l1)
    return keras.regularizers.L2(target.l2)


def _holders(live: LiveModel, change: Change) -> list[Any]:
    """The layer objects from the setting's owner down to each variable's layer."""
    owner = change.layer_path
    weight_layers = {path.rsplit("/", 1)[0] if "/" in path else "" for path in change.weights}
    found: dict[int, Any] = {}
    for path, layer in live.layers.items():
        below_owner = not owner or path == owner or path.startswith(owner + "/")
        above_weight = any(w == path or w.startswith(path + "/") for w in weight_layers)
        if below_owner and above_weight:
            found.setdefault(id(layer), layer)
    return list(found.values())


def _set_attribute(layer: Any, setting: str, value: Any) -> bool:
    """Set `setting` where the layer keeps it (`kernel_regularizer`, or MultiHeadAttention's
    `_kernel_regularizer`). False when the layer keeps no such attribute."""
    attributes = vars(layer)
    for name in (setting, f"_{setting}"):
        if name in attributes:
            setattr(layer, name, value)
            return True
    return False


def _clear_unused(layer: Any, setting: str) -> None:
    """Drop a regularizer no variable reads (a REG011 finding)."""
    if layer is not None and setting in vars(layer):
        setattr(layer, setting, None)


def _retrace(model: Any) -> tuple[str, ...]:
    """Rebuild the traced train/test steps, which captured the old regularizers."""
    retraced = []
    for name in ("train_function", "test_function"):
        if getattr(model, name, None) is not None:
            getattr(model, f"make_{name}")(force=True)
            retraced.append(name)
    return tuple(retraced)
