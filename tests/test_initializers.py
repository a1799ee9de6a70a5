"""Initial distributions against Keras itself (`compute_fans`, `VarianceScaling` and
`Orthogonal` in `keras/src/initializers/random_initializers.py`): fresh tensors are judged
initial, the exact laws match what Keras draws from, fans follow the writer's version."""

from __future__ import annotations

import math

import numpy as np
import pytest

from auditor.loaders.live import load_live
from auditor.tensors.initializers import Kind, reference_for
from auditor.tensors.stats import compute
from auditor.tensors.verdict import Verdict, judge


@pytest.fixture(autouse=True)
def _seeded(keras):
    """Fresh tensors pass the KS test with probability 1 - KS_ALPHA: fix the draw."""
    keras.utils.set_random_seed(1234)


def _graph(model):
    graph = load_live(model).graph
    nodes = {node.path: node for node in graph.root.walk()}
    return graph, nodes


def _judged(model, version="3.15.1"):
    graph, nodes = _graph(model)
    out = {}
    for weight in graph.weights():
        reference = reference_for(weight, nodes[weight.layer_path], version)
        if reference is None:
            continue
        stats = compute(weight.tensor, reference=reference)
        out[weight.path] = (reference, stats, judge(stats))
    return out


INITIALIZERS = [
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "orthogonal",
    "random_uniform",
    "random_normal",
    "truncated_normal",
    "zeros",
    "ones",
]


@pytest.mark.parametrize("init", INITIALIZERS)
def test_fresh_dense_and_conv_kernels_are_initial(keras, init):
    L = keras.layers
    inputs = keras.Input((8, 8, 16))
    x = L.Conv2D(32, 3, kernel_initializer=init, bias_initializer="zeros", name="conv")(inputs)
    x = L.Flatten()(x)
    model = keras.Model(inputs, L.Dense(64, kernel_initializer=init, name="dense")(x))
    judged = _judged(model)
    assert set(judged) == {"conv/kernel", "conv/bias", "dense/kernel", "dense/bias"}
    for path, (_, _, judgement) in judged.items():
        assert judgement.verdict is Verdict.INITIAL, (path, judgement.evidence)


def test_every_layer_kind_fresh_is_initial(keras):
    L = keras.layers
    tokens = keras.Input((12,), dtype="int32")
    e = L.Embedding(500, 32, name="emb")(tokens)
    r = L.LSTM(24, return_sequences=True, name="lstm")(e)
    r = L.GRU(16, return_sequences=True, name="gru")(r)
    a = L.MultiHeadAttention(4, 16, name="mha")(r, r)
    a = L.EinsumDense("abc,cd->abd", output_shape=(None, 32), bias_axes="d", name="ein")(a)
    a = L.LayerNormalization(name="ln")(a)
    image = keras.Input((16, 16, 8))
    c = L.DepthwiseConv2D(3, name="dw")(image)
    c = L.SeparableConv2D(16, 3, name="sep")(c)
    c = L.BatchNormalization(name="bn")(c)
    c = L.Conv2DTranspose(8, 2, name="tconv")(c)
    out = L.Concatenate()([L.GlobalAveragePooling1D()(a), L.GlobalAveragePooling2D()(c)])
    model = keras.Model([tokens, image], out)
    judged = _judged(model)
    assert len(judged) == len(model.weights)
    moved = {p: j.evidence for p, (_, _, j) in judged.items() if j.verdict is not Verdict.INITIAL}
    assert moved == {}
    assert judged["lstm/lstm_cell/bias"][0].kind is Kind.PATTERN
    assert judged["lstm/lstm_cell/recurrent_kernel"][2].evidence.startswith("orthogonal")


def test_exact_laws(keras):
    L = keras.layers
    inputs = keras.Input((256,))
    x = L.Dense(128, name="dense")(inputs)
    image = keras.Input((8, 8, 64))
    y = L.DepthwiseConv2D(3, name="dw")(image)
    y = L.Conv2D(64, 3, kernel_initializer="he_normal", name="he")(y)
    seq = keras.Input((5, 64))
    z = L.MultiHeadAttention(4, 16, name="mha")(seq, seq)
    model = keras.Model([inputs, image, seq], [x, y, z])
    judged = _judged(model)
    assert judged["dense/kernel"][0].high == pytest.approx(0.125)
    assert judged["dw/kernel"][0].high == pytest.approx(math.sqrt(6 / (576 + 9)))
    he = judged["he/kernel"][0]
    assert he.kind is Kind.TRUNCATED_NORMAL
    assert he.high == pytest.approx(2 * math.sqrt(2 / 576) / 0.87962566103423978)
    # Keras 3.15 computes MultiHeadAttention fans from the einsum equation.
    assert judged["mha/query/kernel"][0].high == pytest.approx(math.sqrt(6 / 128))
    assert judged["mha/attention_output/kernel"][0].high == pytest.approx(math.sqrt(6 / 128))
    # The same file written by Keras <= 3.14 (or tf.keras 2) used the generic rule.
    older = _judged(model, version="3.14.0")
    assert older["mha/query/kernel"][0].high == pytest.approx(math.sqrt(6 / (256 + 1024)))
    assert older["mha/query/kernel"][2].verdict is Verdict.TRAINED  # wrong law: not initial


def test_moved_tensors_are_trained(keras):
    L = keras.layers
    inputs = keras.Input((256,))
    x = L.Dense(128, name="noisy")(inputs)
    x = L.Dense(128, name="shrunk")(x)
    model = keras.Model(inputs, L.Dense(4, name="bias")(x))
    noisy = model.get_layer("noisy")
    kernel = noisy.kernel.numpy()
    noisy.kernel.assign(kernel + np.random.default_rng(0).normal(0, 0.003, kernel.shape))
    shrunk = model.get_layer("shrunk")
    shrunk.kernel.assign(shrunk.kernel.numpy() * 0.97)
    head = model.get_layer("bias")
    head.bias.assign(head.bias.numpy() + 1e-6)
    judged = _judged(model)
    assert "outside" in judged["noisy/kernel"][2].evidence  # 2% noise crosses the bound
    assert judged["shrunk/kernel"][2].evidence.startswith("std ")
    assert judged["bias/bias"][2].evidence.startswith("4 of 4 values differ")
    for path in ("noisy/kernel", "shrunk/kernel", "bias/bias"):
        assert judged[path][2].verdict is Verdict.TRAINED


def test_tiny_tensors_have_low_confidence(keras):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="tiny")(inputs))
    judged = _judged(model)
    assert judged["tiny/kernel"][2].confidence == "low"
    assert judged["tiny/bias"][2].confidence == "low"


def _declared(class_name: str, config: dict, shape: tuple[int, ...] = (64, 32)):
    from auditor.graph.declared import Initializer
    from auditor.graph.model import LayerNode, Role, WeightRef

    weight = WeightRef(
        path="dense/kernel",
        layer_path="dense",
        name="kernel",
        role=Role.KERNEL,
        shape=shape,
        dtype="float32",
        trainable=True,
        initializer=Initializer(class_name, config),
    )
    return reference_for(
        weight, LayerNode(path="dense", name="dense", class_name="Dense"), "3.15.1"
    )


@pytest.mark.parametrize(
    ("class_name", "config"),
    [
        ("RandomNormal", {"stddev": 0.0}),
        ("RandomNormal", {"stddev": -1.0}),
        ("RandomNormal", {"stddev": float("inf")}),
        ("RandomNormal", {"mean": float("nan")}),
        ("VarianceScaling", {"scale": -1.0, "distribution": "truncated_normal"}),
        ("VarianceScaling", {"scale": -1.0, "distribution": "untruncated_normal"}),
        ("VarianceScaling", {"scale": -1.0, "distribution": "uniform"}),
        ("VarianceScaling", {"scale": 0.0}),
        ("VarianceScaling", {"scale": float("nan")}),
        ("Orthogonal", {"gain": 0.0}),
        ("Orthogonal", {"gain": float("inf")}),
    ],
)
def test_a_declared_law_keras_could_not_have_drawn_from_is_no_reference(class_name, config):
    """A file's initializer config is the writer's: a scale, deviation or gain that Keras
    would refuse (or that gives no law) is not judged against, rather than dividing by
    zero or taking the root of a negative number (which made the whole file AUD001)."""
    assert _declared(class_name, config) is None


def test_the_limits_of_valid_laws_still_give_references():
    assert _declared("RandomNormal", {"stddev": 1e-30}).kind is Kind.NORMAL
    assert _declared("VarianceScaling", {"scale": 2.0, "distribution": "untruncated_normal"})
    negative = _declared("Orthogonal", {"gain": -2.0})
    assert negative.kind is Kind.ORTHOGONAL and negative.std == pytest.approx(2.0 / 8)
