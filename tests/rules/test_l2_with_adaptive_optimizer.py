import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule


@pytest.fixture(scope="module")
def models(keras, save_model):
    L, R, Opt = keras.layers, keras.regularizers, keras.optimizers

    def build(optimizer, regularizer="default"):
        if regularizer == "default":
            regularizer = R.L2(1e-4)
        inputs = keras.Input((4,))
        x = L.Dense(3, kernel_regularizer=regularizer, name="hidden")(inputs)
        x = L.Dense(2, kernel_regularizer=regularizer, trainable=False, name="frozen")(x)
        model = keras.Model(inputs, x)
        model.compile(optimizer=optimizer, loss="mse")
        return model

    adam = build(Opt.Adam(learning_rate=1e-3))
    return {
        "adam": adam,
        "adam_files": save_model(adam, "wd002_adam"),
        "rmsprop_files": save_model(build(Opt.RMSprop()), "wd002_rmsprop"),
        "sgd": save_model(build(Opt.SGD()), "wd002_sgd"),
        "adam_decay": save_model(build(Opt.Adam(weight_decay=0.01)), "wd002_adam_decay"),
        "adam_no_l2": save_model(build(Opt.Adam(), None), "wd002_adam_plain"),
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_l2_under_adam_fires(models, fmt):
    (finding,) = assert_rule(models["adam_files"][fmt], "WD002", {("", None)})
    assert finding.details["weights"] == ["hidden/kernel"]  # the frozen kernel is not trained
    assert "L2(0.0001)" in finding.message and "under Adam" in finding.message
    assert "keras.optimizers.AdamW(learning_rate=0.001, weight_decay=...)" in finding.fix
    assert "L2(0.0001) is weight_decay=0.0002" in finding.fix


@pytest.mark.parametrize("fmt", FORMATS)
def test_l2_under_rmsprop_suggests_its_own_weight_decay(models, fmt):
    (finding,) = assert_rule(models["rmsprop_files"][fmt], "WD002", {("", None)})
    assert "keras.optimizers.RMSprop(" in finding.fix


def test_live_adam_fires(models):
    assert_rule(models["adam"], "WD002", {("", None)})


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", ["sgd", "adam_decay", "adam_no_l2"])
def test_sgd_decoupled_decay_or_no_l2_stay_clean(models, fmt, case):
    assert_rule(models[case][fmt], "WD002", set())
