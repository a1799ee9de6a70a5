import pytest

from tests.harness import assert_rule, findings_of


@pytest.fixture(scope="module")
def models(keras):
    L, Opt = keras.layers, keras.optimizers

    def build(patterns):
        inputs = keras.Input((4,))
        x = L.Dense(3, name="dense")(inputs)
        x = L.BatchNormalization(name="batch_normalization")(x)
        model = keras.Model(inputs, x)
        optimizer = Opt.AdamW(weight_decay=0.01)
        optimizer.exclude_from_weight_decay(var_names=patterns)
        model.compile(optimizer=optimizer, loss="mse")
        return model

    return {
        "layer_names": build(["batch_normalization", "bias", "LayerNorm"]),
        "variable_names": build(["gamma", "beta", "bias"]),
    }


def test_layer_name_patterns_fire(models):
    found = findings_of(models["layer_names"], "WD004")
    assert [f.details["pattern"] for f in found] == ["LayerNorm", "batch_normalization"]
    by_pattern = {f.details["pattern"]: f for f in found}
    assert by_pattern["batch_normalization"].details["matches_paths_of"] == ["beta", "gamma"]
    assert "It does match the paths of variables named ['beta', 'gamma']" in (
        by_pattern["batch_normalization"].message
    )
    assert by_pattern["LayerNorm"].details["matches_paths_of"] == []


def test_variable_name_patterns_stay_clean(models):
    assert_rule(models["variable_names"], "WD004", set())


def test_keras_matches_patterns_against_the_short_name(models):
    """The fact the rule rests on: Keras 3 decays `batch_normalization/gamma` although a
    pattern naming the layer was given."""
    model = models["layer_names"]
    gamma = model.get_layer("batch_normalization").gamma
    bias = model.get_layer("dense").bias
    assert model.optimizer._use_weight_decay(gamma) is True
    assert model.optimizer._use_weight_decay(bias) is False
