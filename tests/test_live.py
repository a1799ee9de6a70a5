"""The live front-end: the same representation as the file loaders, plus the runtime truth
(each variable's regularizer and trainable flag, the optimizer's exclusions)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import auditor
from auditor.engine.config import AuditConfig
from auditor.graph.decay import Decay, optimizer_decay
from auditor.loaders import open_model
from auditor.loaders.live import load_live
from auditor.reports.json import schema
from auditor.results.findings import Report

pytestmark = pytest.mark.backends


def test_the_backend_is_the_one_asked_for(keras):
    """So that `make test`'s second run is on JAX, and the first on TensorFlow."""
    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")


def _row(weight):
    return (
        weight.path,
        weight.name,
        weight.role,
        weight.shape,
        weight.trainable,
        weight.regularizer,
        weight.regularizer_key,
    )


def test_live_graph_equals_the_file_graph(complex_model):
    model, paths = complex_model
    live = load_live(model).graph
    assert live.live and live.source.format == "live" and live.readable
    with open_model(paths["keras"]) as loaded:
        saved = loaded.graph
        assert sorted(map(_row, live.weights())) == sorted(map(_row, saved.weights()))
        assert [(n.path, n.class_name, n.is_model) for n in live.root.walk()] == [
            (n.path, n.class_name, n.is_model) for n in saved.root.walk()
        ]
        assert [n.inbound for n in live.root.walk()] == [n.inbound for n in saved.root.walk()]


def test_live_weights_carry_the_runtime_truth(complex_model):
    model, _ = complex_model
    live = load_live(model)
    by_path = {w.path: w for w in live.graph.weights()}
    trainable = {id(v) for v in model.trainable_weights}
    assert set(live.variables) == set(by_path)
    for path, variable in live.variables.items():
        weight = by_path[path]
        assert weight.trainable == (id(variable) in trainable), path
        # Built the ordinary way, the variable carries what the config declares.
        assert weight.active_regularizer == weight.regularizer, path
        np.testing.assert_array_equal(
            np.concatenate([c.ravel() for c in weight.tensor.iter_chunks(64)]),
            np.asarray(variable).ravel(),
        )
    assert by_path["frozen/frozen_dense/kernel"].trainable is False
    assert by_path["subseq/inner_bn/moving_mean"].trainable is False


def test_live_optimizer(complex_model):
    model, _ = complex_model
    optimizer = load_live(model).graph.optimizer
    assert optimizer.class_name == "AdamW"
    assert optimizer.weight_decay == pytest.approx(0.01)
    assert optimizer.learning_rate == pytest.approx(1e-3)
    assert optimizer.exclusions == () and optimizer.excluded_paths == frozenset()


def test_exclusions_agree_with_keras_use_weight_decay(keras):
    L = keras.layers
    inputs = keras.Input((8, 8, 3))
    x = L.DepthwiseConv2D(3, name="dw")(inputs)
    x = L.BatchNormalization(name="bn")(x)
    model = keras.Model(inputs, L.Dense(2, name="out")(L.Flatten()(x)))
    optimizer = keras.optimizers.SGD(weight_decay=0.1)
    optimizer.exclude_from_weight_decay(
        var_names=["gamma", "bi"], var_list=[model.get_layer("dw").kernel]
    )
    model.compile(optimizer=optimizer, loss="mse")
    live = load_live(model)
    spec = live.graph.optimizer
    assert spec.exclusions == ("bi", "gamma")
    assert spec.excluded_paths == frozenset({"dw/kernel"})
    for weight in live.graph.weights():
        if not weight.trainable:
            continue
        expected = optimizer._use_weight_decay(live.variables[weight.path])
        assert (optimizer_decay(weight, spec) is Decay.DECAYED) == expected, weight.path


def test_schedule_and_loss_scale_optimizer(keras):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    schedule = keras.optimizers.schedules.CosineDecay(0.05, decay_steps=100)
    inner = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=0.02)
    model.compile(optimizer=keras.optimizers.LossScaleOptimizer(inner), loss="mse")
    optimizer = load_live(model).graph.optimizer
    assert optimizer.class_name == "AdamW"
    assert optimizer.learning_rate_schedule == "CosineDecay"
    assert optimizer.learning_rate == pytest.approx(0.05)
    assert optimizer.weight_decay == pytest.approx(0.02)


def test_uncompiled_model_has_no_optimizer(keras):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    assert load_live(model).graph.compile is None


def test_subclassed_model_is_seen_through_its_live_objects(keras, tmp_path):
    L, R = keras.layers, keras.regularizers

    class Net(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.body = L.Dense(4, kernel_regularizer=R.L2(1e-4))
            self.norm = L.BatchNormalization()
            self.head = L.Dense(2)

        def call(self, x):
            return self.head(self.norm(self.body(x)))

    model = Net(name="net")
    model(np.zeros((1, 3)))
    graph = load_live(model).graph
    weights = {w.path: w for w in graph.weights()}
    assert set(weights) == {v.path for v in model.weights}
    body = weights[model.body.kernel.path]
    assert body.path == f"net/{model.body.name}/kernel"
    assert body.regularizer.l2 == pytest.approx(1e-4)
    assert body.active_regularizer.l2 == pytest.approx(1e-4)
    assert weights[model.norm.gamma.path].role == "gamma"
    assert not any(node.opaque for node in graph.root.walk())
    live_codes = {f.code for f in auditor.audit(model, AuditConfig(select=["AUD"])).findings}
    assert live_codes == set()
    path = tmp_path / "net.keras"
    model.save(path)
    file_codes = {f.code for f in auditor.audit(path, AuditConfig(select=["AUD"])).findings}
    assert file_codes == {"AUD002"}  # the saved file is opaque; the live model is not


def test_custom_layer_variables_get_roles_by_name(keras):
    class Gate(keras.layers.Layer):
        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], 2), name="kernel")
            self.temperature = self.add_weight(shape=(), name="temperature")

        def call(self, x):
            return (x @ self.kernel) * self.temperature

    inputs = keras.Input((3,))
    model = keras.Model(inputs, Gate(name="gate")(inputs))
    weights = {w.path: w for w in load_live(model).graph.weights()}
    assert weights["gate/kernel"].role == "kernel"
    assert weights["gate/temperature"].role == "other"


def test_live_report_validates_against_the_schema(complex_model):
    import jsonschema

    report = auditor.audit(complex_model[0])
    assert report.models[0].source.format == "live"
    assert report.models[0].source.sha256 is None
    jsonschema.validate(report.model_dump(mode="json"), schema())
    assert Report.model_validate_json(report.to_json()) == report


def test_not_a_model_and_unbuilt_model(keras):
    with pytest.raises(TypeError, match=r"Received: builtins\.int"):
        auditor.audit(3)
    with pytest.raises(TypeError, match=r"keras\.src\.layers\.core\.dense\.Dense"):
        auditor.audit(keras.layers.Dense(2))
    model = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="not built"):
        auditor.audit(model)


@pytest.mark.parametrize("name", ["MobileNetV3Small", "ConvNeXtTiny"])
def test_applications_live_equals_file(keras, tmp_path, name):
    """Ops layers (MobileNetV3) and LayerScale's counter-named variables (ConvNeXt)."""
    model = getattr(keras.applications, name)(weights=None)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    live = load_live(model)
    assert len(live.variables) == len(model.weights)
    with open_model(path) as loaded:
        assert sorted(map(_row, live.graph.weights())) == sorted(map(_row, loaded.graph.weights()))


def test_sequential_root_live_equals_file(keras, tmp_path):
    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((3,)),
            L.Dense(2, bias_regularizer=keras.regularizers.L2(1e-4)),
            keras.Sequential([L.Dense(2), L.BatchNormalization()]),
        ]
    )
    path = tmp_path / "seq.keras"
    model.save(path)
    live = load_live(model).graph
    with open_model(path) as loaded:
        assert sorted(map(_row, live.weights())) == sorted(map(_row, loaded.graph.weights()))
    assert {w.path for w in live.weights()} == {v.path for v in model.weights}
