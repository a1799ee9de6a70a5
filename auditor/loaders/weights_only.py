"""Weights-only HDF5 files: what `save_weights` writes, with no model config.

Keras 3 (`*.weights.h5`): `layers/<group>/vars/<i>`, each group named as Keras names a
layer's (its class in snake case, numbered per container: `dense`, `dense_1`), the
layer's own name on its `vars` group, nested models under `layers/<group>/layers/`, and
the optimizer's variables under `optimizer/vars/`. A Functional model lists its
`InputLayer`, a Sequential does not.

Keras 2 (`save_weights` to `.h5`): `layer_names` on the root and `weight_names` on each
layer's group, as in a full model's `model_weights` group.

Either way the config is rebuilt from the file: each layer's class from its group's name
(Keras 3) or from its weights' names and shapes (Keras 2), and the settings that decide
which variables exist (`use_bias`, `center`, `scale`) from the variables stored. A layer
whose class cannot be told, or whose variables fit more than one set of settings, is
opaque, and its tensors are kept with no role. Initializers are Keras's defaults for
each variable: an assumption, which the report states. No regularizer is declared.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from auditor.graph.model import Role
from auditor.loaders.layer_specs import (
    MODEL_CLASSES,
    VarSpec,
    known_layer_classes,
    own_vars,
    sublayers,
)
from auditor.loaders.safe_hdf5 import H5Scan

__all__ = ["DEFAULT_INITIALIZERS", "Rebuilt", "keras2_config", "keras3_config", "layout"]

Config = dict[str, Any]


class Rebuilt:
    """A config rebuilt from a weights file, and why some of its layers stay opaque.

    Attributes:
        config: the model config, as `config_tree.build_tree` takes it.
        opaque: `id` of a layer's config dict -> why its variables cannot be told apart
            (a known class whose stored variables fit several sets of settings).
        stored: group -> how many datasets it holds at any depth.
        children: group -> the names of the groups right under it.
    """

    def __init__(self) -> None:
        self.config: Config = {}
        self.opaque: dict[int, str] = {}
        self.stored: dict[str, int] = {}
        self.children: dict[str, set[str]] = {}

    def entry(self, class_name: str, name: str, stored: int) -> Config:
        """The config of a layer whose variables number `stored`, with Keras's default
        initializers; a count that several settings fit leaves the layer opaque."""
        fits = [c for c in _settings(class_name, name) if _count(class_name, c) == stored]
        layouts = {tuple(v.name for v in _vars(class_name, c)) for c in fits}
        if len(layouts) != 1:
            config: Config = {"name": name}
            if fits:
                self.opaque[id(config)] = (
                    f"a weights-only file: {stored} variables of a {class_name} fit several "
                    "settings, so which is which cannot be told"
                )
            return {"class_name": class_name, "config": config}
        config = fits[0]
        for spec in _vars(class_name, config):
            if spec.initializer_key and spec.role in DEFAULT_INITIALIZERS:
                config.setdefault(spec.initializer_key, DEFAULT_INITIALIZERS[spec.role])
        return {"class_name": class_name, "config": config}


#: Keras's default initializer of each kind of variable (the same in Keras 2 and 3).
DEFAULT_INITIALIZERS: Mapping[Role, str] = {
    Role.KERNEL: "glorot_uniform",
    Role.DEPTHWISE_KERNEL: "glorot_uniform",
    Role.POINTWISE_KERNEL: "glorot_uniform",
    Role.RECURRENT_KERNEL: "orthogonal",
    Role.BIAS: "zeros",
    Role.GAMMA: "ones",
    Role.BETA: "zeros",
    Role.MOVING_MEAN: "zeros",
    Role.MOVING_VARIANCE: "ones",
    Role.EMBEDDINGS: "uniform",  # RandomUniform(-0.05, 0.05)
    Role.ALPHA: "zeros",
}

#: The settings that decide which variables a layer creates.
_FLAGS = ("use_bias", "center", "scale")
_NUMBERED = re.compile(r"(.+?)(?:_(\d+))?")


def layout(scan: H5Scan, root_attrs: set[str]) -> str | None:
    """`keras3` or `keras2` for a weights-only file, None for anything else."""
    if "layer_names" in root_attrs or "layer_names0" in root_attrs:
        return "keras2"
    if "layers" in scan.groups or "vars" in scan.groups:
        return "keras3"
    return None


def keras3_config(scan: H5Scan, name_of: Callable[[str], str | None]) -> Rebuilt:
    """A model config rebuilt from a Keras 3 weights file's groups (`name_of(group)`
    gives the name written on a `vars` group)."""
    rebuilt = Rebuilt()
    for dataset in scan.datasets:  # how many each group holds, at any depth
        parts = dataset.split("/")
        for end in range(1, len(parts)):
            group = "/".join(parts[:end])
            rebuilt.stored[group] = rebuilt.stored.get(group, 0) + 1
    for group in scan.groups:
        parent, _, child = group.rpartition("/")
        rebuilt.children.setdefault(parent, set()).add(child)
    name = name_of("vars") or "model"
    functional = any(_base(g) == "input_layer" for g in rebuilt.children.get("layers", ()))
    layers = _layers(rebuilt, scan, "layers", name_of)
    rebuilt.config = {
        "class_name": "Functional" if functional else "Sequential",
        "config": {"name": name, "layers": layers},
    }
    return rebuilt


def _layers(
    rebuilt: Rebuilt, scan: H5Scan, prefix: str, name_of: Callable[[str], str | None]
) -> list[Config]:
    entries = []
    groups = sorted(rebuilt.children.get(prefix, ()), key=lambda g: (_base(g), _index(g)))
    for group in groups:
        path = f"{prefix}/{group}"
        name = name_of(f"{path}/vars") or group
        base = _base(group)
        if f"{path}/layers" in scan.groups:
            cls = "Sequential" if base == "sequential" else "Functional"
            nested = _layers(rebuilt, scan, f"{path}/layers", name_of)
            entries.append({"class_name": cls, "config": {"name": name, "layers": nested}})
            continue
        stored = rebuilt.stored.get(path, 0)
        if stored == 0:
            continue  # a weightless layer: nothing to judge, and no group to count
        entries.append(rebuilt.entry(known_layer_classes().get(base, base), name, stored))
    return entries


def _base(group: str) -> str:
    match = _NUMBERED.fullmatch(group)
    return match.group(1) if match else group


def _index(group: str) -> int:
    match = _NUMBERED.fullmatch(group)
    return int(match.group(2)) if match and match.group(2) else 0


def _settings(class_name: str, name: str) -> Iterator[Config]:
    for values in itertools.product((True, False), repeat=len(_FLAGS)):
        config: Config = {"name": name, **dict(zip(_FLAGS, values, strict=True))}
        if class_name == "LSTM":
            config["unit_forget_bias"] = True
        yield config


def _vars(class_name: str, config: Config) -> list[VarSpec]:
    own = own_vars(class_name, config) or ()
    subs = sublayers(class_name, config, str(config["name"])) or ()
    found = list(own)
    for sub in subs:
        found.extend(
            sub.variables
            if sub.variables is not None
            else own_vars(sub.class_name, sub.config) or ()
        )
    return found


def _count(class_name: str, config: Config) -> int | None:
    if class_name in MODEL_CLASSES or own_vars(class_name, config) is None:
        return None
    if sublayers(class_name, config, str(config["name"])) is None:
        return None
    return len(_vars(class_name, config))


def keras2_config(layers: list[tuple[str, list[str], list[tuple[int, ...] | None]]]) -> Rebuilt:
    """A model config rebuilt from a Keras 2 weights file: for each layer, its name, its
    stored weight names and their shapes."""
    rebuilt = Rebuilt()
    entries = []
    for name, weight_names, shapes in layers:
        if not weight_names:
            continue
        short = [re.sub(r":\d+$", "", n).rsplit("/", 1)[-1] for n in weight_names]
        class_name = _keras2_class(short, dict(zip(short, shapes, strict=True)))
        entries.append(rebuilt.entry(class_name, name, len(short)))
    rebuilt.config = {"class_name": "Functional", "config": {"name": "model", "layers": entries}}
    return rebuilt


def _keras2_class(names: list[str], shapes: Mapping[str, tuple[int, ...] | None]) -> str:
    """The Keras class that stores these variables (names as Keras 2 wrote them)."""
    found = set(names)
    if {"depthwise_kernel", "pointwise_kernel"} <= found:
        return "SeparableConv2D"
    if "depthwise_kernel" in found:
        return "DepthwiseConv2D"
    if {"moving_mean", "moving_variance"} <= found:
        return "BatchNormalization"
    if "embeddings" in found:
        return "Embedding"
    if "recurrent_kernel" in found:
        kernel, recurrent = shapes.get("kernel"), shapes.get("recurrent_kernel")
        if kernel and recurrent and len(recurrent) == 2 and recurrent[0]:
            gates = recurrent[1] // recurrent[0]
            return {4: "LSTM", 3: "GRU", 1: "SimpleRNN"}.get(gates, "?")
        return "?"
    if "kernel" in found:
        rank = len(shapes.get("kernel") or ())
        return {2: "Dense", 3: "Conv1D", 4: "Conv2D", 5: "Conv3D"}.get(rank, "?")
    if found <= {"gamma", "beta"} and found:
        return "LayerNormalization"
    if found == {"alpha"}:
        return "PReLU"
    return "?"
