import pytest

from auditor.results.findings import Severity
from tests.conftest import FORMATS
from tests.harness import assert_rule


@pytest.fixture(scope="module")
def models(keras, save_model):
    L, R = keras.layers, keras.regularizers
    fires = keras.Sequential(
        [
            keras.Input((4,)),
            L.Dense(3, kernel_regularizer="l2", name="bare_string"),
            L.Dense(3, kernel_regularizer="l1l2", name="inert"),
            L.Dense(3, kernel_regularizer=R.L2(0.5), name="huge"),
            L.Dense(3, kernel_regularizer=R.L1(1e-4), name="l1_kernel"),
        ],
        name="m",
    )
    inputs = keras.Input((5, 6))
    mha = L.MultiHeadAttention(2, 3, kernel_regularizer="l2", name="mha")(inputs, inputs)
    shared = keras.Model(inputs, mha)
    clean = keras.Sequential(
        [
            keras.Input((4,)),
            L.Dense(3, kernel_regularizer=R.L2(1e-4), name="ok"),
            L.Dense(3, kernel_regularizer=R.L2(1e-6), name="at_min"),
        ],
        name="m",
    )
    return {
        "fires": save_model(fires, "reg009_fires"),
        "shared": save_model(shared, "reg009_mha"),
        "clean": save_model(clean, "reg009_clean"),
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_default_inert_huge_and_l1_fire(models, fmt):
    found = assert_rule(
        models["fires"][fmt],
        "REG009",
        {
            ("m/bare_string", "kernel"),
            ("m/inert", "kernel"),
            ("m/huge", "kernel"),
            ("m/l1_kernel", "kernel"),
        },
    )
    by_layer = {f.location.layer_path.removeprefix("m/"): f for f in found}
    assert "default of the bare string" in by_layer["bare_string"].message
    assert "inert" in by_layer["inert"].message
    assert "outside the usual range" in by_layer["huge"].message
    assert by_layer["l1_kernel"].severity is Severity.INFO
    assert by_layer["huge"].severity is Severity.WARNING


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_finding_for_a_regularizer_shared_by_projections(models, fmt):
    (finding,) = assert_rule(models["shared"][fmt], "REG009", {("mha", None)})
    assert len(finding.details["weights"]) == 4


@pytest.mark.parametrize("fmt", FORMATS)
def test_usual_coefficients_stay_clean(models, fmt):
    assert_rule(models["clean"][fmt], "REG009", set())


@pytest.mark.parametrize("fmt", FORMATS)
def test_range_is_an_option(models, fmt):
    assert_rule(models["clean"][fmt], "REG009", {("m/at_min", "kernel")}, options={"min": 1e-5})
