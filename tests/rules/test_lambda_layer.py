import base64
import marshal

import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule, findings_of, rewrite_config


@pytest.fixture(scope="module")
def models(keras, save_model, tmp_path_factory):
    """A Lambda whose code writes a marker file if it ever runs, nested two ways."""
    marker = tmp_path_factory.mktemp("marker") / "RAN"
    code = f"lambda x: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), x)[1]"
    L = keras.layers
    inputs = keras.Input((4, 3))
    x = L.Lambda(eval(code), name="evil")(inputs)
    x = L.TimeDistributed(L.Lambda(eval(code)), name="wrapped")(x)
    inner = keras.Sequential([keras.Input((4, 3)), L.Lambda(eval(code), name="deep")], name="inner")
    x = inner(x)
    fires = save_model(keras.Model(inputs, L.Dense(2, name="lambda")(x)), "sec001_fires")
    marker.unlink(missing_ok=True)  # building the model ran the lambdas; the audit must not
    inputs = keras.Input((4, 3))
    clean = save_model(keras.Model(inputs, L.Dense(2, name="lambda")(inputs)), "sec001_clean")
    out = tmp_path_factory.mktemp("sec001")

    def legacy(model_config, _optimizer):
        """The Keras 2 form: [base64 code, defaults, closure] and function_type."""
        layers = model_config["config"]["layers"]
        entry = next(layer for layer in layers if layer["config"]["name"] == "lambda")
        entry["class_name"] = "Lambda"
        entry["config"] = {
            "name": "lambda",
            "function": ["4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAA==", None, None],
            "function_type": "lambda",
            "module": "__main__",
        }

    legacy_files = {f: rewrite_config(p, out / f"legacy.{f}", legacy) for f, p in clean.items()}

    def joined(model_config, _optimizer):
        """`module: "keras"` joined with `class_name: "layers.Lambda"`, as Keras joins them."""
        for entry in model_config["config"]["layers"]:
            if entry["config"]["name"] == "evil":
                entry["module"], entry["class_name"] = "keras", "layers.Lambda"
                entry.pop("registered_name", None)

    joined_files = {f: rewrite_config(p, out / f"joined.{f}", joined) for f, p in fires.items()}
    code = base64.b64encode(marshal.dumps((lambda t: t * 2).__code__)).decode()

    def stray(model_config, _optimizer):
        """Bytecode where no Lambda layer is: under a Dense layer's extra key, and as the
        legacy `output_shape` of a layer that is no Lambda; base64 that is not code too."""
        layers = model_config["config"]["layers"]
        entry = next(layer for layer in layers if layer["config"]["name"] == "lambda")
        entry["config"]["payload"] = code
        entry["config"]["output_shape"] = [code, None, None]
        entry["config"]["output_shape_type"] = "lambda"
        entry["config"]["note"] = base64.b64encode(b"c" + bytes(64)).decode()

    def decoy(model_config, _optimizer):
        layers = model_config["config"]["layers"]
        entry = next(layer for layer in layers if layer["config"]["name"] == "lambda")
        entry["config"]["note"] = base64.b64encode(b"c" + bytes(64)).decode()  # not code

    stray_files = {f: rewrite_config(p, out / f"stray.{f}", stray) for f, p in clean.items()}
    decoy_files = {f: rewrite_config(p, out / f"decoy.{f}", decoy) for f, p in clean.items()}
    return {
        "fires": fires,
        "clean": clean,
        "legacy": legacy_files,
        "joined": joined_files,
        "stray": stray_files,
        "decoy": decoy_files,
        "marker": marker,
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_lambdas_anywhere_fire_and_never_run(models, fmt):
    found = assert_rule(
        models["fires"][fmt],
        "SEC001",
        {("evil", None), ("wrapped", None), ("inner/deep", None)},
    )
    for finding in found:
        assert finding.details["form"] == "bytecode" and len(finding.details["sha256"]) == 64
        assert "did not run, import or unmarshal it" in finding.message
    assert not models["marker"].exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_legacy_keras2_lambda_form(models, fmt):
    (finding,) = assert_rule(models["legacy"][fmt], "SEC001", {("lambda", None)})
    assert finding.details["bytes"] == 25
    assert finding.location.config_key.endswith("config.layers[1].config.function")


def test_a_lambda_named_by_module_and_joined_class_name(models):
    """Keras joins `module` and `class_name` (tests/rules/test_foreign_module_reference.py
    pins that it does): `layers.Lambda` under `keras` is a Lambda. A legacy file has no
    module, so the form exists in `.keras` files only."""
    found = assert_rule(
        models["joined"]["keras"],
        "SEC001",
        {("evil", None), ("wrapped", None), ("inner/deep", None)},
    )
    assert {f.details["form"] for f in found} == {"bytecode"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_bytecode_under_any_key_fires(models, fmt):
    found = findings_of(models["stray"][fmt], "SEC001")
    assert {f.location.layer_path for f in found} == {"lambda"}
    keys = sorted(f.location.config_key.rsplit(".", 1)[-1] for f in found)
    assert keys == ["output_shape", "payload"]
    assert len({f.details["sha256"] for f in found}) == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_base64_that_is_no_bytecode_stays_clean(models, fmt):
    assert_rule(models["decoy"][fmt], "SEC001", set())


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_layer_merely_named_lambda_stays_clean(models, fmt):
    assert_rule(models["clean"][fmt], "SEC001", set())
