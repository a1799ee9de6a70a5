import numpy as np
import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule


@pytest.fixture(scope="module")
def models(keras, save_model):
    def build():
        inputs = keras.Input((4,))
        return keras.Model(inputs, keras.layers.Dense(3, name="dense")(inputs))

    broken = build()
    kernel = broken.get_layer("dense").kernel.numpy()
    kernel[0, 0], kernel[1, 1] = np.nan, np.inf
    broken.get_layer("dense").kernel.assign(kernel)
    return {"broken": save_model(broken, "wgt003_broken"), "clean": save_model(build(), "wgt003")}


@pytest.mark.parametrize("fmt", FORMATS)
def test_nan_and_inf_fire(models, fmt):
    (finding,) = assert_rule(models["broken"][fmt], "WGT003", {("dense", "kernel")})
    assert finding.message == (
        "`dense/kernel` holds 1 NaN and 1 infinite value(s) among 12. Received: nan=1, inf=1"
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_finite_weights_stay_clean(models, fmt):
    assert_rule(models["clean"][fmt], "WGT003", set())
