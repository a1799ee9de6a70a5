import numpy as np
import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule


@pytest.fixture(scope="module")
def models(keras, save_model):
    def build():
        inputs = keras.Input((8,))
        x = keras.layers.Dense(8, name="dense")(inputs)
        return keras.Model(inputs, keras.layers.BatchNormalization(name="bn")(x))

    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(64, 8)).astype("float32")
    stale = build()
    bn = stale.get_layer("bn")
    bn.gamma.assign(bn.gamma.numpy() * 1.3)  # trained affine, statistics never updated
    updated = build()
    updated.compile(optimizer="sgd", loss="mse")
    updated.fit(x, x, epochs=2, verbose=0)  # training=True: statistics move
    return {
        "stale": save_model(stale, "wgt005_stale"),
        "updated": save_model(updated, "wgt005_updated"),
        "fresh": save_model(build(), "wgt005_fresh"),
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_trained_gamma_with_initial_statistics_fires(models, fmt):
    (finding,) = assert_rule(models["stale"][fmt], "WGT005", {("bn", None)})
    assert finding.details == {"moved": ["gamma"]}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", ["updated", "fresh"])
def test_updated_or_untouched_batchnorm_stays_clean(models, fmt, case):
    assert_rule(models[case][fmt], "WGT005", set())
