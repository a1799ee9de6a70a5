"""DRP004 dropout-after-output: dropout or noise as the model's output, or before it with
only rearranging layers between; `.keras`, legacy `.h5` and live. Dropout before the
output layer stays clean."""

import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule, functional, save_cases

CASES = {
    # fires
    "softmax": lambda L, x: L.Dropout(0.5, name="drop")(
        L.Dense(3, activation="softmax", name="probs")(x)
    ),
    "reshaped": lambda L, x: L.Reshape((2, 2), name="shape")(
        L.Dropout(0.3, name="drop")(L.Dense(4, activation="sigmoid", name="probs")(x))
    ),
    # near misses
    "hidden": lambda L, x: L.Dense(3, activation="softmax", name="probs")(
        L.Dropout(0.5, name="drop")(L.Dense(8, activation="relu")(x))
    ),
    "after_dense_then_dense": lambda L, x: L.Dense(3, name="out")(
        L.Dropout(0.5, name="drop")(L.Dense(3, activation="softmax")(x))
    ),
}


@pytest.fixture(scope="module")
def models(keras, save_model):
    saved = save_cases(keras, save_model, "drp004", CASES)
    L = keras.layers
    sequential = keras.Sequential(
        [keras.Input((6,)), L.Dense(4, activation="relu"), L.GaussianNoise(0.1, name="noise")],
        name="seq",
    )
    saved["noise_last"] = save_model(sequential, "drp004_noise_last")
    return saved


@pytest.mark.parametrize("fmt", FORMATS)
def test_dropout_on_a_softmax_output_fires(models, fmt):
    (finding,) = assert_rule(models["softmax"][fmt], "DRP004", {("drop", None)})
    assert finding.message == (
        "`drop` (Dropout) is the model's output. It perturbs the softmax outputs of `probs`: "
        "the probabilities no longer sum to 1 in training, and the loss is computed on them. "
        "At inference it does nothing."
    )
    assert finding.location.config_key == "config.layers[2].config.rate"
    assert finding.details == {"output": "drop", "activation": "softmax"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_dropout_before_a_reshaped_output_fires(models, fmt):
    (finding,) = assert_rule(models["reshaped"][fmt], "DRP004", {("drop", None)})
    assert finding.message.startswith(
        "`drop` (Dropout) comes before the model's output `shape` with nothing but "
        "rearranging layers between. It perturbs the sigmoid outputs of `probs`: the "
        "probabilities leave [0, 1] in training"
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_noise_as_the_last_layer_of_a_sequential_fires(models, fmt):
    (finding,) = assert_rule(models["noise_last"][fmt], "DRP004", {("seq/noise", None)})
    assert "It perturbs the predictions the loss is computed on." in finding.message
    assert finding.location.config_key.endswith(".config.stddev")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["hidden", "after_dense_then_dense"])
def test_dropout_before_the_output_layer_stays_clean(models, fmt, name):
    assert_rule(models[name][fmt], "DRP004", set())


def test_a_live_model_is_judged_alike(keras):
    assert_rule(functional(keras, "live", (6,), CASES["softmax"]), "DRP004", {("drop", None)})
    assert_rule(functional(keras, "live_ok", (6,), CASES["hidden"]), "DRP004", set())
