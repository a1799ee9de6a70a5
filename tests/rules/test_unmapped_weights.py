import h5py
import pytest

from auditor.limits import Limits
from auditor.loaders.legacy_h5 import read_attr_list
from tests.conftest import FORMATS
from tests.harness import assert_rule


@pytest.fixture(scope="module")
def model_files(keras, save_model):
    L = keras.layers
    model = keras.Sequential(
        [keras.Input((3,)), L.Dense(2, name="a"), L.Dense(1, name="b")], name="m"
    )
    return save_model(model, "aud003")


def test_missing_and_extra_tensors_fire_in_h5(model_files, tmp_path):
    path = tmp_path / "edited.h5"
    path.write_bytes(model_files["h5"].read_bytes())
    with h5py.File(path, "r+") as f:
        names = read_attr_list(f["model_weights/b"].id, "weight_names", Limits())
        del f[f"model_weights/b/{names[1]}"]
        f["model_weights/a/stray"] = [1.0, 2.0]
    found = assert_rule(path, "AUD003", {("m/b", None), ("", None)})
    by_path = {f.location.layer_path: f for f in found}
    assert by_path["m/b"].details["missing"] == ["m/b/bias"]
    assert by_path[""].details["unclaimed"] == ["model_weights/a/stray"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_matching_files_stay_clean(model_files, fmt):
    assert_rule(model_files[fmt], "AUD003", set())


def test_missing_tensor_fires_in_keras(model_files, tmp_path):
    import zipfile

    with zipfile.ZipFile(model_files["keras"]) as src:
        weights = tmp_path / "w.h5"
        weights.write_bytes(src.read("model.weights.h5"))
        with h5py.File(weights, "r+") as f:
            del f["layers/dense_1/vars/1"]
        out = tmp_path / "edited.keras"
        with zipfile.ZipFile(out, "w") as dst:
            for name in ("metadata.json", "config.json"):
                dst.writestr(name, src.read(name))
            dst.write(weights, "model.weights.h5")
    (finding,) = assert_rule(out, "AUD003", {("m/b", None)})
    assert finding.details["missing"] == ["m/b/bias"]
