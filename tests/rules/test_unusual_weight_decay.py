import pytest

from auditor.engine.config import AuditConfig
from auditor.engine.runner import run
from auditor.errors import UsageError
from tests.conftest import FORMATS
from tests.harness import assert_rule


@pytest.fixture(scope="module")
def models(keras, save_model):
    Opt = keras.optimizers

    def build(optimizer):
        inputs = keras.Input((4,))
        model = keras.Model(inputs, keras.layers.Dense(2, name="out")(inputs))
        model.compile(optimizer=optimizer, loss="mse")
        return model

    huge = build(Opt.AdamW(learning_rate=1e-3, weight_decay=5.0))
    return {
        "huge_live": huge,
        "huge": save_model(huge, "wd005_huge"),
        "tiny": save_model(build(Opt.SGD(weight_decay=1e-7)), "wd005_tiny"),
        "usual": save_model(build(Opt.AdamW(weight_decay=0.004)), "wd005_usual"),
        "none": save_model(build(Opt.Adam()), "wd005_none"),
        "negative_lr": save_model(
            build(Opt.AdamW(learning_rate=-1000.0, weight_decay=5.0)), "wd005_negative_lr"
        ),
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_too_large_fires_with_the_per_step_effect(models, fmt):
    (finding,) = assert_rule(models["huge"][fmt], "WD005", {("", None)})
    assert finding.message == (
        "weight_decay=5 is outside the usual [1e-05, 0.5]: at learning_rate=0.001 each step "
        "shrinks every decayed weight by 0.005 (0.006654 of it left after 1000 steps without "
        "gradient). Received: AdamW(weight_decay=5)"
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_learning_rate_that_is_no_step_size_gets_no_per_step_effect(models, fmt):
    """A negative learning rate (a broken or hostile file) has no per-step shrink to
    state. It made `(1 - shrink) ** 1000` overflow, and the rule crash."""
    (finding,) = assert_rule(models["negative_lr"][fmt], "WD005", {("", None)})
    assert finding.message == (
        "weight_decay=5 is outside the usual [1e-05, 0.5]. Received: AdamW(weight_decay=5)"
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_too_small_fires(models, fmt):
    assert_rule(models["tiny"][fmt], "WD005", {("", None)})


def test_live_optimizer_fires(models):
    assert_rule(models["huge_live"], "WD005", {("", None)})


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", ["usual", "none"])
def test_usual_or_absent_weight_decay_stays_clean(models, fmt, case):
    assert_rule(models[case][fmt], "WD005", set())


def test_options_move_the_bounds(models):
    assert_rule(models["huge"]["keras"], "WD005", set(), options={"max": 10.0})
    assert_rule(models["usual"]["keras"], "WD005", {("", None)}, options={"min": 0.01})


def test_inverted_bounds_are_a_usage_error(models):
    with pytest.raises(UsageError, match="min <= max"):
        run([models["usual"]["keras"]], AuditConfig(rules={"WD005": {"min": 1.0, "max": 0.1}}))
