"""DRP003 unusual-dropout-rate: a rate of 0, a rate at or above max_rate anywhere, a rate
above max_input_rate on the model's input; `.keras`, legacy `.h5` and live. Tiny rates
(MobileNet's 0.001), usual hidden rates and the same high rate away from the input stay
clean."""

import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule, functional, save_cases

CASES = {
    # fires
    "zero": lambda L, x: L.Dense(2, name="out")(L.Dropout(0.0, name="drop")(L.Dense(8)(x))),
    "heavy": lambda L, x: L.Dense(2, name="out")(L.Dropout(0.85, name="drop")(L.Dense(8)(x))),
    "input": lambda L, x: L.Dense(2, name="out")(L.Dropout(0.6, name="drop")(x)),
    # near misses
    "tiny": lambda L, x: L.Dense(2, name="out")(L.Dropout(0.001, name="drop")(L.Dense(8)(x))),
    "hidden": lambda L, x: L.Dense(2, name="out")(L.Dropout(0.6, name="drop")(L.Dense(8)(x))),
    "input_usual": lambda L, x: L.Dense(2, name="out")(L.Dropout(0.2, name="drop")(x)),
}


@pytest.fixture(scope="module")
def models(keras, save_model):
    saved = save_cases(keras, save_model, "drp003", CASES)
    L = keras.layers
    sequential = keras.Sequential(
        [keras.Input((6,)), L.GaussianDropout(0.7, name="noise"), L.Dense(2, name="out")],
        name="seq",
    )
    saved["sequential_input"] = save_model(sequential, "drp003_sequential_input")
    return saved


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_rate_of_zero_fires(models, fmt):
    (finding,) = assert_rule(models["zero"][fmt], "DRP003", {("drop", None)})
    assert finding.message == (
        "`drop` (Dropout) has rate=0: it drops nothing, so the layer does nothing."
    )
    assert finding.location.config_key == "config.layers[2].config.rate"
    assert finding.details == {"rate": 0.0}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_rate_at_or_above_max_rate_fires(models, fmt):
    (finding,) = assert_rule(models["heavy"][fmt], "DRP003", {("drop", None)})
    assert finding.message == (
        "`drop` (Dropout) has rate=0.85: it drops 85 % of its inputs at every step, at or "
        "above 0.8 (max_rate): too little signal is left to learn from."
    )


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("name", "layer"), [("input", "drop"), ("sequential_input", "seq/noise")])
def test_a_high_rate_on_the_models_input_fires(models, fmt, name, layer):
    (finding,) = assert_rule(models[name][fmt], "DRP003", {(layer, None)})
    assert "takes the model's input and drops" in finding.message


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["tiny", "hidden", "input_usual"])
def test_usual_rates_stay_clean(models, fmt, name):
    assert_rule(models[name][fmt], "DRP003", set())


def test_options_move_the_thresholds(models):
    assert_rule(models["hidden"]["keras"], "DRP003", {("drop", None)}, options={"max_rate": 0.6})
    assert_rule(models["input"]["keras"], "DRP003", set(), options={"max_input_rate": 0.7})


def test_a_live_model_is_judged_alike(keras):
    assert_rule(functional(keras, "live", (6,), CASES["input"]), "DRP003", {("drop", None)})
    assert_rule(functional(keras, "live_ok", (6,), CASES["input_usual"]), "DRP003", set())
