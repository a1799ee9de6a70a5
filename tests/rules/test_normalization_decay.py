import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule


@pytest.fixture(scope="module")
def models(keras, save_model):
    L, R = keras.layers, keras.regularizers
    fires = keras.Sequential(
        [
            keras.Input((6,)),
            L.Dense(4, name="d"),
            L.BatchNormalization(gamma_regularizer=R.L2(1e-4), name="flag_bn"),
            L.LayerNormalization(beta_regularizer=R.L1(1e-4), name="flag_ln"),
        ],
        name="m",
    )
    clean = keras.Sequential(
        [
            keras.Input((6,)),
            L.Dense(4, kernel_regularizer=R.L2(1e-4), name="d"),
            L.BatchNormalization(name="ok_bn"),
            L.BatchNormalization(gamma_regularizer=R.L2(1e-4), trainable=False, name="frozen_bn"),
        ]
    )
    clean.compile(optimizer="adam", loss="mse")
    adamw = keras.Sequential(
        [keras.Input((6,)), L.Dense(4), L.BatchNormalization(name="bn")], name="m"
    )
    adamw.compile(optimizer=keras.optimizers.AdamW(), loss="mse")
    return {
        "fires": save_model(fires, "reg005_fires"),
        "clean": save_model(clean, "reg005_clean"),
        "adamw": save_model(adamw, "reg005_adamw"),
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_gamma_beta_regularizers_fire(models, fmt):
    found = assert_rule(
        models["fires"][fmt], "REG005", {("m/flag_bn", "gamma"), ("m/flag_ln", "beta")}
    )
    assert "gamma_regularizer=L2(0.0001)" in found[0].message


@pytest.mark.parametrize("fmt", FORMATS)
def test_kernel_only_and_frozen_norm_stay_clean(models, fmt):
    assert_rule(models["clean"][fmt], "REG005", set())


@pytest.mark.parametrize("fmt", FORMATS)
def test_adamw_decays_normalization(models, fmt):
    (finding,) = assert_rule(models["adamw"][fmt], "REG005", {("", None)})
    assert finding.details["weights"] == ["m/bn/gamma", "m/bn/beta"]
    assert 'var_names=["gamma", "beta"]' in finding.fix
