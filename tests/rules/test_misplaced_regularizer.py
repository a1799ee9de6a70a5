import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule, rewrite_config


@pytest.fixture(scope="module")
def live(keras):
    L, R = keras.layers, keras.regularizers

    def build():
        inputs = keras.Input((8, 8, 3))
        x = L.Conv2D(4, 3, name="conv")(inputs)
        x = L.DepthwiseConv2D(3, name="dw")(x)
        x = L.SeparableConv2D(4, 1, name="sep")(x)
        x = L.BatchNormalization(name="bn")(x)
        x = L.Activation("relu", name="act")(x)
        return keras.Model(inputs, x)

    fires = build()
    for layer in fires.layers[1:]:  # the post-hoc loop over every layer
        layer.kernel_regularizer = R.L2(1e-4)
    clean = build()
    for layer in clean.layers[1:]:  # only where a kernel_regularizer exists
        if "kernel_regularizer" in layer.get_config():
            layer.kernel_regularizer = layer.kernel.regularizer = R.L2(1e-4)
    return {"fires": fires, "clean": clean}


@pytest.fixture(scope="module")
def files(keras, save_model, tmp_path_factory):
    L = keras.layers
    inputs = keras.Input((8, 8, 3))
    x = L.DepthwiseConv2D(3, name="dw")(inputs)
    x = L.Flatten(name="flat")(x)
    x = L.Dense(4, use_bias=False, bias_regularizer="l2", name="no_bias")(x)
    x = L.Dense(4, bias_regularizer="l2", name="with_bias")(x)
    saved = save_model(keras.Model(inputs, x), "reg011")
    out = tmp_path_factory.mktemp("reg011")

    def legacy_kernel_regularizer(model_config, _optimizer):
        layers = model_config["config"]["layers"]
        dw = next(layer for layer in layers if layer["config"]["name"] == "dw")
        dw["config"]["kernel_regularizer"] = {"class_name": "L2", "config": {"l2": 1e-4}}

    return {
        fmt: {
            "plain": path,
            "legacy": rewrite_config(path, out / f"legacy.{fmt}", legacy_kernel_regularizer),
        }
        for fmt, path in saved.items()
    }


def test_kernel_regularizer_assigned_where_no_kernel_reads_it_fires(live):
    found = assert_rule(live["fires"], "REG011", {("dw", None), ("sep", None), ("bn", None)})
    by_layer = {f.location.layer_path: f for f in found}
    assert by_layer["dw"].message == (
        "`dw` sets the attribute kernel_regularizer=L2(0.0001), which no variable of the "
        "layer reads: a no-op that looks like regularization. DepthwiseConv2D takes "
        "`bias_regularizer`, `depthwise_regularizer`."
    )
    assert by_layer["sep"].details["usable"] == [
        "bias_regularizer",
        "depthwise_regularizer",
        "pointwise_regularizer",
    ]
    assert by_layer["bn"].details["usable"] == ["beta_regularizer", "gamma_regularizer"]


def test_the_loop_that_checks_the_config_stays_clean(live):
    assert_rule(live["clean"], "REG011", set())


@pytest.mark.parametrize("fmt", FORMATS)
def test_bias_regularizer_without_a_bias_fires_in_files(files, fmt):
    (finding,) = assert_rule(files[fmt]["plain"], "REG011", {("no_bias", None)})
    assert finding.location.config_key == "config.layers[3].config.bias_regularizer"
    assert "bias_regularizer=L2(0.01)" in finding.message


@pytest.mark.parametrize("fmt", FORMATS)
def test_legacy_config_with_kernel_regularizer_on_depthwise_fires(files, fmt):
    found = assert_rule(files[fmt]["legacy"], "REG011", {("dw", None), ("no_bias", None)})
    dw = next(f for f in found if f.location.layer_path == "dw")
    assert dw.location.config_key == "config.layers[1].config.kernel_regularizer"
