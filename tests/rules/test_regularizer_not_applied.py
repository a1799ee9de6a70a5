import numpy as np
import pytest

from tests.harness import assert_rule, findings_of


@pytest.fixture(scope="module")
def live(keras):
    L, R = keras.layers, keras.regularizers

    class Scale(L.Layer):
        """A custom layer that accepts a regularizer and forgets to pass it on."""

        def __init__(self, kernel_regularizer=None, **kwargs):
            super().__init__(**kwargs)
            self.kernel_regularizer = R.get(kernel_regularizer)

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1],), name="kernel")

        def call(self, x):
            return x * self.kernel

        def get_config(self):
            config = super().get_config()
            config["kernel_regularizer"] = R.serialize(self.kernel_regularizer)
            return config

    def build():
        inputs = keras.Input((6, 6, 3))
        x = L.Conv2D(4, 3, name="conv")(inputs)
        x = L.Flatten(name="flat")(x)
        x = Scale(kernel_regularizer=R.L2(1e-3), name="scale")(x)
        x = L.Dense(3, kernel_regularizer=R.L2(1e-4), name="built_with")(x)
        return keras.Model(inputs, L.Dense(2, name="dense")(x))

    fires = build()
    for name in ("conv", "dense"):  # the classic post-build loop
        fires.get_layer(name).kernel_regularizer = R.L2(1e-4)
    clean = build()
    clean.get_layer("scale").kernel.regularizer = clean.get_layer("scale").kernel_regularizer
    for name in ("conv", "dense"):  # the right way: attribute and variable
        layer = clean.get_layer(name)
        layer.kernel_regularizer = layer.kernel.regularizer = R.L2(1e-4)
    inert = build()
    inert.get_layer("scale").kernel_regularizer = R.L1L2(0.0, 0.0)  # the "l1l2" no-op
    return {"fires": fires, "clean": clean, "inert": inert}


def test_regularizers_set_after_build_fire(live, keras):
    found = assert_rule(
        live["fires"],
        "REG001",
        {("conv", "kernel"), ("scale", "kernel"), ("dense", "kernel")},
    )
    by_layer = {f.location.layer_path: f for f in found}
    assert "kernel_regularizer=L2(0.0001) for `conv/kernel`" in by_layer["conv"].message
    assert "kernel_regularizer=L2(0.001)" in by_layer["scale"].message
    assert by_layer["conv"].location.config_key == "config.layers[1].config.kernel_regularizer"
    assert "layer.kernel.regularizer = layer.kernel_regularizer" in by_layer["dense"].fix
    # The fact the rule rests on (`Layer._get_regularization_losses` sums the variables'
    # regularizers): only the constructed layer's penalty is in model.losses, and the
    # custom layer's never is.
    assert len(live["fires"].losses) == 1


def test_attribute_and_variable_both_set_stay_clean(live):
    assert_rule(live["clean"], "REG001", set())
    assert len(live["clean"].losses) == 4


def test_an_inert_declared_regularizer_is_not_reported(live):
    assert_rule(live["inert"], "REG001", set())


def test_a_reload_activates_what_the_config_declares(live, keras, tmp_path):
    """Why the message says the saved model "would" be regularized: a reload builds the
    layers from their config, whose regularizers `add_weight` then gives the variables."""
    model = live["fires"]
    path = tmp_path / "posthoc.keras"
    model.save(path)
    custom = {"Scale": type(model.get_layer("scale"))}
    reloaded = keras.saving.load_model(path, custom_objects=custom)
    assert reloaded.get_layer("conv").kernel.regularizer is not None
    for before, after in zip(model.weights, reloaded.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(before), np.asarray(after))
    assert {f.location.layer_path for f in findings_of(reloaded, "REG001")} == {"scale"}
