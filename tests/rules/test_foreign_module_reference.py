import pytest

from auditor.results.findings import Severity
from tests.conftest import FORMATS
from tests.harness import assert_rule, findings_of, rewrite_config

GADGETS = {
    "os_system": {"module": "os", "class_name": "function", "config": "system"},
    "get_file": {"module": "keras.utils", "class_name": "function", "config": "get_file"},
    "unsafe": {
        "module": "keras.config",
        "class_name": "function",
        "config": "enable_unsafe_deserialization",
    },
}


@pytest.fixture(scope="module")
def models(keras, save_model, tmp_path_factory):
    L = keras.layers
    inputs = keras.Input((4,))
    x = L.Dense(3, name="os_system")(inputs)
    x = L.Dense(3, name="get_file")(x)
    x = L.Dense(3, name="unsafe")(x)
    x = L.Dense(3, name="custom")(x)
    plain = save_model(keras.Model(inputs, L.Dense(2, name="ok")(x)), "sec002_plain")
    out = tmp_path_factory.mktemp("sec002")

    def poison(model_config, _optimizer):
        for layer in model_config["config"]["layers"]:
            name = layer["config"]["name"]
            if name in GADGETS:
                layer["config"]["activation"] = {**GADGETS[name], "registered_name": "function"}
            if name == "custom":
                layer["module"] = "acme_layers"
                layer["registered_name"] = "acme>Dense"

    return {
        "plain": plain,
        "fires": {f: rewrite_config(p, out / f"gadgets.{f}", poison) for f, p in plain.items()},
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_gadgets_and_custom_modules_fire(models, fmt):
    found = assert_rule(
        models["fires"][fmt],
        "SEC002",
        {("os_system", None), ("get_file", None), ("unsafe", None), ("custom", None)},
    )
    severity = {f.location.layer_path: f.severity for f in found}
    assert severity == {
        "os_system": Severity.ERROR,
        "get_file": Severity.ERROR,
        "unsafe": Severity.ERROR,
        "custom": Severity.WARNING,
    }
    references = {f.details["reference"] for f in found}
    assert {"os.system", "keras.utils.get_file", "acme_layers.Dense"} <= references


@pytest.mark.parametrize("fmt", FORMATS)
def test_keras_only_references_stay_clean(models, fmt):
    assert_rule(models["plain"][fmt], "SEC002", set())


def test_nothing_named_is_imported(models):
    import sys

    findings_of(models["fires"]["keras"], "SEC002")
    assert "acme_layers" not in sys.modules
