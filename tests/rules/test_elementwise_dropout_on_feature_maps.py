"""DRP002 elementwise-dropout-on-feature-maps: a plain Dropout on the feature map of a 2D
or 3D convolution (directly, or after an activation and pooling) in a network without
normalization; `.keras`, legacy `.h5` and live. SpatialDropout2D, a noise_shape that drops
whole channels, dropout after Flatten, after a Conv1D, and any network with batch
normalization stay clean."""

import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule, functional, save_cases


def _head(L, x):
    return L.Dense(2, name="out")(L.Flatten(name="flat")(x))


CASES = {
    # fires
    "conv2d": (
        lambda L, x: _head(L, L.Dropout(0.25, name="drop")(L.Conv2D(4, 3, name="conv")(x))),
        (8, 8, 3),
    ),
    "pooled3d": (
        lambda L, x: _head(
            L,
            L.Dropout(0.25, name="drop")(
                L.MaxPooling3D(2, name="pool")(L.Conv3D(2, 3, activation="relu", name="conv")(x))
            ),
        ),
        (6, 6, 6, 1),
    ),
    # near misses
    "spatial": (
        lambda L, x: _head(L, L.SpatialDropout2D(0.25, name="drop")(L.Conv2D(4, 3)(x))),
        (8, 8, 3),
    ),
    "channels": (
        lambda L, x: _head(
            L, L.Dropout(0.25, noise_shape=(None, 1, 1, 4), name="drop")(L.Conv2D(4, 3)(x))
        ),
        (8, 8, 3),
    ),
    "flattened": (
        lambda L, x: L.Dense(2)(L.Dropout(0.5, name="drop")(L.Flatten()(L.Conv2D(4, 3)(x)))),
        (8, 8, 3),
    ),
    "conv1d": (
        lambda L, x: _head(L, L.Dropout(0.25, name="drop")(L.Conv1D(4, 3)(x))),
        (8, 3),
    ),
    "normalized": (
        lambda L, x: _head(
            L,
            L.Dropout(0.25, name="drop")(L.BatchNormalization()(L.Conv2D(4, 3, name="conv")(x))),
        ),
        (8, 8, 3),
    ),
}


@pytest.fixture(scope="module")
def models(keras, save_model):
    return save_cases(keras, save_model, "drp002", CASES)


@pytest.mark.parametrize("fmt", FORMATS)
def test_dropout_on_a_conv2d_feature_map_fires(models, fmt):
    (finding,) = assert_rule(models["conv2d"][fmt], "DRP002", {("drop", None)})
    assert finding.message == (
        "`drop` (Dropout, rate=0.25) drops single values of the 4D feature map of Conv2D "
        "`conv`, whose neighbouring activations are correlated: the next layer recovers most "
        "of what is dropped, so it regularizes little."
    )
    assert finding.fix.startswith("Use SpatialDropout2D, which drops whole feature maps")
    assert finding.location.config_key == "config.layers[2].config.rate"
    assert finding.details == {"convolution": "conv", "rank": 4, "suggested": "SpatialDropout2D"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_dropout_after_pooling_a_conv3d_feature_map_fires(models, fmt):
    (finding,) = assert_rule(models["pooled3d"][fmt], "DRP002", {("drop", None)})
    assert finding.details == {"convolution": "conv", "rank": 5, "suggested": "SpatialDropout3D"}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["spatial", "channels", "flattened", "conv1d", "normalized"])
def test_structured_or_normalized_dropout_stays_clean(models, fmt, name):
    assert_rule(models[name][fmt], "DRP002", set())


def test_a_live_model_is_judged_alike(keras):
    body, shape = CASES["conv2d"]
    assert_rule(functional(keras, "live", shape, body), "DRP002", {("drop", None)})
    body, shape = CASES["channels"]
    assert_rule(functional(keras, "live_ok", shape, body), "DRP002", set())
