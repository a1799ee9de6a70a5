import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule, rewrite_config


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
    return {
        "fires": fires,
        "clean": clean,
        "legacy": legacy_files,
        "joined": joined_files,
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
def test_a_layer_merely_named_lambda_stays_clean(models, fmt):
    assert_rule(models["clean"][fmt], "SEC001", set())
