import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule


def tutorial_cnn(keras, second):
    """The regularization example of the tutorials: two regularized `Conv2D`, `Flatten`,
    then a `Dense(10, softmax)` head without a penalty."""
    L, R = keras.layers, keras.regularizers
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            L.Conv2D(4, 3, activation="relu", kernel_regularizer=R.L2(0.01), name="c1"),
            L.Conv2D(4, 3, activation="relu", kernel_regularizer=second, name="c2"),
            L.Flatten(name="flatten"),
            L.Dense(10, activation="softmax", name="head"),
        ],
        name="cnn",
    )


@pytest.fixture(scope="module")
def models(keras, save_model):
    L, R = keras.layers, keras.regularizers

    def backbone(reg, name="backbone"):
        return keras.Sequential(
            [
                keras.Input((6,)),
                L.Dense(5, kernel_regularizer=reg, name="b1"),
                L.Dense(5, kernel_regularizer=reg, name="b2"),
            ],
            name=name,
        )

    inputs = keras.Input((6,))
    head = L.Dense(2, kernel_regularizer=R.L2(1e-4), name="head")
    nested_gap = keras.Model(inputs, head(backbone(None)(inputs)))
    inputs = keras.Input((6,))
    consistent = keras.Model(
        inputs, L.Dense(2, kernel_regularizer=R.L2(1e-4), name="head")(backbone(R.L2(1e-4))(inputs))
    )
    inputs = keras.Input((6,))
    x = L.Dense(5, kernel_regularizer=R.L2(1e-6), name="weak")(inputs)
    spread = keras.Model(inputs, L.Dense(2, kernel_regularizer=R.L2(1e-3), name="strong")(x))
    inputs = keras.Input((6,))
    frozen = backbone(None, "frozen")
    frozen.trainable = False  # fine-tuning: a frozen unregularized backbone is fine
    finetune = keras.Model(
        inputs, L.Dense(2, kernel_regularizer=R.L2(1e-4), name="head")(frozen(inputs))
    )
    tutorial = tutorial_cnn(keras, second=R.L2(0.01))
    half = tutorial_cnn(keras, second=None)
    return {
        name: save_model(m, f"reg003_{name}")
        for name, m in {
            "tutorial": tutorial,
            "half": half,
            "nested_gap": nested_gap,
            "consistent": consistent,
            "spread": spread,
            "finetune": finetune,
        }.items()
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_unregularized_nested_backbone_fires(models, fmt):
    (finding,) = assert_rule(models["nested_gap"][fmt], "REG003", {("head", None)})
    assert finding.details["unregularized"] == ["backbone/b1", "backbone/b2"]
    assert finding.message == (
        "1 of 3 trainable dense/conv kernels is regularized and 2 are not: `head` is the "
        "only one regularized."
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_unregularized_classifier_head_alone_stays_clean(models, fmt):
    assert_rule(models["tutorial"][fmt], "REG003", set())


@pytest.mark.parametrize("fmt", FORMATS)
def test_unregularized_layer_before_the_head_fires_without_naming_the_head(models, fmt):
    (finding,) = assert_rule(models["half"][fmt], "REG003", {("cnn/c2", None)})
    assert finding.message == (
        "1 of 2 trainable dense/conv kernels is regularized and 1 is not: `cnn/c2` lacks a "
        "regularizer."
    )
    assert finding.details["unregularized"] == ["cnn/c2"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_coefficients_spread_over_max_ratio_fire(models, fmt):
    (finding,) = assert_rule(models["spread"][fmt], "REG003", {("", None)})
    assert finding.details["ratio"] == pytest.approx(1000.0, rel=1e-3)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["consistent", "finetune"])
def test_consistent_and_frozen_backbone_stay_clean(models, fmt, name):
    assert_rule(models[name][fmt], "REG003", set())


@pytest.mark.parametrize("fmt", FORMATS)
def test_spread_within_max_ratio_option_stays_clean(models, fmt):
    assert_rule(models["spread"][fmt], "REG003", set(), options={"max_ratio": 2000})
