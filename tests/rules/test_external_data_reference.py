import h5py
import numpy as np
import pytest

from auditor.limits import Limits
from auditor.loaders.legacy_h5 import read_attr_list
from tests.conftest import FORMATS
from tests.harness import assert_rule, findings_of, rewrite_config


@pytest.fixture(scope="module")
def models(keras, save_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("sec003")
    inputs = keras.Input((1,), dtype="string")
    lookup = keras.layers.StringLookup(vocabulary=["a", "b"], name="vocab")
    plain = save_model(keras.Model(inputs, lookup(inputs)), "sec003_plain")

    def path_vocabulary(model_config, _optimizer):
        for layer in model_config["config"]["layers"]:
            if layer["config"]["name"] == "vocab":
                layer["config"]["vocabulary"] = "/etc/passwd"

    def joined(model_config, optimizer):
        """The same, with the class named as `module: "keras"` joined to `layers.StringLookup`."""
        path_vocabulary(model_config, optimizer)
        for layer in model_config["config"]["layers"]:
            if layer["config"]["name"] == "vocab":
                layer["module"], layer["class_name"] = "keras", "layers.StringLookup"

    secret = out / "secret.bin"
    secret.write_bytes(b"TOP-SECRET-BYTES")
    inputs = keras.Input((4,))
    dense = save_model(
        keras.Model(inputs, keras.layers.Dense(4, name="head")(inputs)), "sec003_h5", ("h5",)
    )
    external = out / "external.h5"
    external.write_bytes(dense["h5"].read_bytes())
    with h5py.File(external, "r+") as f:
        group = f["model_weights/head"]
        name = read_attr_list(group.id, "weight_names", Limits())[1]
        del group[name]
        group.create_dataset(name, shape=(4,), dtype="<f4", external=[(str(secret), 0, 16)])
        f["model_weights/ext"] = h5py.ExternalLink(str(secret), "/x")
    return {
        "plain": plain,
        "vocab": {
            f: rewrite_config(p, out / f"vocab.{f}", path_vocabulary) for f, p in plain.items()
        },
        "joined": rewrite_config(plain["keras"], out / "joined.keras", joined),
        "external": external,
        "secret": secret,
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_vocabulary_file_path_fires(models, fmt):
    (finding,) = assert_rule(models["vocab"][fmt], "SEC003", {("vocab", None)})
    assert finding.details == {"path": "/etc/passwd"}


def test_a_lookup_layer_named_by_module_and_joined_class_name_fires(models):
    (finding,) = assert_rule(models["joined"], "SEC003", {("vocab", None)})
    assert finding.details == {"path": "/etc/passwd"}


def test_external_storage_and_links_fire_and_are_never_read(models):
    from auditor.engine.config import AuditConfig
    from auditor.engine.runner import run

    found = findings_of(models["external"], "SEC003")
    assert [f.location.layer_path for f in found] == ["", ""]
    assert sorted(f.details["where"].rsplit("/", 1)[-1] for f in found) == ["bias", "ext"]
    report = run([models["external"]], AuditConfig())
    for fmt_text in (report.to_json(), str(report)):
        assert "TOP-SECRET" not in fmt_text
    assert np.frombuffer(b"TOP-SECRET-BYTES", "<f4").tobytes() not in report.to_json().encode()


@pytest.mark.parametrize("fmt", FORMATS)
def test_in_file_vocabulary_stays_clean(models, fmt):
    assert_rule(models["plain"][fmt], "SEC003", set())
