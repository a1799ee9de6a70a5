import pytest

from tests.harness import assert_rule


@pytest.fixture(scope="module")
def live(keras):
    L, R = keras.layers, keras.regularizers

    def build():
        inputs = keras.Input((4,))
        x = L.Dense(3, name="plain")(inputs)
        x = L.Dense(3, kernel_regularizer=R.L2(1e-3), name="declared")(x)
        return keras.Model(inputs, L.Dense(2, name="both")(x))

    fires = build()
    fires.get_layer("plain").kernel.regularizer = R.L2(1e-4)  # active, never serialized
    fires.get_layer("declared").kernel.regularizer = R.L2(1e-2)  # differs from the config
    both = fires.get_layer("both")
    both.kernel_regularizer = both.kernel.regularizer = R.L2(1e-4)
    clean = build()
    layer = clean.get_layer("plain")
    layer.bias_regularizer = layer.bias.regularizer = R.L1(1e-5)
    return {"fires": fires, "clean": clean}


def test_variable_regularizers_the_config_does_not_carry_fire(live):
    found = assert_rule(live["fires"], "REG002", {("plain", "kernel"), ("declared", "kernel")})
    by_layer = {f.location.layer_path: f for f in found}
    assert "carries L2(0.0001), but its layer declares kernel_regularizer=None" in (
        by_layer["plain"].message
    )
    assert by_layer["declared"].details == {"active": "L2(0.01)", "declared": "L2(0.001)"}


def test_matching_attribute_and_variable_stay_clean(live):
    assert_rule(live["clean"], "REG002", set())


def test_the_variable_regularizer_is_lost_on_save(live, keras, tmp_path):
    """The fact the rule rests on: `get_config()` serializes the layer attribute, not the
    variable's regularizer (`keras/src/layers/layer.py`), so a save drops the latter."""
    path = tmp_path / "variable_only.keras"
    live["fires"].save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.get_layer("plain").kernel.regularizer is None
    assert reloaded.get_layer("declared").kernel.regularizer.l2 == pytest.approx(1e-3)
