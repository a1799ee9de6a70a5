import pytest

from auditor.results.findings import Severity
from tests.conftest import FORMATS
from tests.harness import assert_rule


@pytest.fixture(scope="module")
def models(keras, save_model):
    L, Opt = keras.layers, keras.optimizers

    def build(optimizer, exclude=None):
        inputs = keras.Input((8, 8, 3))
        x = L.DepthwiseConv2D(3, name="dw")(inputs)
        x = L.BatchNormalization(name="bn")(x)
        x = L.Flatten(name="flat")(x)
        model = keras.Model(inputs, L.Dense(2, name="out")(x))
        if exclude is not None:
            optimizer.exclude_from_weight_decay(**exclude)
        model.compile(optimizer=optimizer, loss="mse")
        return model

    adamw = build(Opt.AdamW(weight_decay=0.05))
    covered = build(
        Opt.AdamW(weight_decay=0.05),
        {"var_names": ["bias", "gamma", "beta"], "var_list": [adamw.get_layer("dw").kernel]},
    )
    # The var_list above names another model's variable; give this one its own.
    covered = build(Opt.AdamW(weight_decay=0.05))
    covered.optimizer.exclude_from_weight_decay(
        var_names=["bias", "gamma", "beta"], var_list=[covered.get_layer("dw").kernel]
    )
    return {
        "adamw": adamw,
        "covered": covered,
        "files": save_model(adamw, "wd003_adamw"),
        "sgd": save_model(build(Opt.SGD()), "wd003_sgd"),
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_files_say_exclusions_are_lost(models, fmt):
    (finding,) = assert_rule(models["files"][fmt], "WD003", {("", None)}, severity=Severity.INFO)
    assert finding.message == (
        "AdamW(weight_decay=0.05): exclusions set with `exclude_from_weight_decay()` are "
        "never saved, so after a reload every trainable variable is decayed, including "
        "1 depthwise kernel, 2 biases, 1 normalization gamma, 1 normalization beta."
    )
    assert "after every `load_model()`" in finding.fix


def test_live_lists_what_the_exclusions_miss(models):
    (finding,) = assert_rule(models["adamw"], "WD003", {("", None)}, severity=Severity.WARNING)
    assert finding.details["weights"] == ["dw/kernel", "dw/bias", "bn/gamma", "bn/beta", "out/bias"]
    assert "var_names=['beta', 'bias', 'gamma']" in finding.fix
    assert "dw/kernel" in finding.fix  # a depthwise kernel needs var_list in Keras 3


def test_live_exclusions_covering_everything_stay_clean(models):
    assert_rule(models["covered"], "WD003", set())


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_weight_decay_stays_clean(models, fmt):
    assert_rule(models["sgd"][fmt], "WD003", set())
