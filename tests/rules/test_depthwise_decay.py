import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule


@pytest.fixture(scope="module")
def models(keras, save_model):
    L, R = keras.layers, keras.regularizers
    inputs = keras.Input((8, 8, 3))
    x = L.DepthwiseConv2D(3, depthwise_regularizer=R.L2(1e-4), name="flag_me")(inputs)
    x = L.SeparableConv2D(4, 3, depthwise_regularizer=R.L2(1e-4), name="flag_sep")(x)
    fires = keras.Model(inputs, x)
    inputs = keras.Input((8, 8, 3))
    # near miss: depthwise unregularized, pointwise regularized; frozen depthwise decayed
    x = L.DepthwiseConv2D(3, name="ok")(inputs)
    x = L.SeparableConv2D(4, 3, pointwise_regularizer=R.L2(1e-4), name="ok_sep")(x)
    x = L.DepthwiseConv2D(1, depthwise_regularizer=R.L2(1e-4), trainable=False, name="frozen")(x)
    clean = keras.Model(inputs, x)
    clean.compile(optimizer="sgd", loss="mse")
    inputs = keras.Input((8, 8, 3))
    adamw = keras.Model(inputs, L.DepthwiseConv2D(3, name="dw")(inputs))
    adamw.compile(optimizer=keras.optimizers.AdamW(weight_decay=0.004), loss="mse")
    return {
        "fires": save_model(fires, "reg004_fires"),
        "clean": save_model(clean, "reg004_clean"),
        "adamw": save_model(adamw, "reg004_adamw"),
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_regularized_depthwise_kernels_fire(models, fmt):
    found = assert_rule(
        models["fires"][fmt],
        "REG004",
        {("flag_me", "kernel"), ("flag_sep", "depthwise_kernel")},
    )
    assert "depthwise_regularizer=L2(0.0001)" in found[0].message
    assert found[0].location.config_key.endswith(".depthwise_regularizer")


@pytest.mark.parametrize("fmt", FORMATS)
def test_pointwise_and_frozen_depthwise_stay_clean(models, fmt):
    assert_rule(models["clean"][fmt], "REG004", set())


@pytest.mark.parametrize("fmt", FORMATS)
def test_optimizer_weight_decay_reaches_depthwise(models, fmt):
    (finding,) = assert_rule(models["adamw"][fmt], "REG004", {("", None)})
    assert "AdamW(weight_decay=0.004)" in finding.message
    assert finding.details["weights"] == ["dw/kernel"]
    assert "never saved" in finding.message
