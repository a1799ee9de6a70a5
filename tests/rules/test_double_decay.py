import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule


@pytest.fixture(scope="module")
def models(keras, save_model):
    L, R, Opt = keras.layers, keras.regularizers, keras.optimizers

    def build(optimizer, regularizer):
        inputs = keras.Input((4,))
        x = L.Dense(3, kernel_regularizer=regularizer, name="hidden")(inputs)
        model = keras.Model(inputs, L.Dense(2, name="out")(x))
        model.compile(optimizer=optimizer, loss="mse")
        return model

    fires = build(Opt.AdamW(weight_decay=0.004), R.L2(1e-4))
    excluded = build(Opt.AdamW(weight_decay=0.004), R.L2(1e-4))
    excluded.optimizer.exclude_from_weight_decay(var_names=["kernel"])
    return {
        "fires": fires,
        "excluded": excluded,
        "fires_files": save_model(fires, "wd001_fires"),
        "no_regularizer": save_model(build(Opt.AdamW(weight_decay=0.004), None), "wd001_plain"),
        "no_decay": save_model(build(Opt.SGD(), R.L2(1e-4)), "wd001_sgd"),
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_adamw_and_l2_on_the_same_kernel_fire(models, fmt):
    (finding,) = assert_rule(models["fires_files"][fmt], "WD001", {("", None)})
    assert "AdamW(weight_decay=0.004) also decays 1 weight(s)" in finding.message
    assert "0.004 + 2*0.0001 = 0.0042" in finding.message
    assert finding.details["weights"] == ["hidden/kernel"]
    assert finding.details["combined_sgd_equivalent"] == [pytest.approx(0.0042)]


def test_live_optimizer_fires(models):
    (finding,) = assert_rule(models["fires"], "WD001", {("", None)})
    assert finding.details["weights"] == ["hidden/kernel"]


def test_live_exclusion_of_the_regularized_kernel_stays_clean(models):
    assert_rule(models["excluded"], "WD001", set())


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", ["no_regularizer", "no_decay"])
def test_one_mechanism_alone_stays_clean(models, fmt, case):
    assert_rule(models[case][fmt], "WD001", set())
