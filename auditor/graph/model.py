"""The model representation (IR): a read-only, Keras-free view of a model.

Every front-end (the `.keras` and legacy `.h5` loaders, and the live front-end) produces a
`ModelGraph`. Rules see nothing else: they never open files and never import keras.

Paths follow Keras 3's `variable.path` convention: layer names joined by `/` from the root
model (whose own path is `""`), e.g. `backbone/conv1/kernel`. Sub-layers that a layer owns
(an RNN's cell, a Bidirectional's forward/backward layers, MultiHeadAttention's projections)
appear under their runtime names (`lstm/lstm_cell`, `mha/query`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from auditor.graph.declared import Initializer, Regularizer, UnusedRegularizer
from auditor.graph.source import (
    ALL_FORMATS,
    GRAPH_FORMATS,
    NO_CONFIG,
    GraphOp,
    ParameterCount,
    PickleGlobal,
    SourceInfo,
    source_formats,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ALL_FORMATS",
    "GRAPH_FORMATS",
    "NO_CONFIG",
    "CompileSpec",
    "GraphOp",
    "IssueKind",
    "LayerNode",
    "LoadIssue",
    "ModelGraph",
    "OptimizerSpec",
    "ParameterCount",
    "PickleGlobal",
    "Role",
    "SourceInfo",
    "TensorSource",
    "WeightRef",
    "source_formats",
]


class Role(StrEnum):
    """What a weight is for, independent of how a Keras version names the variable."""

    KERNEL = "kernel"
    DEPTHWISE_KERNEL = "depthwise_kernel"
    POINTWISE_KERNEL = "pointwise_kernel"
    RECURRENT_KERNEL = "recurrent_kernel"
    BIAS = "bias"
    GAMMA = "gamma"
    BETA = "beta"
    MOVING_MEAN = "moving_mean"
    MOVING_VARIANCE = "moving_variance"
    EMBEDDINGS = "embeddings"
    ALPHA = "alpha"
    OTHER = "other"


class TensorSource(Protocol):
    """A lazily readable tensor. Loaders hand these out; only `auditor.tensors.stats` reads them."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> str: ...

    def iter_chunks(self, max_bytes: int) -> Iterator[np.ndarray]:
        """Yield the tensor's values in order, in slices of at most about `max_bytes`
        (more only where the storage makes smaller slices costly: a compressed HDF5
        chunk is never split, so a slice may hold one whole chunk)."""
        ...


@dataclass(frozen=True, slots=True)
class WeightRef:
    """One weight variable of a layer.

    Attributes:
        path: str, `layer_path/name`, as Keras 3's `variable.path`.
        layer_path: str, the owning (sub-)layer's path.
        name: str, the Keras 3 variable name (`kernel`, `gamma`, ...).
        role: Role, what the weight is for (a DepthwiseConv2D `kernel` has role
            `depthwise_kernel`).
        shape: tuple of ints, or None when the tensor could not be located.
        dtype: str | None, numpy dtype name of the stored tensor.
        trainable: bool, the effective flag (False when the variable, its layer or any
            enclosing layer or model is frozen).
        regularizer: Regularizer | None, the declared regularizer (from the config).
        regularizer_key: str | None, the config key path that governs this weight's
            regularizer (set even when the value there is null; None when no key does).
        initializer: Initializer | None, the declared initializer.
        active_regularizer: Regularizer | None, live mode only: what the variable actually
            carries. Always None for files (unknown).
        tensor: TensorSource | None, handle to the stored values (None when unavailable).
        storage: str | None, where the tensor lives: its HDF5 dataset path in a file, the
            variable's `path` in a live model.
        stored_name: str | None, the name a legacy HDF5 file stores the weight under (its
            `weight_names` entry, `gru_1/kernel:0`) when it differs from `path`.
    """

    path: str
    layer_path: str
    name: str
    role: Role
    shape: tuple[int, ...] | None
    dtype: str | None
    trainable: bool
    regularizer: Regularizer | None = None
    regularizer_key: str | None = None
    initializer: Initializer | None = None
    active_regularizer: Regularizer | None = None
    tensor: TensorSource | None = field(default=None, compare=False, hash=False, repr=False)
    storage: str | None = None
    stored_name: str | None = None

    @property
    def shown(self) -> str:
        """The name to show a user: what the file stores the weight under, else `path`."""
        return self.stored_name or self.path

    @property
    def size(self) -> int:
        """Number of parameters (0 when the shape is unknown)."""
        return math.prod(self.shape) if self.shape is not None else 0

    @property
    def penalized(self) -> bool:
        """True when the declared regularizer puts a non-zero L1/L2 penalty on this weight."""
        return self.regularizer is not None and self.regularizer.is_penalty

    @property
    def penalty(self) -> Regularizer | None:
        """The L1/L2 penalty on this weight: the declared one, else (live) the one the
        variable carries without declaring it. None when neither penalizes."""
        if self.regularizer is not None and self.regularizer.is_penalty:
            return self.regularizer
        if self.active_regularizer is not None and self.active_regularizer.is_penalty:
            return self.active_regularizer
        return None


@dataclass(frozen=True, slots=True)
class LayerNode:
    """A layer, a sub-layer or a (nested) model, with its weights and children.

    Attributes:
        path: str, `""` for the root model, else names joined by `/`.
        name: str, the layer name.
        class_name: str, the serialized class name (`Dense`, `Functional`, ...).
        module: str | None, the serialized module (Keras 3 form only).
        registered_name: str | None, the serialized registered name.
        config: the layer's raw `config` mapping (read-only by convention).
        config_key: str, where the layer sits in the model config (`layers[3]`).
        trainable: bool, effective: False if this layer or any ancestor is frozen.
        declared_trainable: bool, this layer's own `trainable` flag.
        is_model: bool, True for Functional / Sequential / subclassed models.
        opaque: str | None, why keras-audit cannot see inside this layer (None if it can).
        inbound: names of the layers in the same container whose outputs feed this one.
        call_kwargs: the keyword arguments of each call of the layer in its container, as
            serialized (`{"training": True}`, `{"mask": ...}`); empty in a Sequential.
        activity_regularizer: Regularizer | None, the penalty on the layer's output: its
            `activity_regularizer`, or the `l1`/`l2` of an `ActivityRegularization` layer.
        activity_key: str | None, the config key that sets it.
        added_losses: live mode only: the values of the losses `add_loss()` left on this
            built-in layer from outside its `call()` (what its own calls do not explain).
        unused_regularizers: regularizers set on this layer that none of its variables
            consults: a config entry such as `kernel_regularizer` on a DepthwiseConv2D, or
            (live) a `*_regularizer` attribute its config does not carry.
        children: nested layers (for models) and owned sub-layers (cells, projections).
        weights: this layer's own weights, in Keras save order.
    """

    path: str
    name: str
    class_name: str
    module: str | None = None
    registered_name: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    config_key: str = ""
    trainable: bool = True
    declared_trainable: bool = True
    is_model: bool = False
    opaque: str | None = None
    inbound: tuple[str, ...] = ()
    call_kwargs: tuple[Mapping[str, Any], ...] = field(default=(), compare=False, hash=False)
    activity_regularizer: Regularizer | None = None
    activity_key: str | None = None
    added_losses: tuple[float, ...] = ()
    unused_regularizers: tuple[UnusedRegularizer, ...] = ()
    children: tuple[LayerNode, ...] = ()
    weights: tuple[WeightRef, ...] = ()

    def walk(self) -> Iterator[LayerNode]:
        """This node and every descendant, depth first, in config order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def all_weights(self) -> Iterator[WeightRef]:
        """Every weight of this node and its descendants."""
        for node in self.walk():
            yield from node.weights

    @property
    def display_path(self) -> str:
        """The path, or `<model>` for the root."""
        return self.path or "<model>"

    def setting_key(self, name: str) -> str | None:
        """Where the setting `name` of this layer's config sits in the model config
        (`config.layers[3].config.rate`), or None for a layer with no config key. A layer
        of a container is keyed at its entry (whose `config` holds its settings); a layer
        inside a wrapper (`Bidirectional`'s `layer`) at its config itself."""
        if not self.config_key:
            return None
        owner = self.config_key
        return f"{owner}.{name}" if owner.endswith(".config") else f"{owner}.config.{name}"

    @property
    def activation(self) -> str | None:
        """The name of the built-in activation the config names, else None.

        Keras writes built-ins as a string (`"relu"`) or, for some layers and versions, as a
        serialized function object from `keras.activations`. Anything else (a custom or
        foreign function, a malformed value) is None: no rule may assume its shape.
        """
        value = self.config.get("activation")
        if isinstance(value, Mapping):
            module, name = value.get("module"), value.get("config")
            keras_activation = (
                isinstance(module, str)
                and module.split(".")[0] == "keras"
                and module.endswith("activations")
            )
            value = name if keras_activation else None
        return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class OptimizerSpec:
    """The compiled optimizer as serialized (or, live, as configured).

    Attributes:
        class_name: str, e.g. `AdamW`.
        learning_rate: float | None, the constant or initial learning rate.
        learning_rate_schedule: str | None, the schedule class when the rate is scheduled.
        weight_decay: float | None, Keras 3 / tf.keras>=2.11 decoupled weight decay.
        legacy_decay: float | None, the legacy `decay` key (learning-rate time decay).
        exclusions: tuple of `exclude_from_weight_decay(var_names=...)` patterns, or None
            when unknown (always None for files: Keras never serializes them).
        excluded_paths: paths of the variables given as `exclude_from_weight_decay(
            var_list=...)` (live only; empty for files).
        config: the raw optimizer config.
    """

    class_name: str
    learning_rate: float | None = None
    learning_rate_schedule: str | None = None
    weight_decay: float | None = None
    legacy_decay: float | None = None
    exclusions: tuple[str, ...] | None = None
    excluded_paths: frozenset[str] = frozenset()
    config: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def decays(self) -> bool:
        """True when the optimizer applies decoupled weight decay."""
        return self.weight_decay is not None and self.weight_decay > 0.0


@dataclass(frozen=True, slots=True)
class CompileSpec:
    """What `compile()` recorded: optimizer, loss, metrics."""

    optimizer: OptimizerSpec | None = None
    loss: str | None = None
    metrics: tuple[str, ...] = ()


class IssueKind(StrEnum):
    """Why (part of) a file could not be read safely."""

    UNREADABLE = "unreadable"  # the whole file: not a model, corrupt, truncated
    OVER_LIMIT = "over-limit"  # a cap (size, ratio, depth, count) was exceeded
    UNSAFE_ARCHIVE = "unsafe-archive"  # zip member names, duplicates, encryption
    EXTERNAL_REFERENCE = "external-reference"  # soft/external link, external storage, VDS
    UNSUPPORTED_DATA = "unsupported-data"  # odd dtype, unknown filter
    INCOMPLETE = "incomplete"  # the audit itself could not finish: a rule crashed
    MALFORMED = "malformed"  # declared sizes far beyond what is stored (shape bombs)


@dataclass(frozen=True, slots=True)
class LoadIssue:
    """A problem met while reading a file. Fatal issues leave an empty graph."""

    kind: IssueKind
    message: str
    where: str = ""
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class ModelGraph:
    """A whole model: its layer tree, compile config, where it came from, load issues.

    Attributes:
        root: LayerNode, the root model.
        source: SourceInfo.
        compile: CompileSpec | None, None when the model was never compiled.
        issues: problems met while loading (fatal ones mean `root` is empty).
        unclaimed: storage paths of tensors that no layer claims.
        weights_read: bool, False when the file's weights could not be opened at all
            (missing member, pickled npz), so tensors were never located.
        live: bool, True when built from a live `keras.Model`.
        documents: the file's parsed JSON documents by name (`config.json`; a legacy
            file's `model_config` and `training_config`), as read: the security rules
            search them whole, wherever a dangerous reference hides.
        training_steps: int | None, the optimizer's stored iteration count (0: never
            trained with it), None when the file stores no optimizer state.
        ops: a SavedModel's graph ops, by function (empty for other sources).
        parameter_check: ParameterCount | None, a parameter count the file declares
            beside its weights (a keras_hub preset's `metadata.json`) and what the weights
            it counts hold; None when it declares none.
        pickle_globals: what the pickles in the file would import (an npz weights
            member), found without unpickling.
    """

    root: LayerNode
    source: SourceInfo
    compile: CompileSpec | None = None
    issues: tuple[LoadIssue, ...] = ()
    unclaimed: tuple[str, ...] = ()
    weights_read: bool = False
    live: bool = False
    documents: tuple[tuple[str, Any], ...] = field(default=(), compare=False, repr=False)
    training_steps: int | None = None
    ops: tuple[GraphOp, ...] = ()
    parameter_check: ParameterCount | None = None
    pickle_globals: tuple[PickleGlobal, ...] = ()

    @property
    def has_config(self) -> bool:
        """False for a weights-only file or an exported SavedModel: its config was rebuilt
        from the tensors, so it declares no regularizer, initializer or setting a rule
        could judge."""
        return self.source.format not in NO_CONFIG

    @property
    def readable(self) -> bool:
        """False when a fatal issue stopped the load."""
        return not any(issue.fatal for issue in self.issues)

    @property
    def optimizer(self) -> OptimizerSpec | None:
        """The compiled optimizer, if any."""
        return self.compile.optimizer if self.compile else None

    def layers(self) -> Iterator[LayerNode]:
        """Every layer below the root (the root model itself excluded), depth first."""
        for child in self.root.children:
            yield from child.walk()

    def weights(self) -> Iterator[WeightRef]:
        """Every weight in the model, in save order."""
        return self.root.all_weights()

    def has_tensors(self) -> bool:
        """True when at least one weight can be read."""
        return any(w.tensor is not None for w in self.weights())

    @classmethod
    def unreadable(cls, source: SourceInfo, issue: LoadIssue) -> ModelGraph:
        """An empty graph standing for a file that could not be read at all."""
        root = LayerNode(path="", name="", class_name="")
        return cls(root=root, source=source, issues=(issue,))
