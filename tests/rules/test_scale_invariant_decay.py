import pytest

from auditor.graph.model import LayerNode
from auditor.results.findings import Severity
from tests.conftest import FORMATS
from tests.harness import assert_rule


@pytest.fixture(scope="module")
def models(keras, save_model):
    L, R = keras.layers, keras.regularizers
    fires = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            L.Conv2D(4, 3, use_bias=False, kernel_regularizer=R.L2(1e-4), name="flag_me"),
            L.ZeroPadding2D(1),
            L.BatchNormalization(name="bn"),
        ],
        name="m",
    )
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 3, kernel_regularizer=R.L2(1e-4), name="branches")(inputs)
    a = L.BatchNormalization(name="bn")(x)
    b = L.Conv2D(4, 1, name="side")(x)  # the scale matters on this path
    x = L.Conv2D(4, 1, activation="tanh", kernel_regularizer=R.L2(1e-4), name="tanh")(
        L.Add()([a, b])
    )
    clean = keras.Model(inputs, L.BatchNormalization(name="bn2")(x))
    return {"fires": save_model(fires, "reg008_fires"), "clean": save_model(clean, "reg008_clean")}


@pytest.mark.parametrize("fmt", FORMATS)
def test_l2_kernel_into_batchnorm_fires(models, fmt):
    (finding,) = assert_rule(
        models["fires"][fmt], "REG008", {("m/flag_me", "kernel")}, severity=Severity.INFO
    )
    assert finding.details["normalization"] == ["m/bn"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_branching_output_and_tanh_stay_clean(models, fmt):
    assert_rule(models["clean"][fmt], "REG008", set())


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("relu", "relu"),
        ({"module": "keras.activations", "class_name": "function", "config": "relu"}, "relu"),
        ({"module": "keras.src.activations.activations", "config": "linear"}, "linear"),
        ({"module": "os", "class_name": "function", "config": "system"}, None),
        ({"module": "keras.utils", "config": "get_file"}, None),
        (["relu"], None),
        (None, None),
    ],
)
def test_activation_is_read_only_from_builtin_forms(value, name):
    """The rule keys on the activation: foreign or malformed values never pass as one."""
    assert (
        LayerNode(path="d", name="d", class_name="Dense", config={"activation": value}).activation
        == name
    )
