import numpy as np
import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule


@pytest.fixture(scope="module")
def models(keras, save_model):
    L, R = keras.layers, keras.regularizers

    def build(coefficient, name):
        model = keras.Sequential(
            [
                keras.Input((16,)),
                L.Dense(64, kernel_regularizer=R.L2(coefficient), name="hidden"),
                L.Dense(4, activation="softmax", name="head"),
            ]
        )
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        return model

    heavy, light = build(0.5, "heavy"), build(1e-4, "light")
    kernel = heavy.get_layer("hidden").kernel.numpy()
    return {
        "heavy": save_model(heavy, "reg010_heavy"),
        "light": save_model(light, "reg010_light"),
        "expected_penalty": 0.5 * float(np.sum(kernel.astype(np.float64) ** 2)),
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_penalty_over_ln_c_fires_with_exact_value(models, fmt):
    (finding,) = assert_rule(models["heavy"][fmt], "REG010", {("", None)})
    assert finding.details["penalty"] == pytest.approx(models["expected_penalty"], rel=1e-6)
    assert finding.details["reference_loss"] == pytest.approx(np.log(4))


@pytest.mark.parametrize("fmt", FORMATS)
def test_small_penalty_stays_clean(models, fmt):
    assert_rule(models["light"][fmt], "REG010", set())
