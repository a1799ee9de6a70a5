"""A labelled corpus for WGT001: small models trained on synthetic data, re-created from
their config (the reset trap), partially reset (backbone reset, head kept), briefly trained
from scratch and fine-tuned, across layer kinds and initializers.

Used by tests/test_wgt001_accuracy.py (a floor) and benchmarks/bench_wgt001.py (the exact
figures). Every layer is labelled "at initialization" or not by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ARCHITECTURES = (
    "dense",
    "conv",
    "depthwise",
    "separable",
    "batchnorm",
    "lstm",
    "embedding",
    "attention",
)
INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "orthogonal",
    "random_normal",
    "ones",
)
# Not "zeros": a stack of zero-initialized kernels gets no gradient at all (every unit and
# every downstream input is zero), so such layers cannot be labelled "trained" truthfully.
VARIANTS = ("trained", "reset", "partial", "brief", "finetuned")
MIN_PARAMETERS = 1000


@dataclass
class Case:
    """One saved model and the truth about its layers."""

    name: str
    path: Path
    at_init: dict[str, bool] = field(default_factory=dict)


def _build(keras: Any, arch: str, init: str) -> Any:
    L = keras.layers
    if arch in ("lstm", "attention"):
        inputs = keras.Input((10, 16))
    elif arch == "embedding":
        inputs = keras.Input((10,), dtype="int32")
    elif arch == "dense":
        inputs = keras.Input((32,))
    else:
        inputs = keras.Input((12, 12, 8))
    x = inputs
    if arch == "dense":
        x = L.Dense(64, activation="relu", kernel_initializer=init, name="b1")(x)
        x = L.Dense(48, activation="relu", kernel_initializer=init, name="b2")(x)
    elif arch == "conv":
        x = L.Conv2D(16, 3, activation="relu", kernel_initializer=init, name="b1")(x)
        x = L.Conv2D(24, 3, activation="relu", kernel_initializer=init, name="b2")(x)
        x = L.GlobalAveragePooling2D()(x)
    elif arch == "depthwise":
        x = L.DepthwiseConv2D(
            3, depth_multiplier=16, depthwise_initializer=init, activation="relu", name="b1"
        )(x)
        x = L.Conv2D(16, 1, kernel_initializer=init, name="b2")(x)
        x = L.GlobalAveragePooling2D()(x)
    elif arch == "separable":
        x = L.SeparableConv2D(
            64,
            3,
            depth_multiplier=2,
            depthwise_initializer=init,
            pointwise_initializer=init,
            activation="relu",
            name="b1",
        )(x)
        x = L.GlobalAveragePooling2D()(x)
    elif arch == "batchnorm":
        x = L.Conv2D(32, 3, kernel_initializer=init, name="b1")(x)
        x = L.BatchNormalization(name="b2")(x)
        x = L.GlobalAveragePooling2D()(x)
    elif arch == "lstm":
        x = L.LSTM(24, kernel_initializer=init, name="b1")(x)
    elif arch == "embedding":
        x = L.Embedding(120, 16, embeddings_initializer=init, name="b1")(x)
        x = L.GlobalAveragePooling1D()(x)
    elif arch == "attention":
        x = L.MultiHeadAttention(2, 16, kernel_initializer=init, name="b1")(x, x)
        x = L.GlobalAveragePooling1D()(x)
    outputs = L.Dense(40, kernel_initializer=init, name="head")(x)
    return keras.Model(inputs, outputs, name=f"{arch}_{init}")


def _data(model: Any, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    shape = (64, *model.input_shape[1:])
    if model.inputs[0].dtype.startswith("int"):
        x = rng.integers(0, 120, size=shape).astype("int32")
    else:
        x = rng.normal(size=shape).astype("float32")
    y = rng.normal(size=(64, *model.output_shape[1:])).astype("float32")
    return x, y


def _fit(keras: Any, model: Any, epochs: int, learning_rate: float) -> None:
    x, y = _data(model, np.random.default_rng(0))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0)


def _layers_with_weights(model: Any) -> list[Any]:
    return [layer for layer in model.layers if layer.weights]


def variants(keras: Any, arch: str, init: str) -> Iterator[tuple[str, Any, set[str]]]:
    """(variant, model, names of the layers at initialization)."""
    trained = _build(keras, arch, init)
    _fit(keras, trained, epochs=4, learning_rate=3e-3)
    names = {layer.name for layer in _layers_with_weights(trained)}
    yield "trained", trained, set()
    yield "reset", keras.Model.from_config(trained.get_config()), names
    partial = keras.Model.from_config(trained.get_config())  # fresh backbone ...
    partial.get_layer("head").set_weights(trained.get_layer("head").get_weights())  # ... head kept
    yield "partial", partial, names - {"head"}
    brief = _build(keras, arch, init)
    _fit(keras, brief, epochs=2, learning_rate=1e-3)  # eight Adam steps from scratch
    yield "brief", brief, set()
    finetuned = keras.Model.from_config(trained.get_config())
    finetuned.set_weights(trained.get_weights())
    _fit(keras, finetuned, epochs=1, learning_rate=1e-4)
    yield "finetuned", finetuned, set()


def build_corpus(
    keras: Any,
    out: Path,
    architectures: tuple[str, ...] = ARCHITECTURES,
    initializers: tuple[str, ...] = INITIALIZERS,
    progress: Callable[[str], None] | None = None,
) -> list[Case]:
    """Save every variant of every (architecture, initializer) as `.keras` (seeded, so the
    corpus is the same in every run)."""
    keras.utils.set_random_seed(0)
    cases = []
    for arch in architectures:
        for init in initializers:
            for variant, model, at_init in variants(keras, arch, init):
                name = f"{arch}-{init}-{variant}"
                path = out / f"{name}.keras"
                model.save(path)
                truth = {layer.name: layer.name in at_init for layer in _layers_with_weights(model)}
                cases.append(Case(name, path, truth))
                if progress:
                    progress(name)
    return cases


@dataclass
class Score:
    """Per-layer confusion counts of WGT001 on layers with >= MIN_PARAMETERS parameters."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def score(cases: list[Case]) -> dict[str, Score]:
    """Audit every case with WGT001 and score it, per architecture and in total."""
    from auditor.engine.config import AuditConfig
    from auditor.engine.runner import run

    report = run([case.path for case in cases], AuditConfig(select=["WGT001"]))
    scores: dict[str, Score] = {"all": Score()}
    for case, model in zip(cases, report.models, strict=True):
        # A Keras layer's weights may sit on sub-layers (`b1/query`, `b1/lstm_cell`): judge
        # the layer by everything under its path.
        flagged = {f.location.layer_path.split("/")[0] for f in model.findings}
        sizes: dict[str, int] = {}
        for layer in model.inventory:
            top = layer.path.split("/")[0]
            sizes[top] = sizes.get(top, 0) + sum(w.parameters for w in layer.weights)
        arch = case.name.split("-", 1)[0]
        for layer, truth in case.at_init.items():
            if sizes.get(layer, 0) < MIN_PARAMETERS:
                continue
            got = layer in flagged
            for key in ("all", arch):
                s = scores.setdefault(key, Score())
                if truth and got:
                    s.tp += 1
                elif truth:
                    s.fn += 1
                    s.errors.append(f"missed {case.name}:{layer}")
                elif got:
                    s.fp += 1
                    s.errors.append(f"false alarm {case.name}:{layer}")
                else:
                    s.tn += 1
    return scores
