"""Which variables each Keras layer class creates, in save order, and what governs them.

This table replaces what `layer.build()` would tell us, without importing keras. For each
class: the own variables (Keras 3 name, role, regularizer and initializer config keys,
trainable), and the owned sub-layers (an RNN's cell, a Bidirectional's two layers, a
wrapper's layer, MultiHeadAttention's projections) with their `.keras` HDF5 group names and
their runtime names: what each layer's `build()` passes to `Layer.add_weight`, in order,
and the groups `keras/src/saving/saving_lib.py` writes; pinned against Keras itself by
tests/test_loading.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from auditor.graph.model import Role
from auditor.loaders.serialized import class_ref, snake_case

__all__ = [
    "MODEL_CLASSES",
    "SubSpec",
    "VarSpec",
    "known_layer_classes",
    "own_vars",
    "sublayers",
]

Config = Mapping[str, Any]

MODEL_CLASSES = frozenset({"Functional", "Sequential", "Model"})


def _always(_: Config) -> bool:
    return True


def _flag(key: str, default: bool = True) -> Callable[[Config], bool]:
    def check(config: Config) -> bool:
        value = config.get(key, default)
        return bool(value) if value is not None else default

    return check


def _has(key: str) -> Callable[[Config], bool]:
    def check(config: Config) -> bool:
        return bool(config.get(key))

    return check


def _adapted(config: Config) -> bool:
    return config.get("mean") is None


@dataclass(frozen=True, slots=True)
class VarSpec:
    """One variable a layer class creates.

    Attributes:
        name: str, the Keras 3 variable name.
        role: Role.
        regularizer_key: str | None, the config key declaring its regularizer.
        initializer_key: str | None, the config key declaring its initializer.
        trainable: bool, False for statistics such as `moving_mean`.
        present: predicate on the layer config (e.g. `use_bias`).
        aliases: other names older Keras versions gave the variable.
    """

    name: str
    role: Role
    regularizer_key: str | None = None
    initializer_key: str | None = None
    trainable: bool = True
    present: Callable[[Config], bool] = _always
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SubSpec:
    """A sub-layer owned by a layer.

    Attributes:
        group: str, its HDF5 group under the owner's group in `.keras` files.
        runtime_name: str, its name in variable paths (`lstm_cell`, `query`).
        class_name: str, its class.
        config: the config that governs its variables.
        config_key: str, where that config sits, relative to the owner's config
            (`""` when the owner's own config governs it).
        variables: its variables when the owner defines them (MultiHeadAttention),
            else None (looked up by `class_name`).
    """

    group: str
    runtime_name: str
    class_name: str
    config: Config
    config_key: str = ""
    variables: tuple[VarSpec, ...] | None = None


def _kernel(reg: str = "kernel_regularizer", init: str = "kernel_initializer") -> VarSpec:
    return VarSpec("kernel", Role.KERNEL, reg, init)


_USE_BIAS = _flag("use_bias")


def _bias(present: Callable[[Config], bool] = _USE_BIAS) -> VarSpec:
    return VarSpec("bias", Role.BIAS, "bias_regularizer", "bias_initializer", present=present)


_DENSE = (_kernel(), _bias())
_DEPTHWISE = (
    VarSpec(
        "kernel",
        Role.DEPTHWISE_KERNEL,
        "depthwise_regularizer",
        "depthwise_initializer",
        aliases=("depthwise_kernel",),
    ),
    _bias(),
)
_SEPARABLE = (
    VarSpec(
        "depthwise_kernel", Role.DEPTHWISE_KERNEL, "depthwise_regularizer", "depthwise_initializer"
    ),
    VarSpec(
        "pointwise_kernel", Role.POINTWISE_KERNEL, "pointwise_regularizer", "pointwise_initializer"
    ),
    _bias(),
)
_NORM_AFFINE = (
    VarSpec("gamma", Role.GAMMA, "gamma_regularizer", "gamma_initializer", present=_flag("scale")),
    VarSpec("beta", Role.BETA, "beta_regularizer", "beta_initializer", present=_flag("center")),
)
_BATCH_NORM = (
    *_NORM_AFFINE,
    VarSpec("moving_mean", Role.MOVING_MEAN, None, "moving_mean_initializer", trainable=False),
    VarSpec(
        "moving_variance",
        Role.MOVING_VARIANCE,
        None,
        "moving_variance_initializer",
        trainable=False,
    ),
)
_RECURRENT_CELL = (
    _kernel(),
    VarSpec(
        "recurrent_kernel", Role.RECURRENT_KERNEL, "recurrent_regularizer", "recurrent_initializer"
    ),
    _bias(),
)

_OWN_VARS: dict[str, tuple[VarSpec, ...]] = {
    "Dense": _DENSE,
    "EinsumDense": (_kernel(), _bias(present=_has("bias_axes"))),
    "Embedding": (
        VarSpec("embeddings", Role.EMBEDDINGS, "embeddings_regularizer", "embeddings_initializer"),
    ),
    "BatchNormalization": _BATCH_NORM,
    "SyncBatchNormalization": _BATCH_NORM,
    "LayerNormalization": _NORM_AFFINE,
    "GroupNormalization": _NORM_AFFINE,
    "RMSNormalization": (VarSpec("scale", Role.GAMMA, None, None),),
    "DepthwiseConv1D": _DEPTHWISE,
    "DepthwiseConv2D": _DEPTHWISE,
    "SeparableConv1D": _SEPARABLE,
    "SeparableConv2D": _SEPARABLE,
    "PReLU": (VarSpec("alpha", Role.ALPHA, "alpha_regularizer", "alpha_initializer"),),
    "LSTMCell": _RECURRENT_CELL,
    "GRUCell": _RECURRENT_CELL,
    "SimpleRNNCell": _RECURRENT_CELL,
    "ConvLSTMCell": _RECURRENT_CELL,
    # keras.applications.convnext's LayerScale: one trainable per-channel scale.
    "LayerScale": (VarSpec("variable", Role.GAMMA, None, None),),  # add_weight(name=None)
    # Preprocessing statistics: variables only when adapted (no `mean` in the config).
    "Normalization": tuple(
        VarSpec(name, Role.OTHER, None, None, trainable=False, present=_adapted)
        for name in ("mean", "variance", "count")
    ),
    "Attention": (
        VarSpec("scale", Role.OTHER, None, None, present=_has("use_scale")),
        VarSpec(
            "concat_score_weight",
            Role.OTHER,
            None,
            None,
            present=lambda c: c.get("score_mode") == "concat",
        ),
    ),
    "AdditiveAttention": (VarSpec("scale", Role.OTHER, None, None, present=_flag("use_scale")),),
}
for _dims in ("1D", "2D", "3D"):
    _OWN_VARS[f"Conv{_dims}"] = _DENSE
    _OWN_VARS[f"Conv{_dims}Transpose"] = _DENSE
    _OWN_VARS[f"Convolution{_dims}"] = _DENSE  # Keras 2 aliases
    _OWN_VARS[f"Convolution{_dims}Transpose"] = _DENSE

# Layers known to own no variables, so that they are never reported as opaque.
_WEIGHTLESS_PREFIXES = (
    "Input",
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "Dropout",
    "SpatialDropout",
    "GaussianDropout",
    "GaussianNoise",
    "AlphaDropout",
    "Flatten",
    "Reshape",
    "Permute",
    "RepeatVector",
    "Cropping",
    "ZeroPadding",
    "UpSampling",
    "MaxPool",
    "AveragePool",
    "GlobalMaxPool",
    "GlobalAveragePool",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
    "Dot",
    "Lambda",
    "Masking",
    "Rescaling",
    "Resizing",
    "CenterCrop",
    "Identity",
    "UnitNormalization",
    "ActivityRegularization",
    "TFOpLambda",
    "SlicingOpLambda",
    "Random",
    "Discretization",
    "HashedCrossing",
    "Hashing",
    "CategoryEncoding",
    "AutoContrast",
    "Solarization",
    "MaxNumBoundingBoxes",
    "Equalization",
    "Pipeline",
    "TorchModuleWrapper",
    "Softmax",
)

#: Built-in weightless layers of Keras 1 and 2 that Keras 3 no longer has: `Merge` (Keras
#: 1, and `keras.legacy.layers` in Keras 2.0-2.1) and Keras 2's `ThresholdedReLU`.
_LEGACY_WEIGHTLESS = frozenset({"Merge", "ThresholdedReLU"})

_RNN_CELLS = {
    "LSTM": "LSTMCell",
    "GRU": "GRUCell",
    "SimpleRNN": "SimpleRNNCell",
    "ConvLSTM1D": "ConvLSTMCell",
    "ConvLSTM2D": "ConvLSTMCell",
    "ConvLSTM3D": "ConvLSTMCell",
    "CuDNNLSTM": "LSTMCell",
    "CuDNNGRU": "GRUCell",
}
_RNN_CELL_RUNTIME = {
    "LSTMCell": "lstm_cell",
    "GRUCell": "gru_cell",
    "SimpleRNNCell": "simple_rnn_cell",
    "ConvLSTMCell": "conv_lstm_cell",
}
_MHA_PROJECTIONS = (
    ("query_dense", "query"),
    ("key_dense", "key"),
    ("value_dense", "value"),
    ("output_dense", "attention_output"),
)


@functools.cache
def known_layer_classes() -> dict[str, str]:
    """The layer classes with variables this table describes, by the snake-case name Keras
    gives their groups in weights files (`conv2d` -> `Conv2D`)."""
    classes = [*_OWN_VARS, *_RNN_CELLS, "MultiHeadAttention", "Bidirectional", "RNN"]
    return {snake_case(name): name for name in classes}


def own_vars(class_name: str, config: Config) -> tuple[VarSpec, ...] | None:
    """The variables a layer creates itself, in save order; None for an unknown class."""
    if class_name in _OWN_VARS:
        return tuple(v for v in _OWN_VARS[class_name] if v.present(config))
    if class_name in _RNN_CELLS or class_name in ("RNN", "Bidirectional", "MultiHeadAttention"):
        return ()
    if class_name in MODEL_CLASSES or is_wrapper(class_name, config):
        return ()
    if class_name.startswith(_WEIGHTLESS_PREFIXES) or class_name in _LEGACY_WEIGHTLESS:
        return ()
    return None


def is_wrapper(class_name: str, config: Config) -> bool:
    """True for layers that wrap one inner layer under the `layer` key."""
    if class_name == "Bidirectional":
        return False
    return class_name in ("TimeDistributed", "SpectralNormalization") or (
        class_name.endswith("Wrapper") and class_ref(config.get("layer")) is not None
    )


def sublayers(class_name: str, config: Config, name: str) -> tuple[SubSpec, ...] | None:
    """The sub-layers a layer owns; None when they cannot be told from the config."""
    if class_name in _RNN_CELLS:
        cell = _RNN_CELLS[class_name]
        return (SubSpec("cell", _RNN_CELL_RUNTIME[cell], cell, config),)
    if class_name == "RNN":
        ref = class_ref(config.get("cell"))
        if ref is None or ref[0] not in _RNN_CELL_RUNTIME:
            return None
        cell_name = ref[1].get("name") or _RNN_CELL_RUNTIME[ref[0]]
        return (SubSpec("cell", str(cell_name), ref[0], ref[1], "cell.config"),)
    if class_name == "Bidirectional":
        return _bidirectional(config)
    if class_name == "MultiHeadAttention":
        use_bias = _flag("use_bias")
        variables = (_kernel(), _bias(present=use_bias))
        present = tuple(v for v in variables if v.present(config))
        return tuple(
            SubSpec(group, runtime, "EinsumDense", config, variables=present)
            for group, runtime in _MHA_PROJECTIONS
        )
    if is_wrapper(class_name, config):
        ref = class_ref(config.get("layer"))
        if ref is None:
            return None
        inner_name = ref[1].get("name") or snake_case(ref[0])
        return (SubSpec("layer", str(inner_name), ref[0], ref[1], "layer.config"),)
    return ()


def _bidirectional(config: Config) -> tuple[SubSpec, ...] | None:
    forward = class_ref(config.get("layer"))
    if forward is None:
        return None
    fwd_name = str(forward[1].get("name") or snake_case(forward[0]))
    base = fwd_name.removeprefix("forward_")
    backward = class_ref(config.get("backward_layer"))
    if backward is not None:
        bwd_class, bwd_config, bwd_key = backward[0], backward[1], "backward_layer.config"
        bwd_name = str(bwd_config.get("name") or f"backward_{base}")
    else:
        bwd_class, bwd_config, bwd_key = forward[0], forward[1], "layer.config"
        bwd_name = f"backward_{base}"
    if not fwd_name.startswith("forward_"):
        fwd_name = f"forward_{fwd_name}"
    if not bwd_name.startswith("backward_"):
        bwd_name = f"backward_{bwd_name}"
    return (
        SubSpec("forward_layer", fwd_name, forward[0], forward[1], "layer.config"),
        SubSpec("backward_layer", bwd_name, bwd_class, bwd_config, bwd_key),
    )
