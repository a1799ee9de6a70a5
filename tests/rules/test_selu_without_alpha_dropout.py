"""DRP005 selu-without-alpha-dropout: plain dropout in a self-normalizing network (selu
on lecun_normal layers, as a layer's activation or an Activation layer after it), and
AlphaDropout outside one; `.keras`, legacy `.h5` and live. AlphaDropout in a
self-normalizing network and Dropout in a ReLU network stay clean."""

import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule, functional, save_cases


def _selu(L, x, init="lecun_normal"):
    return L.Dense(8, activation="selu", kernel_initializer=init, name="hidden")(x)


CASES = {
    # fires
    "dropout_in_snn": lambda L, x: L.Dense(2, name="out")(L.Dropout(0.1, name="drop")(_selu(L, x))),
    "activation_layer": lambda L, x: L.Dense(2, name="out")(
        L.Dropout(0.1, name="drop")(
            L.Activation("selu", name="act")(
                L.Dense(8, kernel_initializer="lecun_normal", name="hidden")(x)
            )
        )
    ),
    "alpha_in_relu": lambda L, x: L.Dense(2, name="out")(
        L.AlphaDropout(0.1, name="drop")(L.Dense(8, activation="relu", name="hidden")(x))
    ),
    "alpha_glorot_selu": lambda L, x: L.Dense(2, name="out")(
        L.AlphaDropout(0.1, name="drop")(_selu(L, x, "glorot_uniform"))
    ),
    # near misses
    "alpha_in_snn": lambda L, x: L.Dense(2, name="out")(
        L.AlphaDropout(0.1, name="drop")(_selu(L, x))
    ),
    "dropout_in_relu": lambda L, x: L.Dense(2, name="out")(
        L.Dropout(0.1, name="drop")(L.Dense(8, activation="relu")(x))
    ),
}


@pytest.fixture(scope="module")
def models(keras, save_model):
    return save_cases(keras, save_model, "drp005", CASES)


@pytest.mark.parametrize("fmt", FORMATS)
def test_dropout_in_a_self_normalizing_network_fires(models, fmt):
    (finding,) = assert_rule(models["dropout_in_snn"][fmt], "DRP005", {("drop", None)})
    assert finding.message == (
        "`drop` (Dropout, rate=0.1) is in a self-normalizing network (selu with lecun_normal: "
        "`hidden`): it sets units to 0 and rescales the rest, so the mean and variance that "
        "SELU keeps near 0 and 1 drift."
    )
    assert finding.location.config_key == "config.layers[2].config.rate"
    assert finding.details == {"rate": 0.1, "selu_layers": ["hidden"]}


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_activation_layer_after_a_lecun_normal_kernel_counts(models, fmt):
    (finding,) = assert_rule(models["activation_layer"][fmt], "DRP005", {("drop", None)})
    assert finding.details["selu_layers"] == ["act"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_alpha_dropout_in_a_relu_network_fires(models, fmt):
    (finding,) = assert_rule(models["alpha_in_relu"][fmt], "DRP005", {("drop", None)})
    assert finding.message.startswith(
        "`drop` (AlphaDropout, rate=0.1) is in a network that is not self-normalizing (no "
        "selu activation): AlphaDropout keeps"
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_alpha_dropout_after_selu_without_lecun_normal_fires(models, fmt):
    (finding,) = assert_rule(models["alpha_glorot_selu"][fmt], "DRP005", {("drop", None)})
    assert "(its selu layers `hidden` are not initialized with lecun_normal)" in finding.message


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["alpha_in_snn", "dropout_in_relu"])
def test_dropout_that_matches_the_activations_stays_clean(models, fmt, name):
    assert_rule(models[name][fmt], "DRP005", set())


def test_a_live_model_is_judged_alike(keras):
    assert_rule(
        functional(keras, "live", (6,), CASES["dropout_in_snn"]), "DRP005", {("drop", None)}
    )
    assert_rule(functional(keras, "live_ok", (6,), CASES["alpha_in_snn"]), "DRP005", set())
