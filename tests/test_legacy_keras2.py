"""Old Keras 2 layouts (tf-keras `hdf5_format.py`, standalone Keras 2.0-2.3), written by
hand with h5py: bytes attributes,
`:0` weight names, chunked `layer_names0...`/`weight_names0...`, a `Model` root, `L1L2`
standing for plain l2, float32-rounded coefficients, `lr`/`decay` optimizer keys, and
Keras 2's trainable-first weight order."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from auditor.engine.config import AuditConfig
from auditor.engine.runner import run
from auditor.loaders import open_model

F32_1E4 = 9.999999747378752e-05
F32_1E2 = 0.009999999776482582


def _layer(name, class_name, config, inbound):
    nodes = [[[src, 0, 0, {}] for src in inbound]] if inbound else []  # one call of the layer
    return {
        "name": name,
        "class_name": class_name,
        "config": {"name": name, **config},
        "inbound_nodes": nodes,
    }


MODEL_CONFIG = {
    "class_name": "Model",
    "config": {
        "name": "model_1",
        "layers": [
            _layer("input_1", "InputLayer", {"batch_input_shape": [None, 8, 8, 3]}, []),
            _layer(
                "depthwise_conv2d_1",
                "DepthwiseConv2D",
                {
                    "trainable": True,
                    "kernel_size": [3, 3],
                    "use_bias": True,
                    "depthwise_regularizer": {
                        "class_name": "L1L2",
                        "config": {"l1": 0.0, "l2": F32_1E4},
                    },
                },
                ["input_1"],
            ),
            _layer(
                "batch_normalization_1",
                "BatchNormalization",
                {
                    "trainable": True,
                    "axis": [3],
                    "center": True,
                    "scale": True,
                    "gamma_regularizer": {"class_name": "L2", "config": {"l2": F32_1E4}},
                },
                ["depthwise_conv2d_1"],
            ),
            _layer(
                "dense_1",
                "Dense",
                {
                    "trainable": False,
                    "units": 2,
                    "use_bias": True,
                    "kernel_regularizer": {
                        "class_name": "L1L2",
                        "config": {"l1": 0.0, "l2": F32_1E2},
                    },
                },
                ["batch_normalization_1"],
            ),
        ],
        "input_layers": [["input_1", 0, 0]],
        "output_layers": [["dense_1", 0, 0]],
    },
}
TRAINING_CONFIG = {
    "loss": "categorical_crossentropy",
    "metrics": ["accuracy"],
    "optimizer_config": {
        "class_name": "Adam",
        "config": {"lr": 0.0010000000474974513, "decay": 1e-4, "beta_1": 0.8999999761581421},
    },
}
# layer -> [(stored weight name, shape)] in Keras 2's order
WEIGHTS = {
    "depthwise_conv2d_1": [
        ("depthwise_conv2d_1/depthwise_kernel:0", (3, 3, 3, 1)),
        ("depthwise_conv2d_1/bias:0", (3,)),
    ],
    "batch_normalization_1": [
        ("batch_normalization_1/gamma:0", (3,)),
        ("batch_normalization_1/beta:0", (3,)),
        ("batch_normalization_1/moving_mean:0", (3,)),
        ("batch_normalization_1/moving_variance:0", (3,)),
    ],
    "dense_1": [("dense_1/kernel:0", (3, 2)), ("dense_1/bias:0", (2,))],
}


def _bytes(values):
    return np.array([v.encode() for v in values], dtype="S")


@pytest.fixture(scope="module")
def keras2_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("keras2") / "old.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(MODEL_CONFIG).encode()
        f.attrs["training_config"] = json.dumps(TRAINING_CONFIG).encode()
        group = f.create_group("model_weights")
        names = ["input_1", *WEIGHTS]
        group.attrs["layer_names0"] = _bytes(names[:2])  # the chunked form
        group.attrs["layer_names1"] = _bytes(names[2:])
        group.create_group("input_1").attrs["weight_names"] = np.array([], dtype="S")
        for layer, weights in WEIGHTS.items():
            layer_group = group.create_group(layer)
            stored = [name for name, _ in weights]
            if layer == "batch_normalization_1":
                layer_group.attrs["weight_names0"] = _bytes(stored[:3])
                layer_group.attrs["weight_names1"] = _bytes(stored[3:])
            else:
                layer_group.attrs["weight_names"] = _bytes(stored)
            for name, shape in weights:
                layer_group[name] = rng.normal(size=shape).astype("f4")
    return path


def test_every_weight_is_mapped_with_its_role(keras2_file):
    with open_model(keras2_file) as loaded:
        graph = loaded.graph
        assert graph.readable and graph.unclaimed == ()
        assert graph.source.keras_version == "2.2.4" and graph.source.keras_major == 2
        weights = {w.path: w for w in graph.weights()}
        assert sorted(weights) == sorted(
            f"{layer}/{name.split('/')[-1].removesuffix(':0')}".replace(
                "depthwise_kernel", "kernel"
            )
            for layer, ws in WEIGHTS.items()
            for name, _ in ws
        )
        assert all(w.storage is not None and w.tensor is not None for w in weights.values())
        assert weights["depthwise_conv2d_1/kernel"].role == "depthwise_kernel"
        assert weights["depthwise_conv2d_1/kernel"].storage.endswith("depthwise_kernel:0")
        assert weights["dense_1/kernel"].trainable is False
        assert weights["batch_normalization_1/moving_mean"].trainable is False
        assert weights["dense_1/kernel"].regularizer.l2 == pytest.approx(0.01, rel=1e-6)


def test_legacy_optimizer_keys(keras2_file):
    with open_model(keras2_file) as loaded:
        optimizer = loaded.graph.optimizer
    assert optimizer.class_name == "Adam"
    assert optimizer.learning_rate == pytest.approx(1e-3)
    assert optimizer.legacy_decay == pytest.approx(1e-4)
    assert optimizer.weight_decay is None


def test_rules_judge_the_old_file(keras2_file):
    report = run([keras2_file], AuditConfig(select=["REG", "AUD"]))
    got = sorted((f.code, f.location.layer_path) for f in report.findings)
    assert got == [
        ("REG004", "depthwise_conv2d_1"),
        ("REG005", "batch_normalization_1"),
        ("REG007", "dense_1"),
        ("REG009", "dense_1"),
    ]
    (frozen,) = [f for f in report.findings if f.code == "REG007"]
    assert "Keras 2 still adds their penalty" in frozen.message


def test_keras_2_0_sequential_config_is_a_list(tmp_path):
    """Keras 2.0-2.1 serialized a Sequential's config as the bare list of its layers."""
    config = {
        "class_name": "Sequential",
        "config": [
            {
                "class_name": "Dense",
                "config": {
                    "name": "dense_1",
                    "units": 2,
                    "use_bias": True,
                    "batch_input_shape": [None, 3],
                    "bias_regularizer": {
                        "class_name": "L1L2",
                        "config": {"l1": 0.0, "l2": F32_1E4},
                    },
                },
            },
        ],
    }
    path = tmp_path / "keras20.h5"
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.0.8"
        f.attrs["model_config"] = json.dumps(config).encode()
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = _bytes(["dense_1"])
        layer = group.create_group("dense_1")
        layer.attrs["weight_names"] = _bytes(["dense_1/kernel:0", "dense_1/bias:0"])
        layer["dense_1/kernel:0"] = np.ones((3, 2), "f4")
        layer["dense_1/bias:0"] = np.zeros(2, "f4")
    report = run([path], AuditConfig(select=["REG006", "AUD003"]))
    # The list form carries no model name, so the root is called "model".
    assert [(f.code, f.location.layer_path) for f in report.findings] == [
        ("REG006", "model/dense_1")
    ]


RELOAD = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tf_keras as K
model = K.models.load_model(sys.argv[1], compile=False)
print(json.dumps({
    layer.name: {
        "kernel_regularizer": K.regularizers.serialize(layer.kernel_regularizer),
        "bias_regularizer": K.regularizers.serialize(layer.bias_regularizer),
        "weights": [w.numpy().tolist() for w in layer.weights],
    }
    for layer in model.layers
}))
"""


def test_fix_rewrites_a_keras_2_0_bare_list_sequential(tmp_path):
    """A Keras 2.0 Sequential stores its layers as the bare `config` list: the fixer
    finds each setting there, and genuine tf.keras 2 reloads the result with the new
    regularizers and the weights as they were."""
    if importlib.util.find_spec("tf_keras") is None:  # not imported: tf.keras 2 runs apart
        pytest.skip("the [test] extra installs tf-keras")
    from auditor.fix.plan import target_regularizer
    from auditor.fix.rewrite import fix_file

    layers = [
        {
            "class_name": "Dense",
            "config": {
                "name": name,
                "units": units,
                "use_bias": True,
                "kernel_regularizer": None,
                "bias_regularizer": {"class_name": "L1L2", "config": {"l1": 0.0, "l2": F32_1E4}},
                **({"batch_input_shape": [None, 3]} if name == "dense_1" else {}),
            },
        }
        for name, units in (("dense_1", 4), ("dense_2", 2))
    ]
    source = tmp_path / "keras206.h5"
    kernels = {"dense_1": np.arange(12, dtype="f4").reshape(3, 4), "dense_2": np.ones((4, 2), "f4")}
    with h5py.File(source, "w") as f:
        f.attrs["keras_version"] = b"2.0.6"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(
            {"class_name": "Sequential", "config": layers}
        ).encode()
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = _bytes(list(kernels))
        for name, kernel in kernels.items():
            layer = group.create_group(name)
            layer.attrs["weight_names"] = _bytes([f"{name}/kernel:0", f"{name}/bias:0"])
            layer[f"{name}/kernel:0"] = kernel
            layer[f"{name}/bias:0"] = np.full(kernel.shape[1], 0.5, "f4")
    out = tmp_path / "fixed.h5"
    result = fix_file(source, out, target_regularizer(l2=1e-4, l1=0.0), exclude=())
    # The biases already carry L2(1e-4) (as float32): left as written.
    assert sorted((c.layer_path, c.setting, c.key) for c in result.changes) == [
        ("model/dense_1", "kernel_regularizer", "config[0].config.kernel_regularizer"),
        ("model/dense_2", "kernel_regularizer", "config[1].config.kernel_regularizer"),
    ]
    proc = subprocess.run(
        [sys.executable, "-c", RELOAD, str(out)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    reloaded = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, kernel in kernels.items():
        layer = reloaded[name]
        assert layer["kernel_regularizer"]["config"]["l2"] == pytest.approx(1e-4)
        assert layer["bias_regularizer"]["config"]["l2"] == pytest.approx(1e-4)
        np.testing.assert_array_equal(np.array(layer["weights"][0], "f4"), kernel)


def test_weight_decay_rules_judge_the_old_file(keras2_file):
    report = run([keras2_file], AuditConfig(select=["WD"]))
    by_code = {f.code: f for f in report.findings}
    assert sorted(by_code) == ["WD002", "WD006"]
    assert by_code["WD002"].details["weights"] == [
        "depthwise_conv2d_1/kernel",
        "batch_normalization_1/gamma",
    ]
    assert by_code["WD006"].location.config_key == "training_config.optimizer_config.config.decay"


def test_fix_writes_regularizers_keras_2_can_read(keras2_file, tmp_path):
    from auditor.fix.plan import target_regularizer
    from auditor.fix.rewrite import fix_file

    out = tmp_path / "fixed.h5"
    result = fix_file(keras2_file, out, target_regularizer(l2=1e-4, l1=0.0), exclude=())
    assert {(s.layer_path, s.setting) for s in result.skipped} == {
        ("dense_1", "kernel_regularizer"),
        ("dense_1", "bias_regularizer"),
    }
    with h5py.File(out, "r") as f:
        raw = f.attrs["model_config"]
        layers = {entry["name"]: entry["config"] for entry in json.loads(raw)["config"]["layers"]}
        weights = {name: f["model_weights"][name] for name in WEIGHTS}
        for layer, stored in WEIGHTS.items():
            for name, _ in stored:
                with h5py.File(keras2_file, "r") as original:
                    before = original["model_weights"][layer][name][()]
                assert weights[layer][name][()].tobytes() == before.tobytes()
    l1l2 = {"class_name": "L1L2", "config": {"l1": 0.0, "l2": 1e-4}}
    # Already L2(1e-4) in float32: left as written.
    assert layers["depthwise_conv2d_1"]["depthwise_regularizer"]["config"]["l2"] == F32_1E4
    assert layers["batch_normalization_1"]["gamma_regularizer"]["class_name"] == "L2"
    assert layers["depthwise_conv2d_1"]["bias_regularizer"] == l1l2
    assert layers["batch_normalization_1"]["beta_regularizer"] == l1l2
    assert layers["dense_1"]["kernel_regularizer"]["config"]["l2"] == F32_1E2  # frozen: kept


@pytest.mark.parametrize(
    ("value", "names"),
    [
        (np.array([b"a/kernel:0", b"a/bias:0"]), ["a/kernel:0", "a/bias:0"]),  # Keras 2
        (["a/kernel", "a/bias"], ["a/kernel", "a/bias"]),  # variable-length str (h5py 3)
        (np.array([b"x"], dtype=h5py.string_dtype("ascii")), ["x"]),  # variable-length bytes
        (np.array([[b"a", b"b"]]), ["a", "b"]),
        ("one", ["one"]),
        (np.bytes_(b"one"), ["one"]),
        (np.array([b"\xff\xfe ok"]), ["\ufffd\ufffd ok"]),  # not UTF-8
        (np.array([], dtype="S"), []),
        (np.array([]), []),  # how h5py stores a layer's empty list
        (np.arange(3), ["0", "1", "2"]),  # not text: as h5py reads it, then str()
        (h5py.Empty("f"), []),
    ],
    ids=lambda v: None if isinstance(v, list) else type(v).__name__,
)
def test_weight_names_attributes_of_every_kind_read_as_h5py_reads_them(tmp_path, value, names):
    """Text attributes are read with low-level calls, the rest through h5py: either way a
    `weight_names` attribute gives the names h5py's own reading gives."""
    from auditor.limits import Limits
    from auditor.loaders.legacy_h5 import read_attr_list

    path = tmp_path / "attrs.h5"
    with h5py.File(path, "w") as f:
        f.create_group("layer").attrs["weight_names"] = value
    with h5py.File(path, "r") as f:
        group = h5py.h5o.open(f.id, b"layer")
        assert read_attr_list(group, "weight_names", Limits()) == names


def _string_attributes() -> dict[str, object]:
    """String attributes of every kind h5py writes: fixed length of several sizes, variable
    length, ASCII and UTF-8, scalars and arrays."""
    return {
        "fixed5": np.bytes_(b"abcde"),
        "fixed2": np.array([b"xy", b"zw"]),
        "fixed9": np.array([[b"123456789"]]),
        "fixed_utf8": np.array("é".encode(), dtype=h5py.string_dtype("utf-8", 2)),
        "vlen_utf8": "héllo",
        "vlen_ascii": np.array([b"x", b"yz"], dtype=h5py.string_dtype("ascii")),
        "vlen_utf8_array": ["a/kernel", "a/bias"],
    }


def _texts(values: np.ndarray) -> list[str | None]:
    from auditor.loaders.safe_hdf5 import text_value

    return [text_value(v) for v in values.reshape(-1).tolist()]


@pytest.mark.parametrize("cached_kinds", [64, 1, 0])
def test_string_attributes_of_mixed_kinds_read_as_h5py_reads_them(
    tmp_path, monkeypatch, cached_kinds
):
    """The memory types are kept per kind (variable or fixed length, character set, size):
    reading kinds in turn, twice over, never reads one with another's type, and a file
    with more kinds than the cache holds reads the same."""
    from auditor.loaders import safe_hdf5

    monkeypatch.setattr(safe_hdf5, "_STRING_TYPES", {})
    monkeypatch.setattr(safe_hdf5, "_MAX_STRING_TYPES", cached_kinds)
    attributes = _string_attributes()
    path = tmp_path / "strings.h5"
    with h5py.File(path, "w") as f:
        f.attrs.update(attributes)
    with h5py.File(path, "r") as f:
        for key in [*attributes, *reversed(attributes)]:
            value = safe_hdf5.string_values(h5py.h5a.open(f.id, key.encode()))
            assert value is not None, key
            expected = np.asarray(f.attrs[key])
            assert value.shape == expected.shape, key
            assert _texts(value) == _texts(expected), key
    kinds = len(attributes) - 1  # the two variable-length UTF-8 attributes share one
    assert len(safe_hdf5._STRING_TYPES) == min(cached_kinds, kinds)


def test_findings_name_weights_as_the_file_stores_them(tmp_path):
    """Keras 2 stores `bidirectional_1/forward_gru_1/kernel:0`, where Keras 3 says
    `.../forward_gru_1/gru_cell/kernel`: messages and the location show the stored name
    (what `h5ls` shows), the details keep the Keras path the rules key on."""
    from examples.keras2_files import bidirectional_gru

    path = bidirectional_gru(tmp_path / "bidi.h5", "2.2.4")
    report = run([path], AuditConfig(select=["WD002", "REG009"]))
    wd002 = next(f for f in report.findings if f.code == "WD002")
    assert wd002.message.endswith(
        "Weights: `bidirectional_1/forward_gru_1/kernel:0`, "
        "`bidirectional_1/backward_gru_1/kernel:0`."
    )
    assert wd002.details["weights"] == [
        "model/bidirectional_1/forward_gru_1/gru_cell/kernel",
        "model/bidirectional_1/backward_gru_1/gru_cell/kernel",
    ]
    with open_model(path) as loaded:
        stored = {w.path: w.stored_name for w in loaded.graph.weights()}
    assert stored["model/dense_1/kernel"] == "dense_1/kernel:0"
    assert stored["model/bidirectional_1/backward_gru_1/gru_cell/bias"] == (
        "bidirectional_1/backward_gru_1/bias:0"
    )


def test_a_weight_finding_locates_the_stored_name(tmp_path):
    """A finding on one weight carries the stored name next to the Keras variable name;
    a `.keras` file, whose names are the Keras paths, carries none."""
    from examples.keras2_files import bidirectional_gru

    path = bidirectional_gru(tmp_path / "bidi.h5", "2.2.4", backward=float("nan"))
    findings = run([path], AuditConfig(select=["WGT003"])).findings
    assert [(f.location.weight, f.location.stored_name) for f in findings] == [
        ("kernel", "bidirectional_1/backward_gru_1/kernel:0"),
        ("recurrent_kernel", "bidirectional_1/backward_gru_1/recurrent_kernel:0"),
        ("bias", "bidirectional_1/backward_gru_1/bias:0"),
    ]
    assert findings[0].message.startswith("`bidirectional_1/backward_gru_1/kernel:0` holds")
    examples = Path(__file__).resolve().parents[1] / "examples" / "models"
    findings = run([examples / "bias_decay.keras"], AuditConfig(select=["REG006"])).findings
    assert [(f.location.weight, f.location.stored_name) for f in findings] == [
        ("bias", None),
        ("bias", None),
    ]
