"""Files written by genuine tf.keras 2 (the `tf-keras` package): every weight mapped, and the
representation agrees with tf.keras's own per-layer view. The models are built in a
subprocess so that tf_keras and Keras 3 never share the test process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from auditor.engine.config import AuditConfig
from auditor.engine.runner import run
from auditor.loaders import open_model

pytest.importorskip("tf_keras", reason="the [test] extra installs tf-keras")

BUILD = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tf_keras as K
L, R = K.layers, K.regularizers
out = sys.argv[1]
# Fixed initial values: the at-initialization verdicts below are statistical tests, and
# unseeded weights would make them fail at their false-positive rate (~1e-4 per tensor).
K.utils.set_random_seed(20191115)

def view(model):
    # tf.keras 2 freezes a layer without touching variable.trainable: the effective flag is
    # membership in layer.trainable_weights.
    result = {}
    for layer in model.layers:
        trainable = {id(v) for v in layer.trainable_weights}
        result[layer.name] = sorted([list(v.shape), id(v) in trainable] for v in layer.weights)
    return result

inner = K.Sequential([L.Dense(4, kernel_regularizer=R.l2(1e-4), input_shape=(10,)),
                      L.BatchNormalization(gamma_regularizer=R.l2(1e-4))], name="inner")
seq = L.Input((6, 8))
h = L.Bidirectional(L.LSTM(5, kernel_regularizer=R.l2(1e-3)), name="bidi")(seq)
h = inner(h)
h = L.Dense(3, trainable=False, kernel_regularizer=R.l2(1e-3), name="frozen")(h)
img = L.Input((8, 8, 3))
c = L.DepthwiseConv2D(3, depthwise_regularizer=R.l1_l2(1e-5, 1e-4), name="dw")(img)
c = L.SeparableConv2D(4, 3, pointwise_regularizer=R.l2(1e-5), name="sep")(c)
c = L.GlobalAveragePooling2D()(c)
tok = L.Input((5,))
e = L.Embedding(20, 8, name="emb")(tok)
e = L.MultiHeadAttention(2, 4, kernel_regularizer=R.l2(1e-4), name="mha")(e, e)
e = L.TimeDistributed(L.Dense(3), name="td")(e)
e = L.GRU(3, name="gru")(e)
model = K.Model([seq, img, tok], L.Concatenate()([h, c, e]), name="tfk2")
model.compile(optimizer=K.optimizers.SGD(0.01, momentum=0.9), loss="mse")
model.save(os.path.join(out, "tfk2.h5"))
mobilenet = K.applications.MobileNet(weights=None, input_shape=(64, 64, 3))
mobilenet.save(os.path.join(out, "mobilenet.h5"))
json.dump({"tfk2": view(model), "mobilenet": view(mobilenet)},
          open(os.path.join(out, "views.json"), "w"))
"""


@pytest.fixture(scope="module")
def tf_keras_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("tf_keras2")
    proc = subprocess.run(
        [sys.executable, "-c", BUILD, str(out)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, json.loads((out / "views.json").read_text())


def ir_view(path):
    with open_model(path) as loaded:
        graph = loaded.graph
        assert graph.readable and graph.unclaimed == (), (graph.issues, graph.unclaimed)
        assert graph.source.keras_major == 2
        return {
            layer.name: sorted([list(w.shape), w.trainable] for w in layer.all_weights())
            for layer in graph.root.children
        }


@pytest.mark.parametrize("name", ["tfk2", "mobilenet"])
def test_agrees_with_tf_keras(tf_keras_files, name):
    out, views = tf_keras_files
    expected = {k: v for k, v in views[name].items() if v}
    got = {k: v for k, v in ir_view(out / f"{name}.h5").items() if v}
    assert got == expected


def test_rules_on_a_tf_keras2_file(tf_keras_files):
    out, _ = tf_keras_files
    report = run([out / "tfk2.h5"], AuditConfig(select=["REG004", "REG005", "REG007"]))
    got = sorted((f.code, f.location.layer_path) for f in report.findings)
    assert got == [("REG004", "dw"), ("REG005", "inner/batch_normalization"), ("REG007", "frozen")]
    (frozen,) = [f for f in report.findings if f.code == "REG007"]
    assert "Keras 2 still adds their penalty" in frozen.message


@pytest.mark.parametrize("name", ["tfk2", "mobilenet"])
def test_fresh_tf_keras2_weights_are_judged_initial(tf_keras_files, name):
    """tf.keras 2 initializer configs and fans (generic for MultiHeadAttention): every
    freshly built layer is at initialization, none is judged trained."""
    out, _ = tf_keras_files
    report = run([out / f"{name}.h5"])
    verdicts = {
        w.path: w.stats.init.verdict
        for layer in report.models[0].inventory
        for w in layer.weights
        if w.stats is not None and w.stats.init is not None
    }
    assert verdicts and set(verdicts.values()) == {"initial"}, {
        p: v for p, v in verdicts.items() if v != "initial"
    }
