import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule


def _net(keras, name, build):
    """A Functional model `name` on an input of 6 features whose body `build(L, R, x)`
    returns the output."""
    inputs = keras.Input((6,))
    return keras.Model(inputs, build(keras.layers, keras.regularizers, inputs), name=name)


CASES = {
    # fires: the L1 norm of a softmax is 1 whatever the input
    "own_softmax": lambda L, R, x: L.Dense(
        5, activation="softmax", activity_regularizer=R.L1(0.01), name="out"
    )(x),
    "after_softmax": lambda L, R, x: L.ActivityRegularization(l1=0.01, name="act")(
        L.Reshape((5, 1), name="shape")(L.Dense(5, activation="softmax", name="out")(x))
    ),
    "l1l2_softmax": lambda L, R, x: L.Activation(
        "softmax", activity_regularizer=R.L1L2(l1=0.01, l2=0.001), name="out"
    )(L.Dense(5, name="logits")(x)),
    # fires: BatchNormalization divides out the scale of a ReLU layer's output
    "into_norm": lambda L, R, x: L.Dense(2, name="head")(
        L.BatchNormalization(name="bn")(
            L.Dense(8, activation="relu", activity_regularizer=R.L2(1e-3), name="hidden")(x)
        )
    ),
    # near misses
    "sigmoid": lambda L, R, x: L.Dense(
        5, activation="sigmoid", activity_regularizer=R.L1(0.01), name="out"
    )(x),
    "l2_softmax": lambda L, R, x: L.Dense(
        5, activation="softmax", activity_regularizer=R.L2(0.01), name="out"
    )(x),
    "dropout_softmax": lambda L, R, x: L.ActivityRegularization(l1=0.01, name="act")(
        L.Dropout(0.5, name="drop")(L.Dense(5, activation="softmax", name="out")(x))
    ),
    "tanh_into_norm": lambda L, R, x: L.Dense(2, name="head")(
        L.BatchNormalization(name="bn")(
            L.Dense(8, activation="tanh", activity_regularizer=R.L2(1e-3), name="hidden")(x)
        )
    ),
    "branch_past_norm": lambda L, R, x: (
        lambda h: L.Dense(2, name="head")(
            L.Concatenate(name="cat")([L.BatchNormalization(name="bn")(h), h])
        )
    )(L.Dense(8, activation="relu", activity_regularizer=R.L2(1e-3), name="hidden")(x)),
}


@pytest.fixture(scope="module")
def models(keras, save_model):
    return {
        name: save_model(_net(keras, name, body), f"reg013_{name}") for name, body in CASES.items()
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_l1_on_its_own_softmax_fires(models, fmt):
    (finding,) = assert_rule(models["own_softmax"][fmt], "REG013", {("out", None)})
    assert finding.message == (
        "The activity penalty L1(0.01) of `out` takes the L1 norm of softmax outputs (its "
        "own softmax), which is 1 for every input: it adds the constant l1=0.01 to the loss "
        "with a zero gradient. It is inert."
    )
    assert finding.location.config_key == "config.layers[1].config.activity_regularizer"


@pytest.mark.parametrize("fmt", FORMATS)
def test_activity_regularization_after_a_reshaped_softmax_fires(models, fmt):
    (finding,) = assert_rule(models["after_softmax"][fmt], "REG013", {("act", None)})
    assert finding.details == {"penalty": "L1L2(l1=0.01, l2=0)", "softmax": "out"}
    assert finding.location.config_key == "config.layers[3].config"


@pytest.mark.parametrize("fmt", FORMATS)
def test_l1l2_on_softmax_says_its_l2_part_acts(models, fmt):
    (finding,) = assert_rule(models["l1l2_softmax"][fmt], "REG013", {("out", None)})
    assert finding.message.endswith("with a zero gradient. Only its L2 part (l2=0.001) acts.")


@pytest.mark.parametrize("fmt", FORMATS)
def test_penalty_on_an_output_normalized_away_fires(models, fmt):
    (finding,) = assert_rule(models["into_norm"][fmt], "REG013", {("hidden", None)})
    assert finding.details == {"penalty": "L2(0.001)", "normalization": ["bn"]}
    assert "goes only into BatchNormalization `bn`" in finding.message


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "name", ["sigmoid", "l2_softmax", "dropout_softmax", "tanh_into_norm", "branch_past_norm"]
)
def test_penalties_that_act_stay_clean(models, fmt, name):
    assert_rule(models[name][fmt], "REG013", set())


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_inventory_shows_each_activity_regularizer(models, fmt):
    """The coverage map lists activity penalties, on layers with weights and on the
    weightless `ActivityRegularization` layer alike; layers without one show None."""
    from auditor.engine.config import AuditConfig
    from auditor.engine.runner import run

    (report,) = run([models["after_softmax"][fmt]], AuditConfig()).models
    shown = {layer.path: layer.activity_regularizer for layer in report.inventory}
    assert shown == {"out": None, "act": "L1L2(l1=0.01, l2=0)"}
    (report,) = run([models["into_norm"][fmt]], AuditConfig()).models
    shown = {layer.path: layer.activity_regularizer for layer in report.inventory}
    assert shown == {"hidden": "L2(0.001)", "bn": None, "head": None}
