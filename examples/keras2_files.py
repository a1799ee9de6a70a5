"""Files in the layouts of standalone Keras 2.0-2.1, written by hand with h5py: the bare
list config of a Sequential, `L1L2` for every L1/L2 regularizer, `:0` weight names under
the layer's name scope, `lr` in the optimizer config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

F32_1E3 = 0.0010000000474974513  # 1e-3 as Keras 2 wrote it (a float32, printed in full)


def _gru(name: str) -> dict[str, Any]:
    return {
        "class_name": "GRU",
        "config": {
            "name": name,
            "trainable": True,
            "return_sequences": False,
            "go_backwards": False,
            "units": 5,
            "activation": "tanh",
            "recurrent_activation": "hard_sigmoid",
            "use_bias": True,
            "kernel_regularizer": {"class_name": "L1L2", "config": {"l1": 0.0, "l2": F32_1E3}},
            "recurrent_regularizer": None,
            "bias_regularizer": None,
            "activity_regularizer": None,
            "implementation": 1,
            "reset_after": False,
        },
    }


def _names(values: list[str]) -> np.ndarray:
    return np.array([v.encode() for v in values], dtype="S")


def bidirectional_gru(path: Path, keras_version: str, backward: float = 3.0) -> Path:
    """A Keras 2.1-style `Sequential([Bidirectional(GRU(5, kernel_regularizer=L2(1e-3))),
    Dense(2, softmax)])` compiled with Adam and a categorical loss. Every forward GRU weight
    holds 1.0 and every backward one `backward`: the kernels' L2 penalty is 0.12 forward
    and 0.12 * backward**2 backward."""
    config = {
        "class_name": "Sequential",
        "config": [
            {
                "class_name": "Bidirectional",
                "config": {
                    "name": "bidirectional_1",
                    "trainable": True,
                    "batch_input_shape": [None, 6, 8],
                    "layer": _gru("gru_1"),
                    "merge_mode": "concat",
                },
            },
            {
                "class_name": "Dense",
                "config": {"name": "dense_1", "units": 2, "activation": "softmax"},
            },
        ],
    }
    training = {
        "optimizer_config": {"class_name": "Adam", "config": {"lr": 0.001, "decay": 0.0}},
        "loss": "categorical_crossentropy",
    }
    shapes = {"kernel": (8, 15), "recurrent_kernel": (5, 15), "bias": (15,)}
    weights = {
        "bidirectional_1": [
            (f"bidirectional_1/{side}_gru_1/{name}:0", shape, value)
            for side, value in (("forward", 1.0), ("backward", backward))
            for name, shape in shapes.items()
        ],
        "dense_1": [("dense_1/kernel:0", (10, 2), 0.1), ("dense_1/bias:0", (2,), 0.0)],
    }
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = keras_version.encode()
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        f.attrs["training_config"] = json.dumps(training).encode()
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = _names(list(weights))
        for layer, stored in weights.items():
            layer_group = group.create_group(layer)
            layer_group.attrs["weight_names"] = _names([name for name, _, _ in stored])
            for name, shape, value in stored:
                layer_group[name] = np.full(shape, value, "f4")
    return path


def merged_branches(path: Path, merge_class: str = "Merge") -> Path:
    """A Keras 2.0-style functional `Model`: two `Dense` branches joined by a weightless
    `merge_class` layer (Keras 2.0's legacy `Merge(mode="concat")`), then a `Dense`."""

    def layer(name: str, class_name: str, config: dict[str, Any], inbound: list[str]) -> Any:
        nodes = [[[source, 0, 0, {}] for source in inbound]] if inbound else []
        return {
            "name": name,
            "class_name": class_name,
            "config": {"name": name, **config},
            "inbound_nodes": nodes,
        }

    dense = {"units": 2, "use_bias": True, "kernel_regularizer": None}
    config = {
        "class_name": "Model",
        "config": {
            "name": "model_1",
            "layers": [
                layer("input_1", "InputLayer", {"batch_input_shape": [None, 3]}, []),
                layer("dense_1", "Dense", dense, ["input_1"]),
                layer("dense_2", "Dense", dense, ["input_1"]),
                layer(
                    "merge_1",
                    merge_class,
                    {"mode": "concat", "concat_axis": -1, "mode_type": "raw"},
                    ["dense_1", "dense_2"],
                ),
                layer("dense_3", "Dense", dense, ["merge_1"]),
            ],
            "input_layers": [["input_1", 0, 0]],
            "output_layers": [["dense_3", 0, 0]],
        },
    }
    shapes = {"dense_1": (3, 2), "dense_2": (3, 2), "dense_3": (4, 2)}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.0.6"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode()
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = _names(["input_1", "dense_1", "dense_2", "merge_1", "dense_3"])
        for name in ("input_1", "merge_1"):
            group.create_group(name).attrs["weight_names"] = np.array([], dtype="S")
        rng = np.random.default_rng(0)
        for name, shape in shapes.items():
            layer_group = group.create_group(name)
            layer_group.attrs["weight_names"] = _names([f"{name}/kernel:0", f"{name}/bias:0"])
            layer_group[f"{name}/kernel:0"] = rng.normal(0, 0.3, shape).astype("f4")
            layer_group[f"{name}/bias:0"] = rng.normal(0, 0.1, shape[1]).astype("f4")
    return path
