import numpy as np
import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule


@pytest.fixture(scope="module")
def models(keras, save_model):
    L, R = keras.layers, keras.regularizers

    def build(coefficient, name):
        model = keras.Sequential(
            [
                keras.Input((16,)),
                L.Dense(64, kernel_regularizer=R.L2(coefficient), name="hidden"),
                L.Dense(4, activation="softmax", name="head"),
            ]
        )
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        return model

    heavy, light = build(0.5, "heavy"), build(1e-4, "light")
    kernel = heavy.get_layer("hidden").kernel.numpy()
    return {
        "heavy": save_model(heavy, "reg010_heavy"),
        "light": save_model(light, "reg010_light"),
        "expected_penalty": 0.5 * float(np.sum(kernel.astype(np.float64) ** 2)),
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_penalty_over_ln_c_fires_with_exact_value(models, fmt):
    (finding,) = assert_rule(models["heavy"][fmt], "REG010", {("", None)})
    assert finding.details["penalty"] == pytest.approx(models["expected_penalty"], rel=1e-6)
    assert finding.details["reference_loss"] == pytest.approx(np.log(4))


@pytest.mark.parametrize("fmt", FORMATS)
def test_small_penalty_stays_clean(models, fmt):
    assert_rule(models["light"][fmt], "REG010", set())


def _head_model(keras, penalty, tail, units=5, loss=None):
    """A hidden Dense of all-ones weights whose L2 penalty is exactly `penalty`, then an
    output of `units` that ends in the layers `tail(L)` builds."""
    L, R = keras.layers, keras.regularizers
    inputs = keras.Input((16,))
    hidden = L.Dense(8, kernel_regularizer=R.L2(penalty / 128), name="hidden")
    x = L.Dense(units, name="logits")(hidden(inputs))
    for layer in tail(L):
        x = layer(x)
    model = keras.Model(inputs, x, name="net")
    hidden.kernel.assign(np.ones((16, 8), "f4"))
    if loss:
        model.compile(optimizer="sgd", loss=loss)
    return model


HEADS = {
    # name: (tail layers after the logits, units, loss, reference, basis words)
    "activation_float32": (
        lambda L: [L.Activation("softmax", dtype="float32", name="act")],
        5,
        None,
        np.log(5),
        "5-way softmax of Dense `logits` then `act`",
    ),
    "after_softmax": (
        lambda L: [
            L.Softmax(name="probs"),
            L.ActivityRegularization(l1=0.0, name="reg"),
            L.Reshape((5, 1), name="shape"),
        ],
        5,
        None,
        np.log(5),
        "5-way softmax of Dense `logits` then `probs`, `reg`, `shape`",
    ),
    "sparse_loss": (
        lambda L: [],
        5,
        "sparse_categorical_crossentropy",
        np.log(5),
        "5-way `logits`, loss sparse_categorical_crossentropy",
    ),
    "sigmoid": (
        lambda L: [L.Activation("sigmoid", name="act")],
        1,
        None,
        np.log(2),
        "ln(2) for the sigmoid of Dense `logits` then `act`",
    ),
}


@pytest.fixture(scope="module")
def heads(keras, save_model):
    saved = {}
    for name, (tail, units, loss, reference, _) in HEADS.items():
        for level, factor in (("fires", 1.2), ("clean", 0.8)):
            model = _head_model(keras, reference * factor, tail, units, loss)
            saved[name, level] = save_model(model, f"reg010_{name}_{level}")
    return saved


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(HEADS))
def test_a_head_behind_weightless_layers_or_a_loss_sets_the_reference(heads, fmt, name):
    """Above ln(C) fires, naming the evidence; between 1 and ln(C) (or under ln 2 for a
    sigmoid) stays clean: the fallback reference of 1 would have got both wrong."""
    *_, reference, words = HEADS[name]
    (finding,) = assert_rule(heads[name, "fires"][fmt], "REG010", {("", None)})
    assert finding.details["reference_loss"] == pytest.approx(reference)
    assert words in finding.details["reference_basis"]
    assert_rule(heads[name, "clean"][fmt], "REG010", set())


@pytest.fixture(scope="module")
def sequential_heads(keras, save_model):
    """The mixed-precision idiom in a Sequential, whose layers' paths start with the
    model's name: the walk back from `act` must find `logits` all the same."""
    L, R = keras.layers, keras.regularizers
    saved = {}
    for level, factor in (("fires", 1.2), ("clean", 0.8)):
        model = keras.Sequential(
            [
                keras.Input((16,)),
                L.Dense(8, kernel_regularizer=R.L2(np.log(5) * factor / 128), name="hidden"),
                L.Dense(5, name="logits"),
                L.Activation("softmax", dtype="float32", name="act"),
            ],
            name="seq",
        )
        model.get_layer("hidden").kernel.assign(np.ones((16, 8), "f4"))
        saved[level] = save_model(model, f"reg010_sequential_{level}")
    return saved


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_sequential_head_behind_an_activation_layer(sequential_heads, fmt):
    (finding,) = assert_rule(sequential_heads["fires"][fmt], "REG010", {("", None)})
    assert finding.details["reference_loss"] == pytest.approx(np.log(5))
    assert "Dense `seq/logits` then `seq/act`" in finding.details["reference_basis"]
    assert_rule(sequential_heads["clean"][fmt], "REG010", set())
    assert_rule(sequential_heads["clean"][fmt], "REG003", set())  # the head is spared
