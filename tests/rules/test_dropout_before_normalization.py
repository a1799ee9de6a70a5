"""DRP001 dropout-before-normalization: a Dropout or GaussianDropout whose output reaches a
BatchNormalization, directly or through a convolution and an activation; `.keras`, legacy
`.h5` and live. Dropout after the last normalization, stochastic depth that drops whole
samples into a residual Add, LayerNormalization (no moving statistics) and a path longer
than max_hops stay clean."""

import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule, functional, save_cases


def _vgg_block(L, x):
    """The tutorial CIFAR block: conv, BN, ReLU, dropout, then the next conv and BN."""
    x = L.Conv2D(4, 3, padding="same", name="conv1")(x)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.Activation("relu", name="relu1")(x)
    x = L.Dropout(0.3, name="drop")(x)
    x = L.Conv2D(4, 3, padding="same", name="conv2")(x)
    x = L.BatchNormalization(name="bn2")(x)
    return L.Dense(2, name="out")(L.GlobalAveragePooling2D(name="pool")(x))


def _stochastic_depth(L, x):
    """EfficientNet's residual drop: whole samples, into an Add, then conv and BN."""
    x = L.Conv2D(4, 1, name="conv1")(x)
    branch = L.Conv2D(4, 3, padding="same", name="branch")(x)
    branch = L.Dropout(0.2, noise_shape=(None, 1, 1, 1), name="drop")(branch)
    x = L.Add(name="add")([branch, x])
    x = L.Conv2D(4, 1, name="expand")(x)
    x = L.BatchNormalization(name="bn")(x)
    return L.Dense(2, name="out")(L.GlobalAveragePooling2D(name="pool")(x))


CASES = {
    # fires
    "vgg": (_vgg_block, (8, 8, 3)),
    "direct": (
        lambda L, x: L.Dense(2, name="out")(
            L.BatchNormalization(name="bn")(L.GaussianDropout(0.2, name="drop")(L.Dense(8)(x)))
        ),
        (6,),
    ),
    # near misses
    "after_last_bn": (
        lambda L, x: L.Dense(2, name="out")(
            L.Dropout(0.5, name="drop")(L.BatchNormalization(name="bn")(L.Dense(8)(x)))
        ),
        (6,),
    ),
    "stochastic_depth": (_stochastic_depth, (8, 8, 3)),
    "layer_norm": (
        lambda L, x: L.Dense(2, name="out")(
            L.LayerNormalization(name="ln")(L.Dropout(0.3, name="drop")(L.Dense(8)(x)))
        ),
        (6,),
    ),
}


@pytest.fixture(scope="module")
def models(keras, save_model):
    saved = save_cases(keras, save_model, "drp001", CASES)
    L = keras.layers
    sequential = keras.Sequential(
        [
            keras.Input((6,)),
            L.Dropout(0.4, name="drop"),
            L.Dense(8, name="dense"),
            L.BatchNormalization(),
        ],
        name="seq",
    )
    saved["sequential"] = save_model(sequential, "drp001_sequential")
    return saved


@pytest.mark.parametrize("fmt", FORMATS)
def test_dropout_between_convolutions_of_a_batch_normalized_net_fires(models, fmt):
    (finding,) = assert_rule(models["vgg"][fmt], "DRP001", {("drop", None)})
    assert finding.message == (
        "`drop` (Dropout, rate=0.3) feeds BatchNormalization `bn2` through `conv2`. In "
        "training the normalization's moving statistics record the variance of dropped and "
        "rescaled activations, at inference it sees all of them unscaled: it normalizes with "
        "the wrong variance (the variance shift)."
    )
    assert finding.location.config_key == "config.layers[4].config.rate"
    assert finding.details == {"rate": 0.3, "normalization": "bn2", "through": ["conv2"]}


@pytest.mark.parametrize("fmt", FORMATS)
def test_gaussian_dropout_right_before_batch_normalization_fires(models, fmt):
    (finding,) = assert_rule(models["direct"][fmt], "DRP001", {("drop", None)})
    assert finding.message.startswith(
        "`drop` (GaussianDropout, rate=0.2) feeds BatchNormalization `bn`. In training"
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_sequential_is_followed_too(models, fmt):
    (finding,) = assert_rule(models["sequential"][fmt], "DRP001", {("seq/drop", None)})
    assert finding.details["through"] == ["seq/dense"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["after_last_bn", "stochastic_depth", "layer_norm"])
def test_dropout_the_normalization_does_not_see_stays_clean(models, fmt, name):
    assert_rule(models[name][fmt], "DRP001", set())


def test_max_hops_bounds_the_walk(models):
    # drop -> conv2 -> bn2 is one layer between; none allowed leaves it clean.
    assert_rule(models["vgg"]["keras"], "DRP001", set(), options={"max_hops": 0})
    assert_rule(models["direct"]["keras"], "DRP001", {("drop", None)}, options={"max_hops": 0})


def test_a_live_model_is_judged_alike(keras):
    body, shape = CASES["vgg"]
    assert_rule(functional(keras, "live", shape, body), "DRP001", {("drop", None)})
    body, shape = CASES["stochastic_depth"]
    assert_rule(functional(keras, "live_ok", shape, body), "DRP001", set())
