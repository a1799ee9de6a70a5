import numpy as np
import pytest

from auditor.numbers import number
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
    tiny = build()  # dead units whose squares underflow float32, or are subnormal in it
    tiny.set_weights(trained.get_weights())
    kernel = tiny.get_layer("dense").kernel.numpy()
    kernel[:, 2] = 1e-25
    kernel[:, 4] = 1e-20
    kernel[:, 9] *= 2e-6  # small, and still alive: over 1e-6x the median
    tiny.get_layer("dense").kernel.assign(kernel)
    fresh = build()  # never trained: a random initializer gives no dead unit
    fresh_kernel = fresh.get_layer("dense").kernel.numpy()
    fresh_kernel[:, 5] = 0.0
    fresh.get_layer("dense").kernel.assign(fresh_kernel)
    inputs = keras.Input((32,))
    at_init = keras.Model(
        inputs, keras.layers.Dense(16, kernel_initializer="zeros", name="dense")(inputs)
    )
    return {
        "broken": save_model(broken, "wgt004_broken"),
        "trained": save_model(trained, "wgt004_trained"),
        "tiny": save_model(tiny, "wgt004_tiny"),
        "fresh": save_model(fresh, "wgt004_fresh"),
        "tiny_norms": np.linalg.norm(kernel.astype(np.float64), axis=0),
        "at_init": save_model(at_init, "wgt004_zeros"),
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_dead_and_exploding_units_fire(models, fmt):
    (finding,) = assert_rule(models["broken"][fmt], "WGT004", {("dense", "kernel")})
    assert finding.details["dead"] == [3]
    assert finding.details["exploding"] == [7]
    assert finding.message.startswith(
        "`dense/kernel`: 1 of 16 output units is dead: all their weights are exactly 0 "
        "(unit 3); 1 of 16 output units is exploding: norms over 100x the median unit norm"
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_units_of_negligible_norm_are_dead_without_underflowing(models, fmt):
    """1e-25 squares to 0 in float32 and 1e-20 to a subnormal: summed in float64 both are
    dead units that are not all-zero, and a unit at 2e-6x its neighbours is alive."""
    (finding,) = assert_rule(models["tiny"][fmt], "WGT004", {("dense", "kernel")})
    assert finding.details["dead"] == [2, 4]
    norms = models["tiny_norms"]
    assert finding.details["median_norm"] == pytest.approx(np.median(norms), rel=1e-6)
    assert finding.message == (
        "`dense/kernel`: 2 of 16 output units are dead: all their weights are at most "
        f"{number(norms[4])} in magnitude (norms under 1e-06x the median unit norm "
        f"{number(np.median(norms))}; units 2, 4)."
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_dead_ratio_option_moves_the_line(models, fmt):
    (finding,) = assert_rule(
        models["tiny"][fmt], "WGT004", {("dense", "kernel")}, options={"dead_ratio": 1e-5}
    )
    assert finding.details["dead"] == [2, 4, 9]
    assert_rule(models["tiny"][fmt], "WGT004", set(), options={"dead_ratio": 0})


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", ["trained", "at_init"])
def test_healthy_or_untrained_kernels_stay_clean(models, fmt, case):
    assert_rule(models[case][fmt], "WGT004", set())


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_dead_unit_in_a_kernel_that_looks_initial_fires(models, fmt):
    """The rest of the kernel passes for Glorot-uniform, but no random initializer gives
    an all-zero unit; the all-zero kernel of `zeros` (`at_init`) stays skipped."""
    (finding,) = assert_rule(models["fresh"][fmt], "WGT004", {("dense", "kernel")})
    assert finding.details["dead"] == [5]
