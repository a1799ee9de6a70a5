import numpy as np
import pytest

from auditor.results.findings import Confidence, Severity
from tests.conftest import FORMATS
from tests.harness import assert_rule, findings_of


def _train(model, epochs=3):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, *model.input_shape[1:])).astype("float32")
    y = rng.normal(size=(64, *model.output_shape[1:])).astype("float32")
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=epochs, batch_size=16, verbose=0)


@pytest.fixture(scope="module")
def models(keras, save_model):
    L = keras.layers

    def build():
        inputs = keras.Input((16,))
        x = L.Dense(64, activation="relu", name="hidden")(inputs)
        x = L.BatchNormalization(name="bn")(x)
        return keras.Model(inputs, L.Dense(8, name="head")(x))

    trained = build()
    _train(trained)
    reset = keras.Model.from_config(trained.get_config())  # the reset trap
    partial = build()
    _train(partial)
    fresh = build()
    partial.get_layer("hidden").set_weights(fresh.get_layer("hidden").get_weights())
    inputs = keras.Input((3,))
    tiny = keras.Model(inputs, L.Dense(2, name="tiny")(inputs))
    return {
        "trained": save_model(trained, "wgt001_trained"),
        "reset": save_model(reset, "wgt001_reset"),
        "partial": save_model(partial, "wgt001_partial"),
        "tiny": save_model(tiny, "wgt001_tiny"),
        "reset_live": reset,
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_model_rebuilt_from_its_config_fires(models, fmt):
    found = assert_rule(
        models["reset"][fmt],
        "WGT001",
        {("", None), ("hidden", None), ("bn", None), ("head", None)},
        severity=Severity.INFO,
    )
    summary = next(f for f in found if f.location.layer_path == "")
    assert summary.message.startswith("3 of 3 layers with weights are at initialization.")
    hidden = next(f for f in found if f.location.layer_path == "hidden")
    assert hidden.confidence is Confidence.HIGH
    assert "kernel: within its support, moments match GlorotUniform" in hidden.message
    assert "bias: every value is exactly 0" in hidden.message


def test_live_model_fires_the_same(models):
    assert {f.location.layer_path for f in findings_of(models["reset_live"], "WGT001")} == {
        "",
        "hidden",
        "bn",
        "head",
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_trained_model_stays_clean(models, fmt):
    assert_rule(models["trained"][fmt], "WGT001", set())


@pytest.mark.parametrize("fmt", FORMATS)
def test_only_the_reset_layer_of_a_partial_reset_fires(models, fmt):
    found = assert_rule(models["partial"][fmt], "WGT001", {("", None), ("hidden", None)})
    summary = next(f for f in found if f.location.layer_path == "")
    assert summary.message.startswith("1 of 3 layers with weights are at initialization.")


def test_expect_pretrained_makes_them_errors(models):
    from auditor.engine.config import AuditConfig
    from auditor.engine.runner import run

    report = run([models["reset"]["keras"]], AuditConfig(select=["WGT001"], expect_pretrained=True))
    assert {f.severity for f in report.findings} == {Severity.ERROR}
    assert report.exit_code("error") == 1


def test_tiny_layers_get_low_confidence(models):
    found = findings_of(models["tiny"]["keras"], "WGT001")
    layer = next(f for f in found if f.location.layer_path == "tiny")
    assert layer.confidence is Confidence.LOW
