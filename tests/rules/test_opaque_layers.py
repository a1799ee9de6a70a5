import pytest

from examples.keras2_files import merged_branches
from tests.conftest import FORMATS
from tests.harness import assert_rule


@pytest.fixture(scope="module")
def models(keras, save_model):
    L = keras.layers

    @keras.saving.register_keras_serializable(package="tests")
    class Scale(L.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1],), name="w")

        def call(self, x):
            return x * self.w

    fires = keras.Sequential(
        [keras.Input((3,)), L.Dense(2, name="known"), Scale(name="custom")], name="m"
    )
    clean = keras.Sequential([keras.Input((3,)), L.Dense(2, name="known"), L.Dropout(0.1)])
    return {"fires": save_model(fires, "aud002_fires"), "clean": save_model(clean, "aud002_clean")}


@pytest.mark.parametrize("fmt", FORMATS)
def test_custom_layer_fires_with_its_weight_count(models, fmt):
    (finding,) = assert_rule(models["fires"][fmt], "AUD002", {("m/custom", None)})
    assert finding.details["weights"] == 1
    assert finding.details["parameters"] == 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_builtin_layers_stay_clean(models, fmt):
    assert_rule(models["clean"][fmt], "AUD002", set())


def test_weightless_legacy_merge_is_not_opaque(tmp_path):
    """Keras 2.0's `Merge` is built in and has no weights: nothing about it is hidden."""
    path = merged_branches(tmp_path / "merge.h5")
    assert_rule(path, "AUD002", set())
    assert_rule(path, "AUD003", set())


def test_an_unknown_merge_class_is_opaque(tmp_path):
    path = merged_branches(tmp_path / "gated.h5", merge_class="GatedMerge")
    (finding,) = assert_rule(path, "AUD002", {("merge_1", None)})
    assert "'GatedMerge' is not known" in finding.message
