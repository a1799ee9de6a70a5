import h5py
import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule


@pytest.fixture(scope="module")
def models(keras, save_model):
    L, R = keras.layers, keras.regularizers
    backbone = keras.Sequential(
        [keras.Input((4,)), L.Dense(3, kernel_regularizer=R.L2(1e-3), name="inner")],
        name="backbone",
    )
    backbone.trainable = False
    inputs = keras.Input((4,))
    x = backbone(inputs)
    x = L.Dense(3, kernel_regularizer=R.L2(1e-3), trainable=False, name="flag_layer")(x)
    fires = keras.Model(inputs, L.Dense(1, name="head")(x))
    clean = keras.Sequential(
        [
            keras.Input((4,)),
            L.Dense(3, trainable=False, name="frozen_plain"),
            L.Dense(1, kernel_regularizer=R.L2(1e-3), name="trained"),
        ]
    )
    return {"fires": save_model(fires, "reg007_fires"), "clean": save_model(clean, "reg007_clean")}


@pytest.mark.parametrize("fmt", FORMATS)
def test_frozen_model_and_layer_fire_once_each(models, fmt):
    found = assert_rule(
        models["fires"][fmt], "REG007", {("backbone", "kernel"), ("flag_layer", "kernel")}
    )
    assert all("Keras 3 regularizes trainable weights only" in f.message for f in found)


@pytest.mark.parametrize("fmt", FORMATS)
def test_frozen_unregularized_layer_stays_clean(models, fmt):
    assert_rule(models["clean"][fmt], "REG007", set())


def test_keras2_file_explains_the_constant_offset(models, tmp_path):
    path = tmp_path / "keras2.h5"
    path.write_bytes(models["fires"]["h5"].read_bytes())
    with h5py.File(path, "r+") as f:
        f.attrs["keras_version"] = "2.15.0"
    found = assert_rule(path, "REG007", {("backbone", "kernel"), ("flag_layer", "kernel")})
    assert all("constant with zero gradient" in f.message for f in found)
    assert all(f.details["constant_penalty"] > 0 for f in found)
