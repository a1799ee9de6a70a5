"""The draft of a model: mutable layers and weights that the config implies, which a
loader fills in (stored tensors, names, live variables) and then freezes into the
immutable `auditor.graph.model` IR.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.graph.declared import Regularizer, UnusedRegularizer
from auditor.graph.model import LayerNode, TensorSource, WeightRef
from auditor.loaders.layer_specs import VarSpec
from auditor.loaders.serialized import parse_initializer, parse_regularizer

__all__ = ["Config", "DraftLayer", "DraftWeight"]

Config = Mapping[str, Any]


@dataclass(slots=True)
class DraftWeight:
    """A variable the config implies; a loader fills in the stored tensor."""

    spec: VarSpec
    path: str
    layer_path: str
    trainable: bool
    regularizer_key: str | None
    config: Config
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    tensor: TensorSource | None = None
    storage: str | None = None
    stored_name: str | None = None
    active_regularizer: Regularizer | None = None

    def freeze(self) -> WeightRef:
        spec = self.spec
        reg_value = self.config.get(spec.regularizer_key) if spec.regularizer_key else None
        init_value = self.config.get(spec.initializer_key) if spec.initializer_key else None
        return WeightRef(
            path=self.path,
            layer_path=self.layer_path,
            name=spec.name,
            role=spec.role,
            shape=self.shape,
            dtype=self.dtype,
            trainable=self.trainable,
            regularizer=parse_regularizer(reg_value),
            regularizer_key=self.regularizer_key,
            initializer=parse_initializer(init_value),
            active_regularizer=self.active_regularizer,
            tensor=self.tensor,
            storage=self.storage,
            stored_name=self.stored_name if self.stored_name != self.path else None,
        )


@dataclass(slots=True)
class DraftLayer:
    """A layer, sub-layer or nested model as the config describes it."""

    path: str
    name: str
    class_name: str
    config: Config
    config_key: str
    group: str | None
    trainable: bool = True
    declared_trainable: bool = True
    module: str | None = None
    registered_name: str | None = None
    is_model: bool = False
    opaque: str | None = None
    inbound: tuple[str, ...] = ()
    call_kwargs: tuple[Mapping[str, Any], ...] = ()
    activity_regularizer: Regularizer | None = None
    activity_key: str | None = None
    added_losses: tuple[float, ...] = ()
    unused_regularizers: list[UnusedRegularizer] = field(default_factory=list)
    children: list[DraftLayer] = field(default_factory=list)
    weights: list[DraftWeight] = field(default_factory=list)

    def walk(self) -> Iterator[DraftLayer]:
        yield self
        for child in self.children:
            yield from child.walk()

    def freeze(self) -> LayerNode:
        return LayerNode(
            path=self.path,
            name=self.name,
            class_name=self.class_name,
            module=self.module,
            registered_name=self.registered_name,
            config=self.config,
            config_key=self.config_key,
            trainable=self.trainable,
            declared_trainable=self.declared_trainable,
            is_model=self.is_model,
            opaque=self.opaque,
            inbound=self.inbound,
            call_kwargs=self.call_kwargs,
            activity_regularizer=self.activity_regularizer,
            activity_key=self.activity_key,
            added_losses=self.added_losses,
            unused_regularizers=tuple(self.unused_regularizers),
            children=tuple(child.freeze() for child in self.children),
            weights=tuple(weight.freeze() for weight in self.weights),
        )
