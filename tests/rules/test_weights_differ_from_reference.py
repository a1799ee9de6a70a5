from pathlib import Path

import numpy as np
import pytest

from auditor.engine.config import AuditConfig
from auditor.engine.runner import run, run_live
from auditor.errors import UsageError
from tests.conftest import FORMATS


@pytest.fixture(scope="module")
def models(keras, save_model):
    L = keras.layers

    def build():
        inputs = keras.Input((8,))
        x = L.Dense(16, name="hidden")(inputs)
        return keras.Model(inputs, L.Dense(4, name="head")(x))

    base = build()
    rng = np.random.default_rng(0)
    base.set_weights([w + rng.normal(0, 0.1, w.shape) for w in base.get_weights()])  # "trained"
    reset = keras.Model.from_config(base.get_config())
    restored = keras.Model.from_config(base.get_config())
    restored.set_weights(base.get_weights())
    nudged = keras.Model.from_config(base.get_config())
    nudged.set_weights(base.get_weights())
    head = nudged.get_layer("head")
    head.bias.assign(head.bias.numpy() + 0.5)
    return {
        "base": base,
        "base_files": save_model(base, "wgt002_base"),
        "reset": save_model(reset, "wgt002_reset"),
        "restored": save_model(restored, "wgt002_restored"),
        "nudged": nudged,
    }


def _findings(source, reference, **options):
    config = AuditConfig(select=["WGT002"], rules={"WGT002": options})
    if isinstance(source, Path):
        report = run([source], config, reference=reference)
    else:
        report = run_live(source, config, reference=reference)
    assert report.models[0].errors == []
    return report.findings


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_reset_model_differs_everywhere(models, fmt):
    found = _findings(models["reset"][fmt], models["base_files"]["keras"])
    assert {f.location.layer_path for f in found} == {"hidden", "head"}
    hidden = next(f for f in found if f.location.layer_path == "hidden")
    assert "It is at its initialization now: the layer was reset." in hidden.message
    assert hidden.details["reset"] is True
    assert set(hidden.details["max_abs_diff"]) == {"kernel", "bias"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_restored_weights_are_identical(models, fmt):
    assert _findings(models["restored"][fmt], models["base_files"]["h5"]) == []


def test_live_model_against_a_live_reference(models):
    (finding,) = _findings(models["nudged"], models["base"])
    assert finding.location.layer_path == "head"
    assert finding.details["max_abs_diff"] == {"bias": pytest.approx(0.5)}
    assert finding.details["reset"] is False
    assert _findings(models["nudged"], models["base"], atol=0.6) == []


def test_without_reference_the_rule_is_not_applicable(models):
    report = run([models["reset"]["keras"]], AuditConfig(select=["WGT002"]))
    assert [n.code for n in report.models[0].rules_not_applicable] == ["WGT002"]


def test_an_unreadable_reference_is_a_usage_error(models, tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a model")
    with pytest.raises(UsageError, match="the reference model cannot be read"):
        run([models["reset"]["keras"]], AuditConfig(), reference=bad)
