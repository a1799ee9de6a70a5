import pytest

from auditor.results.findings import Severity
from tests.conftest import FORMATS
from tests.harness import assert_rule, rewrite_config


@pytest.fixture(scope="module")
def files(keras, save_model, tmp_path_factory):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(inputs))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
    saved = save_model(model, "wd006")
    out = tmp_path_factory.mktemp("wd006")

    def decay(value):
        def edit(_model_config, optimizer_config):
            optimizer_config["decay"] = value  # what a Keras 2 optimizer wrote

        return edit

    return {
        fmt: {
            "decay": rewrite_config(path, out / f"decay.{fmt}", decay(1e-4)),
            "zero": rewrite_config(path, out / f"zero.{fmt}", decay(0.0)),
            "plain": path,
        }
        for fmt, path in saved.items()
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_legacy_decay_fires(files, fmt):
    (finding,) = assert_rule(files[fmt]["decay"], "WD006", {("", None)}, severity=Severity.INFO)
    assert finding.message.startswith(
        "Adam(decay=0.0001) is learning-rate time decay, lr / (1 + decay * iterations) "
        "(from 0.01 to 0.005 after 10,000 steps), not weight decay"
    )
    assert "InverseTimeDecay(initial_learning_rate=0.01, decay_steps=1, decay_rate=0.0001)" in (
        finding.fix
    )
    expected = "training_config" if fmt == "h5" else "compile_config"
    assert finding.location.config_key.startswith(expected)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", ["zero", "plain"])
def test_zero_or_absent_decay_stays_clean(files, fmt, case):
    assert_rule(files[fmt][case], "WD006", set())
