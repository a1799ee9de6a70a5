"""Weights-only files (`save_weights`), written by Keras 3 and by genuine tf.keras 2: the
same weights, roles and shapes as the full model's, no AUD001, the rules that judge a
config not applicable (AUD002 says so), the weight rules run against Keras's default
initializers, the optimizer's iteration count read, and both sides of `--reference` and
`audit compare` accept them."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from auditor.engine.config import AuditConfig
from auditor.engine.runner import run
from auditor.loaders import open_model
from auditor.training.compare import compare

X = np.random.default_rng(0).normal(size=(8, 8, 8, 3)).astype("float32")
Y = np.zeros((8, 2), "float32")


def _net(keras):
    L = keras.layers
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 3, name="conv")(inputs)
    x = L.BatchNormalization(name="bn")(x)
    x = L.DepthwiseConv2D(3, name="dw")(x)
    x = L.SeparableConv2D(4, 1, use_bias=False, name="sep")(x)
    x = L.GlobalAveragePooling2D()(x)
    inner = keras.Sequential([keras.Input((4,)), L.Dense(3, name="d1")], name="inner")
    x = L.Reshape((3, 1))(inner(x))
    x = L.LSTM(2, name="lstm")(x)
    x = L.LayerNormalization(name="ln")(x)
    return keras.Model(inputs, L.Dense(2, name="head")(x), name="net")


@pytest.fixture(scope="module")
def files(keras, tmp_path_factory):
    root = tmp_path_factory.mktemp("weights_only")
    trained = _net(keras)
    trained.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    trained.fit(X, Y, epochs=5, batch_size=2, verbose=0)  # 20 steps
    trained.save(root / "trained.keras")
    trained.save_weights(root / "trained.weights.h5")
    fresh = _net(keras)
    fresh.compile(optimizer="adam", loss="mse")
    fresh.optimizer.build(fresh.trainable_variables)  # its state, at 0 steps
    fresh.save_weights(root / "fresh.weights.h5")
    moved = _net(keras)
    moved.set_weights(trained.get_weights())
    moved.get_layer("head").kernel.assign(
        moved.get_layer("head").kernel.numpy() + 5.0
    )  # out of support
    moved.save_weights(root / "moved.weights.h5")
    return root


def _view(path):
    with open_model(path) as loaded:
        graph = loaded.graph
        assert graph.readable and graph.unclaimed == () and graph.issues == ()
        return graph, {w.path: (w.role.value, w.shape) for w in graph.weights()}


def test_keras_3_weights_map_as_the_full_model_does(files):
    full, expected = _view(files / "trained.keras")
    graph, found = _view(files / "trained.weights.h5")
    assert found == expected
    assert graph.source.format == "weights" and not graph.has_config
    assert (full.training_steps, graph.training_steps) == (20, 20)
    assert _view(files / "fresh.weights.h5")[0].training_steps == 0


def test_a_weights_file_is_audited_not_refused(files):
    (model,) = run([files / "trained.weights.h5"], AuditConfig()).models
    (full,) = run([files / "trained.keras"], AuditConfig(select=["WGT"])).models
    assert model.source.format == "weights"
    # The weight rules reach the full model's verdicts: its initializers are the defaults.
    weight_findings = [(f.code, f.location.layer_path) for f in full.findings]
    assert [(f.code, f.location.layer_path) for f in model.findings] == [
        ("AUD002", ""),
        *weight_findings,
    ]
    assert model.findings[0].message.startswith(
        "A weights-only file holds no model config: 8 layer(s) with 19 weight(s)"
    )
    skipped = {n.code: n.reason for n in model.rules_not_applicable}
    config_rules = {"REG003", "REG004", "REG005", "REG006", "REG007", "REG008", "REG009"}
    config_rules |= {"REG010", "REG011", "REG013", "REG014"}
    for code in config_rules:
        assert (
            skipped[code] == "a weights-only file holds no model config: no layer setting to judge"
        )
    # AUD003 runs (a preset's declared parameter count), but has no config to compare with.
    assert {"WGT001", "WGT003", "WGT004", "WGT005", "AUD003"} <= set(model.rules_run)


def test_untrained_weights_are_judged_against_keras_defaults(files):
    findings = run([files / "fresh.weights.h5"], AuditConfig(select=["WGT001"])).findings
    summary = next(f for f in findings if f.location.layer_path == "")
    assert summary.message.startswith("8 of 8 layers with weights are at initialization.")
    assert "The stored optimizer state records no training step." in summary.message
    assert "each was assumed to be Keras's default" in summary.message
    assert summary.details["training_steps"] == 0
    trained = run([files / "trained.weights.h5"], AuditConfig(select=["WGT001"])).findings
    assert not any(f.message.startswith("8 of 8") for f in trained)


def test_reference_and_compare_take_weights_files_on_either_side(files):
    same = run(
        [files / "trained.keras"],
        AuditConfig(select=["WGT002"]),
        reference=files / "trained.weights.h5",
    )
    assert same.findings == []
    (changed,) = run(
        [files / "moved.weights.h5"],
        AuditConfig(select=["WGT002"]),
        reference=files / "trained.keras",
    ).findings
    assert changed.location.layer_path == "head"
    result = compare(files / "trained.keras", files / "moved.weights.h5")
    assert {c.path: c.status for c in result.layers if c.status != "unchanged"} == {
        "head": "changed"
    }


def test_variables_that_fit_several_settings_stay_opaque(keras, tmp_path):
    """A BatchNormalization without `center` stores three variables, as one without
    `scale` does: which is gamma and which beta cannot be told, so the layer is opaque
    and its tensors are kept with no role."""
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.BatchNormalization(center=False, name="bn")(inputs))
    model.save_weights(tmp_path / "bn.weights.h5")
    graph, found = _view(tmp_path / "bn.weights.h5")
    (bn,) = graph.root.children
    assert bn.opaque.startswith("a weights-only file: 3 variables of a BatchNormalization")
    assert sorted(role for role, _ in found.values()) == ["other"] * 3
    findings = run([tmp_path / "bn.weights.h5"], AuditConfig(select=["AUD002"])).findings
    assert [f.location.layer_path for f in findings] == ["", "bn"]


TF_KERAS = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tf_keras as K
L = K.layers
K.utils.set_random_seed(3)
inputs = L.Input((8, 8, 3))
x = L.Conv2D(4, 3, name="conv")(inputs)
x = L.BatchNormalization(name="bn")(x)
x = L.SeparableConv2D(4, 3, name="sep")(x)
x = L.GlobalAveragePooling2D()(x)
x = L.LSTM(3, name="lstm")(L.Reshape((4, 1))(x))
x = L.GRU(2, name="gru")(L.Reshape((3, 1))(x))
model = K.Model(inputs, L.Dense(2, name="head")(L.Embedding(5, 2, name="emb")(x)))
model.save(os.path.join(sys.argv[1], "full.h5"))
model.save_weights(os.path.join(sys.argv[1], "weights.h5"))
"""


def test_tf_keras_2_save_weights_map_as_its_full_file_does(tmp_path):
    if importlib.util.find_spec("tf_keras") is None:  # not imported: it runs apart
        pytest.skip("the [test] extra installs tf-keras")
    proc = subprocess.run(
        [sys.executable, "-c", TF_KERAS, str(tmp_path)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    _, expected = _view(tmp_path / "full.h5")
    graph, found = _view(tmp_path / "weights.h5")
    assert found == expected
    assert graph.source.keras_version.startswith("2.")
    classes = {node.name: node.class_name for node in graph.root.children}
    assert classes == {
        "conv": "Conv2D",
        "bn": "BatchNormalization",
        "sep": "SeparableConv2D",
        "lstm": "LSTM",
        "gru": "GRU",
        "emb": "Embedding",
        "head": "Dense",
    }
    (model,) = run([tmp_path / "weights.h5"], AuditConfig()).models
    assert {f.code for f in model.findings} == {"AUD002", "WGT001"}
    assert json.loads(model.model_dump_json())["source"]["format"] == "weights"
