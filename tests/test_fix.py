"""Fixing regularization: on live models (`auditor.fix`) and in files (`audit fix`)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest

import auditor
from auditor.cli import main
from auditor.engine.config import AuditConfig
from auditor.fix import DEFAULT_EXCLUDE, apply_regularization, remove_regularization
from auditor.loaders.live import load_live
from tests.conftest import FORMATS, build_complex_model
from tests.harness import findings_of

pytestmark = pytest.mark.backends


def _values(model):
    return [v.numpy() for v in model.weights]


def _assert_same_values(before, model):
    after = _values(model)
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        assert old.dtype == new.dtype and old.tobytes() == new.tobytes()


def _regularized(model):
    return [v for v in model.trainable_weights if v.regularizer is not None]


@pytest.fixture(scope="module")
def mobilenet(keras):
    return keras.applications.MobileNet(weights=None)


def test_mobilenet_post_hoc_loop_then_the_right_way(keras, mobilenet):
    model = mobilenet
    before = _values(model)
    posthoc = []
    for layer in model.layers:  # the loop from keras#8413 / tensorflow#33635
        if hasattr(layer, "kernel_regularizer"):
            layer.kernel_regularizer = keras.regularizers.L2(1e-4)
            posthoc.append(layer.name)
    assert len(posthoc) == 15 and model.losses == []
    reported = {f.location.layer_path for f in findings_of(model, "REG001")}
    assert reported == set(posthoc)

    result = apply_regularization(model, l2=1e-4)

    assert findings_of(model, "REG001") == []
    assert len(model.losses) == len(_regularized(model)) == 15  # 1x1 and full convs only
    _assert_same_values(before, model)
    assert {c.layer_path for c in result.changes if c.weights} == set(posthoc)
    assert result.retraced == ()


def test_loop_over_depthwise_layers_is_misplaced(keras):
    model = keras.applications.MobileNet(weights=None, input_shape=(64, 64, 3), alpha=0.25)
    depthwise = [layer for layer in model.layers if "DepthwiseConv2D" in type(layer).__name__]
    for layer in depthwise:
        layer.kernel_regularizer = keras.regularizers.L2(1e-4)
    found = findings_of(model, "REG011")
    assert {f.location.layer_path for f in found} == {layer.name for layer in depthwise}
    assert model.losses == []


# Keras warns when it reloads any compiled model whose optimizer never stepped (the file
# holds its 2 variables, the rebuilt one has one per weight): Keras's own behaviour.
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer:UserWarning")
def test_complex_model_every_kind_of_layer(keras, tmp_path):
    model = build_complex_model(keras)
    before = _values(model)
    result = apply_regularization(model, l2=2e-4, exclude=())
    live = load_live(model).graph
    governed = [w for w in live.weights() if w.regularizer_key]
    for weight in governed:
        if weight.trainable:
            assert weight.regularizer.describe() == "L2(0.0002)", weight.path
            assert weight.active_regularizer == weight.regularizer, weight.path
    trainable = [w for w in governed if w.trainable]
    assert len(model.losses) == len(trainable) == len(_regularized(model))
    for path in (
        "mha/query/kernel",
        "bidi/backward_lstm/lstm_cell/recurrent_kernel",
        "gru/gru_cell/bias",
        "subseq/inner_bn/gamma",
        "emb/embeddings",
        "prelu/alpha",
    ):
        assert path in {w.path for w in trainable}
    skipped = {(s.layer_path, s.setting) for s in result.skipped}
    assert ("frozen/frozen_dense", "kernel_regularizer") in skipped
    assert ("frozen_conv", "kernel_regularizer") in skipped
    _assert_same_values(before, model)
    path = tmp_path / "complex.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert len(reloaded.losses) == len(model.losses)
    assert float(sum(reloaded.losses)) == pytest.approx(float(sum(model.losses)), rel=1e-5)


def test_default_exclusions(keras):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.DepthwiseConv2D(3, name="dw")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Conv2D(2, 1, name="pw")(x)
    model = keras.Model(inputs, x)
    assert DEFAULT_EXCLUDE == ("depthwise", "normalization", "bias", "embeddings")
    apply_regularization(model, l2=1e-4)
    assert [v.path for v in _regularized(model)] == ["pw/kernel"]


def test_a_traced_model_keeps_training_with_the_new_penalty(keras):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, name="dense")(inputs))
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((8, 4), "float32"), np.zeros((8, 3), "float32")
    model.fit(x, y, epochs=1, verbose=0)
    data_loss = model.evaluate(x, y, verbose=0)
    result = apply_regularization(model, l2=10.0)
    assert result.retraced == ("train_function", "test_function")
    penalty = 10.0 * float(np.sum(np.square(model.get_layer("dense").kernel.numpy())))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(data_loss + penalty, rel=1e-4)
    history = model.fit(x, y, epochs=1, verbose=0)
    assert history.history["loss"][0] > data_loss


def test_remove_regularization(keras):
    model = build_complex_model(keras)
    before = _values(model)
    result = remove_regularization(model)
    assert model.losses == []
    assert result.changes and all(c.after is None for c in result.changes)
    assert not any(w.regularizer for w in load_live(model).graph.weights())
    _assert_same_values(before, model)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"l2": -1.0}, r"expected a finite coefficient >= 0\. Received: l2=-1\.0"),
        ({"l2": 0.0}, r"use remove_regularization\(\)"),
        ({"l2": 1e-4, "exclude": ["norms"]}, r"unknown weight category 'norms'"),
    ],
)
def test_bad_arguments(keras, kwargs, message):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    with pytest.raises(ValueError, match=message):
        apply_regularization(model, **kwargs)


# --- audit fix: files ---------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(keras, save_model):
    L = keras.layers
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 3, kernel_regularizer="l2", name="conv")(inputs)
    x = L.DepthwiseConv2D(3, depthwise_regularizer="l2", name="dw")(x)
    x = L.BatchNormalization(gamma_regularizer="l2", name="bn")(x)
    x = L.Flatten(name="flat")(x)
    x = L.Dense(3, name="head")(x)
    model = keras.Model(inputs, x)
    model.compile(optimizer="adam", loss="mse")
    return model, save_model(model, "fix_source")


def cli(*args):
    """`audit` in-process: its exit code (usage errors exit through SystemExit)."""
    try:
        return main([str(a) for a in args])
    except SystemExit as exc:
        return exc.code


def _datasets(path):
    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: (
                found.__setitem__(name, obj[()].tobytes())
                if isinstance(obj, h5py.Dataset)
                else None
            )
        )
    return found


@pytest.mark.parametrize("fmt", FORMATS)
def test_fix_file_rewrites_only_the_config(keras, saved, tmp_path, capsys, fmt):
    model, paths = saved
    out = tmp_path / f"fixed.{fmt}"
    code = cli("fix", paths[fmt], "-o", out, "--l2", "1e-4")
    stdout = capsys.readouterr().out
    assert code == 1  # the output still uses Adam with L2 (WD002 remains)
    assert "2 setting(s) changed, 0 left alone" in stdout
    assert "conv: kernel_regularizer L2(0.01) -> L2(0.0001)" in stdout
    assert "head: kernel_regularizer None -> L2(0.0001)" in stdout
    assert "dw: depthwise_regularizer" not in stdout  # excluded by default, left as it was
    if fmt == "keras":
        with zipfile.ZipFile(paths[fmt]) as a, zipfile.ZipFile(out) as b:
            assert a.namelist() == b.namelist()
            for name in a.namelist():
                if name != "config.json":
                    assert a.read(name) == b.read(name), name
    else:
        assert _datasets(out) == _datasets(paths[fmt])
    # compile=False: Keras 3.15 cannot reload the "mse" loss of its own legacy .h5 files
    # ("Could not deserialize 'keras.metrics.mse'"), fixed or not.
    reloaded = keras.saving.load_model(out, compile=False)
    regularized = {v.path: v.regularizer for v in reloaded.trainable_weights if v.regularizer}
    assert set(regularized) == {"conv/kernel", "dw/kernel", "bn/gamma", "head/kernel"}
    assert regularized["conv/kernel"].l2 == pytest.approx(1e-4)
    assert len(reloaded.losses) == 4
    _assert_same_values(_values(model), reloaded)


@pytest.mark.parametrize("fmt", FORMATS)
def test_fix_file_remove_and_idempotence(keras, saved, tmp_path, capsys, fmt):
    _, paths = saved
    out = tmp_path / f"bare.{fmt}"
    cli("fix", paths[fmt], "-o", out, "--remove")
    assert "3 setting(s) changed" in capsys.readouterr().out
    assert keras.saving.load_model(out, compile=False).losses == []
    cli("fix", str(out), "--in-place", "--remove")
    assert "0 setting(s) changed" in capsys.readouterr().out


def test_fix_file_refuses_to_overwrite_its_input(saved, capsys):
    _, paths = saved
    source = str(paths["keras"])
    assert cli("fix", source, "-o", source, "--l2", "1e-4") == 2
    assert "refusing to overwrite the input; use --in-place" in capsys.readouterr().err
    assert cli("fix", source, "--l2", "1e-4") == 2
    assert cli("fix", source, "-o", "x.keras") == 2
    assert "give --l2 and/or --l1" in capsys.readouterr().err
    assert cli("fix", source, "-o", "x.keras", "--l2", "1e-4", "--exclude", "norms") == 2
    assert "unknown weight category 'norms'" in capsys.readouterr().err


def test_fix_file_refuses_an_unreadable_file(tmp_path, capsys):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    assert cli("fix", str(bad), "-o", str(tmp_path / "out.keras"), "--l2", "1e-4") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"audit fix: error: cannot fix {bad}:") and err.count("\n") == 1
    assert not (tmp_path / "out.keras").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.keras"]  # no temporary left behind


def test_fix_file_imports_no_tensorflow(saved, tmp_path):
    _, paths = saved
    code = (
        "import sys; from auditor.cli import main; "
        f"rc = main(['fix', {str(paths['h5'])!r}, '-o', {str(tmp_path / 'o.h5')!r}, "
        "'--l2', '1e-4']); "
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
        "sys.exit(3 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_fix_file_output_audits_clean_of_what_it_fixed(saved, tmp_path):
    _, paths = saved
    out = tmp_path / "fixed.keras"
    cli("fix", paths["keras"], "-o", out, "--l2", "1e-4", "--exclude", "")
    report = auditor.audit(out, AuditConfig(select=["REG003", "REG009"]))
    assert report.findings == []
    with zipfile.ZipFile(out) as z:
        layers = json.loads(z.read("config.json"))["config"]["layers"]
    dw = next(layer for layer in layers if layer["config"]["name"] == "dw")
    assert dw["config"]["depthwise_regularizer"]["config"] == {"l2": 1e-4}
