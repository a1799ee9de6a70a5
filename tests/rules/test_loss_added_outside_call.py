"""REG012 on live models, and the facts its message relies on: what Keras 3 and tf.keras 2
do with a loss added from outside `call()`, as a tensor and as a zero-argument callable."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from tests.harness import assert_rule

X, Y = np.ones((8, 6), "float32"), np.zeros((8, 2), "float32")


def _net(keras, name="net"):
    L = keras.layers
    backbone = keras.Sequential([keras.Input((6,)), L.Dense(5, name="inner")], name="backbone")
    inputs = keras.Input((6,))
    x = L.Dense(4, activation="relu", name="hidden")(backbone(inputs))
    model = keras.Model(inputs, L.Dense(2, name="head")(x), name=name)
    model.compile(optimizer="sgd", loss="mse")
    return model


def _recipe(keras, layers, alpha=1e-4):
    """The blog recipe: an L2 penalty of each kernel, added from outside `call()`."""
    for layer in layers:
        if hasattr(layer, "kernel"):
            layer.add_loss(keras.regularizers.l2(alpha)(layer.kernel))


def test_losses_added_from_outside_call_fire(keras):
    model = _net(keras)
    layers = [
        model.get_layer("hidden"),
        model.get_layer("head"),
        model.get_layer("backbone").get_layer("inner"),
    ]
    _recipe(keras, layers)
    expected = {
        layer.path: [1e-4 * float(np.sum(layer.kernel.numpy().astype("f8") ** 2))]
        for layer in layers
    }
    (finding,) = assert_rule(model, "REG012", {("", None)})
    assert finding.details["losses"] == {
        path: [pytest.approx(v[0], rel=1e-5)] for path, v in expected.items()
    }
    assert finding.message.startswith("`model.losses` holds 3 loss(es) (together ")
    assert finding.message.endswith(
        "that `add_loss()` put on 3 layer(s) from outside `call()`, not from any variable's "
        "regularizer: `backbone/inner`, `hidden`, `head`. Keras "
        f"{keras.__version__} clears them at the start of the next forward pass, so `fit()` "
        "never minimizes them, and as tensors computed once they carry no gradient."
    )


def test_keras_3_drops_them_at_the_first_step_and_refuses_callables(keras):
    """What the message says, pinned: the loss `fit()` minimizes is the data loss alone,
    `model.losses` is empty after one step, and the callable form raises."""
    with_recipe, plain = _net(keras), _net(keras)
    plain.set_weights(with_recipe.get_weights())
    _recipe(keras, with_recipe.layers, alpha=1e6)  # a penalty that would dwarf any loss
    assert len(with_recipe.losses) == 2
    assert with_recipe.train_on_batch(X, Y) == pytest.approx(plain.train_on_batch(X, Y))
    assert with_recipe.losses == []
    assert_rule(with_recipe, "REG012", set())
    head = with_recipe.get_layer("head")
    with pytest.raises(ValueError, match=r"`add_loss\(\)` can only be called from inside"):
        head.add_loss(lambda: keras.regularizers.l2(1e-4)(head.kernel))


def test_losses_that_calls_explain_stay_clean(keras):
    """Activity penalties after a forward pass, a custom layer's loss added in `call()`,
    and variable regularizers are not added from outside `call()`."""
    L, R = keras.layers, keras.regularizers

    class Penalized(L.Layer):
        def call(self, x):
            self.add_loss(0.1 * keras.ops.sum(x))
            return x

    inputs = keras.Input((6,))
    x = L.Dense(4, activity_regularizer=R.L2(1e-3), kernel_regularizer=R.L2(1e-4), name="d")(inputs)
    model = keras.Model(inputs, Penalized(name="custom")(x))
    model(X)
    assert len(model.losses) == 3  # activity, custom, kernel regularizer
    assert_rule(model, "REG012", set())


def test_the_training_gate_stops_the_recipe_before_the_first_step(keras):
    """`AuditCallback` audits at `on_train_begin`, while the losses are still there."""
    from auditor.keras import AuditCallback, AuditFailed

    model = _net(keras)
    _recipe(keras, model.layers)
    with pytest.raises(AuditFailed) as caught:
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[AuditCallback(fail_on="error")])
    assert [f.code for f in caught.value.findings] == ["REG012"]


TF_KERAS = r"""
import json, os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tf_keras as K
model = K.Sequential([K.Input((6,)), K.layers.Dense(4, name="a"), K.layers.Dense(2, name="b")])
out = {}
try:
    model.layers[0].add_loss(K.regularizers.l2(1e-4)(model.layers[0].kernel))
    out["tensor"] = "accepted"
except ValueError as exc:
    out["tensor"] = str(exc)
for layer in model.layers:
    layer.add_loss(lambda layer=layer: K.regularizers.l2(1e-4)(layer.kernel))
out["before"] = len(model.losses)
model.compile("sgd", "mse")
model.fit(np.ones((8, 6)), np.zeros((8, 2)), epochs=1, verbose=0)
out["after"] = len(model.losses)
print(json.dumps(out))
"""


def test_tf_keras_2_refuses_tensors_and_keeps_callables():
    """The recipe's tf.keras 2 form, the callable, is recomputed at every step there."""
    if importlib.util.find_spec("tf_keras") is None:  # not imported: it runs apart
        pytest.skip("the [test] extra installs tf-keras")
    proc = subprocess.run(
        [sys.executable, "-c", TF_KERAS], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "zero argument `lambda`" in out["tensor"]
    assert (out["before"], out["after"]) == (2, 2)
