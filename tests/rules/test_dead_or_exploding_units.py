import numpy as np
import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule


@pytest.fixture(scope="module")
def models(keras, save_model):
    def build():
        inputs = keras.Input((32,))
        return keras.Model(inputs, keras.layers.Dense(16, name="dense")(inputs))

    rng = np.random.default_rng(0)
    trained = build()
    trained.set_weights([w + rng.normal(0, 0.05, w.shape) for w in trained.get_weights()])
    broken = build()
    broken.set_weights(trained.get_weights())
    kernel = broken.get_layer("dense").kernel.numpy()
    kernel[:, 3] = 0.0  # dead unit
    kernel[:, 7] *= 500.0  # exploding unit
    broken.get_layer("dense").kernel.assign(kernel)
    inputs = keras.Input((32,))
    at_init = keras.Model(
        inputs, keras.layers.Dense(16, kernel_initializer="zeros", name="dense")(inputs)
    )
    return {
        "broken": save_model(broken, "wgt004_broken"),
        "trained": save_model(trained, "wgt004_trained"),
        "at_init": save_model(at_init, "wgt004_zeros"),
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_dead_and_exploding_units_fire(models, fmt):
    (finding,) = assert_rule(models["broken"][fmt], "WGT004", {("dense", "kernel")})
    assert finding.details["dead"] == [3]
    assert finding.details["exploding"] == [7]
    assert finding.message.startswith("`dense/kernel` has 1 dead unit(s) (all-zero weights): 3")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", ["trained", "at_init"])
def test_healthy_or_untrained_kernels_stay_clean(models, fmt, case):
    assert_rule(models[case][fmt], "WGT004", set())
