"""The representation agrees with Keras's own view of the same model, in both formats."""

from __future__ import annotations

import json
import re

import pytest

from auditor.loaders import open_model
from tests.conftest import FORMATS

# Architectures built with weights=None. The heaviest are marked: CI runs them all.
LIGHT = [
    "MobileNet",
    "MobileNetV2",
    "MobileNetV3Small",
    "MobileNetV3Large",
    "NASNetMobile",
    "EfficientNetB0",
    "EfficientNetV2B0",
    "DenseNet121",
    "ResNet50",
    "ResNet50V2",
    "InceptionV3",
    "Xception",
    "VGG16",
    "ConvNeXtTiny",
]
HEAVY = [
    "VGG19",
    "ResNet101",
    "ResNet152",
    "ResNet101V2",
    "ResNet152V2",
    "InceptionResNetV2",
    "DenseNet169",
    "DenseNet201",
    "NASNetLarge",
    "EfficientNetB1",
    "EfficientNetB2",
    "EfficientNetB3",
    "EfficientNetB4",
    "EfficientNetB5",
    "EfficientNetB6",
    "EfficientNetB7",
    "EfficientNetV2B1",
    "EfficientNetV2B2",
    "EfficientNetV2B3",
    "EfficientNetV2S",
    "EfficientNetV2M",
    "EfficientNetV2L",
    "ConvNeXtSmall",
    "ConvNeXtBase",
    "ConvNeXtLarge",
    "ConvNeXtXLarge",
]


def _reg_view(config):
    if config is None:
        return None
    return tuple(round(float(config[k]), 12) for k in ("l1", "l2") if k in config)


def keras_view(model):
    """top-level layer name -> sorted (variable name, shape, regularizer, trainable)."""
    view = {}
    for layer in model.layers:
        rows = []
        for variable in layer.weights:
            reg = variable.regularizer
            config = json.loads(json.dumps(reg.get_config())) if reg is not None else None
            # add_weight(name=None) gives "variable", "variable_1", ... (a global counter)
            name = re.sub(r"^variable_\d+$", "variable", variable.name)
            rows.append((name, tuple(variable.shape), _reg_view(config), variable.trainable))
        view[layer.name] = sorted(rows, key=repr)
    return view


def ir_view(path):
    """The same view from keras-audit's representation of a saved file."""
    with open_model(path) as loaded:
        graph = loaded.graph
        assert graph.readable, graph.issues
        assert graph.unclaimed == ()
        view = {}
        for layer in graph.root.children:
            rows = []
            for weight in layer.all_weights():
                reg = weight.regularizer
                rows.append(
                    (
                        weight.name,
                        weight.shape,
                        _reg_view(reg.config) if reg else None,
                        weight.trainable,
                    )
                )
            view[layer.name] = sorted(rows, key=repr)
        return view


def assert_agrees(model, paths):
    expected = {k: v for k, v in keras_view(model).items() if v}
    for fmt, path in paths.items():
        got = {k: v for k, v in ir_view(path).items() if v}
        assert set(got) == set(expected), (fmt, sorted(set(got) ^ set(expected))[:10])
        for name, rows in expected.items():
            assert len(got[name]) == len(rows), (fmt, name, got[name], rows)
            for (g_name, g_shape, g_reg, g_tr), (name_, shape, reg, tr) in zip(
                got[name], rows, strict=True
            ):
                assert (g_name, g_shape, g_tr) == (name_, shape, tr), (fmt, name)
                if reg is None:
                    assert g_reg is None, (fmt, name, g_reg)
                else:
                    assert g_reg == pytest.approx(reg, rel=1e-6), (fmt, name)


def test_complex_model_agrees_with_keras(complex_model):
    model, paths = complex_model
    assert_agrees(model, paths)


@pytest.mark.parametrize("fmt", FORMATS)
def test_roles_and_config_keys(complex_model, fmt):
    _, paths = complex_model
    with open_model(paths[fmt]) as loaded:
        weights = {w.path: w for w in loaded.graph.weights()}
        assert weights["dw/kernel"].role == "depthwise_kernel"
        assert weights["bidi/forward_lstm/lstm_cell/recurrent_kernel"].role == "recurrent_kernel"
        assert weights["subseq/inner_bn/moving_mean"].trainable is False
        assert weights["frozen/frozen_dense/kernel"].trainable is False
        assert (
            weights["mha/query/kernel"].regularizer_key
            == "config.layers[2].config.kernel_regularizer"
        )
        optimizer = loaded.graph.optimizer
        assert optimizer.class_name == "AdamW" and optimizer.weight_decay == pytest.approx(0.01)
        assert optimizer.exclusions is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_sequential_and_nested_sequential(keras, save_model, fmt):
    L, R = keras.layers, keras.regularizers
    model = keras.Sequential(
        [
            keras.Input((3,)),
            L.Dense(2, bias_regularizer=R.L2(1e-4)),
            keras.Sequential([L.Dense(2), L.BatchNormalization()]),
        ]
    )
    paths = save_model(model, f"nested_seq_{fmt}", formats=(fmt,))
    assert_agrees(model, paths)


def _application(keras, save_model, name):
    builder = getattr(keras.applications, name)
    model = builder(weights=None)
    return model, save_model(model, f"app_{name}")


@pytest.mark.parametrize(
    "name", [*LIGHT, *(pytest.param(name, marks=pytest.mark.heavy) for name in HEAVY)]
)
def test_application_weights_fully_mapped(keras, save_model, name):
    model, paths = _application(keras, save_model, name)
    assert_agrees(model, paths)
    for path in paths.values():
        path.unlink()


def test_more_layer_classes_agree_with_keras(keras, save_model):
    L, R = keras.layers, keras.regularizers
    video = keras.Input((4, 6, 6, 2))
    v = L.ConvLSTM2D(3, 3, kernel_regularizer=R.L2(1e-4), name="clstm")(video)
    v = L.Flatten()(v)
    seq = keras.Input((5, 7))
    s = L.RNN(L.LSTMCell(4, recurrent_regularizer=R.L2(1e-4)), name="generic")(seq)
    s = L.EinsumDense(
        "ab,bc->ac", output_shape=5, bias_axes="c", kernel_regularizer="l2", name="ein"
    )(s)
    signal = keras.Input((9, 2))
    t = L.DepthwiseConv1D(3, depthwise_regularizer=R.L2(1e-5), name="dw1d")(signal)
    t = L.SeparableConv1D(3, 3, pointwise_regularizer=R.L2(1e-5), name="sep1d")(t)
    t = L.Flatten()(t)
    volume = keras.Input((4, 4, 4, 1))
    u = L.Flatten()(L.Conv3D(2, 2, bias_regularizer=R.L1(1e-5), name="c3d")(volume))
    model = keras.Model([video, seq, signal, volume], L.Concatenate()([v, s, t, u]))
    assert_agrees(model, save_model(model, "loading_more"))


def test_vars_groups_found_by_their_name_attribute(keras, save_model, tmp_path):
    """Keras 3 names each `vars` group after its layer (a `name` attribute) as well as by
    its naming algorithm (`layers/dense_1`). Where the two disagree, the attribute wins:
    here the two layers' groups are swapped in the weights file, attributes and all."""
    import io
    import zipfile

    import h5py

    L = keras.layers
    model = keras.Sequential(
        [keras.Input((4,)), L.Dense(3, name="a"), L.Dense(5, name="b")], name="sequential"
    )
    original = save_model(model, "swapped_vars", formats=("keras",))["keras"]
    with zipfile.ZipFile(original) as z:
        members = {info.filename: z.read(info) for info in z.infolist()}
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "r+") as f:
        assert dict(f["layers/dense/vars"].attrs) == {"name": "a"}
        f.move("layers/dense", "layers/swap")
        f.move("layers/dense_1", "layers/dense")
        f.move("layers/swap", "layers/dense_1")
    members["model.weights.h5"] = buffer.getvalue()
    swapped = tmp_path / "swapped.keras"
    with zipfile.ZipFile(swapped, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)

    assert_agrees(model, {"keras": swapped})
    with open_model(swapped) as loaded:
        stored = {w.path: w.storage for w in loaded.graph.weights()}
    assert stored == {
        "sequential/a/kernel": "layers/dense_1/vars/0",
        "sequential/a/bias": "layers/dense_1/vars/1",
        "sequential/b/kernel": "layers/dense/vars/0",
        "sequential/b/bias": "layers/dense/vars/1",
    }


def test_vars_group_names_are_read_only_where_needed(keras, save_model, monkeypatch):
    """Each weighted layer's own `vars` group is asked its name (the cross-check); every
    other group is asked only once a layer and its group disagree (see above)."""
    from auditor.loaders import keras_v3

    asked: list[str] = []
    real = keras_v3.group_text

    def counting(f, group, key):
        asked.append(group)
        return real(f, group, key)

    monkeypatch.setattr(keras_v3, "group_text", counting)
    L = keras.layers
    model = keras.Sequential(
        [keras.Input((4,)), L.Dense(3, name="a"), L.Dropout(0.1), L.Dense(5, name="b")],
        name="sequential",
    )
    path = save_model(model, "names_asked", formats=("keras",))["keras"]
    with open_model(path) as loaded:
        assert {w.storage for w in loaded.graph.weights()} == {
            "layers/dense/vars/0",
            "layers/dense/vars/1",
            "layers/dense_1/vars/0",
            "layers/dense_1/vars/1",
        }
    assert asked == ["layers/dense/vars", "layers/dense_1/vars"]
