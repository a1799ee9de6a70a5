import pytest

from auditor.results.findings import Severity
from tests.conftest import FORMATS
from tests.harness import assert_rule


@pytest.fixture(scope="module")
def models(keras, save_model):
    L, R = keras.layers, keras.regularizers
    fires = keras.Sequential(
        [keras.Input((3,)), L.Dense(2, bias_regularizer=R.L2(1e-4), name="flag_me")], name="m"
    )
    clean = keras.Sequential(
        [
            keras.Input((3,)),
            L.Dense(2, kernel_regularizer=R.L2(1e-4), name="ok"),
            L.Dense(2, bias_regularizer=R.L1L2(0.0, 0.0), name="inert_bias"),
        ]
    )
    return {"fires": save_model(fires, "reg006_fires"), "clean": save_model(clean, "reg006_clean")}


@pytest.mark.parametrize("fmt", FORMATS)
def test_bias_regularizer_fires(models, fmt):
    assert_rule(models["fires"][fmt], "REG006", {("m/flag_me", "bias")}, severity=Severity.INFO)


@pytest.mark.parametrize("fmt", FORMATS)
def test_kernel_regularizer_and_inert_bias_stay_clean(models, fmt):
    assert_rule(models["clean"][fmt], "REG006", set())
