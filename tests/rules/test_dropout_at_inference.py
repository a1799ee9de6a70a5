"""DRP006 dropout-at-inference: a dropout or noise layer called with training=True in the
functional graph; `.keras` and legacy `.h5` written by Keras 3, a legacy `.h5` written by
tf.keras 2 (its inbound node list), and live. A plain call and an explicit
training=False stay clean. When the stored flag takes effect is pinned per Keras version:
Keras 3 only in direct calls, tf.keras 2 in every call, predict() included."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule, functional, save_cases

CASES = {
    # fires
    "mc": lambda L, x: L.Dense(2, name="out")(
        L.Dropout(0.5, name="drop")(L.Dense(8, name="hidden")(x), training=True)
    ),
    "noise": lambda L, x: L.Dense(2, name="out")(
        L.GaussianNoise(0.1, name="noise")(L.Dense(8)(x), training=True)
    ),
    # near misses
    "plain": lambda L, x: L.Dense(2, name="out")(L.Dropout(0.5, name="drop")(L.Dense(8)(x))),
    "off": lambda L, x: L.Dense(2, name="out")(
        L.Dropout(0.5, name="drop")(L.Dense(8)(x), training=False)
    ),
}


@pytest.fixture(scope="module")
def models(keras, save_model):
    return save_cases(keras, save_model, "drp006", CASES)


@pytest.mark.parametrize("fmt", FORMATS)
def test_dropout_called_with_training_true_fires(models, fmt, keras):
    (finding,) = assert_rule(models["mc"][fmt], "DRP006", {("drop", None)})
    assert finding.message == (
        "`drop` (Dropout) is called with training=True, so it stays active at inference "
        "(Monte Carlo dropout). In Keras 3 only in direct calls model(x): predict(), "
        "evaluate() and model(x, training=False) override it. In tf.keras 2 in every call, "
        f"predict() included. The model was saved by Keras {keras.__version__}."
    )
    assert finding.location.config_key == "config.layers[2].inbound_nodes"
    assert finding.details["saved_by"] == keras.__version__


@pytest.mark.parametrize("fmt", FORMATS)
def test_noise_called_with_training_true_fires(models, fmt):
    assert_rule(models["noise"][fmt], "DRP006", {("noise", None)})


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["plain", "off"])
def test_a_plain_or_training_false_call_stays_clean(models, fmt, name):
    assert_rule(models[name][fmt], "DRP006", set())


def test_keras_3_drops_only_in_direct_calls(keras):
    """What the message says of Keras 3: the outer training flag overrides the stored one."""
    model = functional(keras, "mc_live", (6,), CASES["mc"])
    x = np.ones((16, 6), "float32")
    hidden = keras.Model(model.input, model.get_layer("drop").output)

    def drops(outputs) -> bool:
        return bool((np.asarray(outputs) == 0).any())

    assert drops(hidden(x))
    assert not drops(hidden(x, training=False))
    assert not drops(hidden.predict(x, verbose=0))
    assert_rule(model, "DRP006", {("drop", None)})


TF_KERAS = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tf_keras as K
inputs = K.Input((6,))
x = K.layers.Dense(8, kernel_initializer="ones", name="hidden")(inputs)
x = K.layers.Dropout(0.5, name="drop")(x, training=True)
model = K.Model(inputs, K.layers.Dense(2, name="out")(x))
hidden = K.Model(inputs, x)
data = np.ones((16, 6), "float32")
drops = lambda y: bool((np.asarray(y) == 0).any())
model.save(sys.argv[1])
print(json.dumps({
    "call": drops(hidden(data)),
    "training_false": drops(hidden(data, training=False)),
    "predict": drops(hidden.predict(data, verbose=0)),
    "version": K.__version__,
}))
"""


def test_tf_keras_2_drops_in_every_call_and_its_file_is_read(tmp_path):
    if importlib.util.find_spec("tf_keras") is None:  # not imported: it runs apart
        pytest.skip("the [test] extra installs tf-keras")
    path = tmp_path / "mc_tf_keras.h5"
    proc = subprocess.run(
        [sys.executable, "-c", TF_KERAS, str(path)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (out["call"], out["training_false"], out["predict"]) == (True, True, True)
    (finding,) = assert_rule(path, "DRP006", {("drop", None)})
    assert finding.details["saved_by"] == out["version"]
