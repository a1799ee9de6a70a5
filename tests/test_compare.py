"""`audit compare A B`: reset, unchanged (frozen / never trained), changed, added and
reshaped layers, in both file formats, from the library and the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from auditor.cli import main
from auditor.training.compare import compare
from tests.conftest import FORMATS

LAYERS = ("conv", "bn", "dw", "backbone_dense", "head")


def build(keras, head_units: int = 3, extra: bool = False):
    L = keras.layers
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(6, 3, name="conv")(inputs)
    x = L.BatchNormalization(name="bn")(x)
    x = L.DepthwiseConv2D(3, name="dw")(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    x = L.Dense(8, activation="relu", name="backbone_dense")(x)
    if extra:
        x = L.Dense(8, name="extra")(x)
    return keras.Model(inputs, L.Dense(head_units, name="head")(x), name="net")


def fit(keras, model, epochs: int = 2) -> None:
    rng = np.random.default_rng(0)
    model.compile(keras.optimizers.Adam(0.01), "mse")
    x = rng.normal(size=(32, 8, 8, 3)).astype("f4")
    y = rng.normal(size=(32, model.output_shape[-1])).astype("f4")
    model.fit(x, y, epochs=epochs, batch_size=8, verbose=0)


@pytest.fixture(scope="module")
def checkpoints(keras, save_model):
    keras.utils.set_random_seed(7)
    trained = build(keras)
    fit(keras, trained)
    reloaded = keras.Model.from_config(trained.get_config())  # the classic mistake
    restored = keras.Model.from_config(trained.get_config())
    restored.set_weights(trained.get_weights())
    finetuned = keras.Model.from_config(trained.get_config())
    finetuned.set_weights(trained.get_weights())
    for name in LAYERS[:-1]:
        finetuned.get_layer(name).trainable = False
    fit(keras, finetuned, epochs=1)
    return {
        "trained": save_model(trained, "cmp_trained"),
        "reloaded": save_model(reloaded, "cmp_reloaded"),
        "restored": save_model(restored, "cmp_restored"),
        "finetuned": save_model(finetuned, "cmp_finetuned"),
        "wider": save_model(build(keras, head_units=4), "cmp_wider"),
        "deeper": save_model(build(keras, extra=True), "cmp_deeper"),
    }


def statuses(a, b) -> dict[str, tuple[str, str]]:
    return {layer.path: (layer.status, layer.note) for layer in compare(a, b).layers}


@pytest.mark.parametrize("fmt", FORMATS)
def test_config_reloaded_copy_flags_every_layer_as_reset(checkpoints, fmt):
    found = statuses(checkpoints["trained"][fmt], checkpoints["reloaded"][fmt])
    assert found == {name: ("reset", "at its initialization in B") for name in LAYERS}


@pytest.mark.parametrize("fmt", FORMATS)
def test_restored_copy_is_unchanged(checkpoints, fmt):
    comparison = compare(checkpoints["trained"][fmt], checkpoints["restored"][fmt])
    assert {layer.path: layer.status for layer in comparison.layers} == dict.fromkeys(
        LAYERS, "unchanged"
    )
    assert comparison.summary.changed_values == 0
    for layer in comparison.layers:
        assert layer.norm_a == layer.norm_b and layer.distance == 0.0


@pytest.mark.parametrize("fmt", FORMATS)
def test_finetuning_changes_the_head_and_leaves_the_frozen_backbone(checkpoints, fmt):
    comparison = compare(checkpoints["trained"][fmt], checkpoints["finetuned"][fmt])
    found = {layer.path: (layer.status, layer.note) for layer in comparison.layers}
    assert found == {
        "conv": ("unchanged", "frozen"),
        "bn": ("unchanged", "frozen"),
        "dw": ("unchanged", "frozen"),
        "backbone_dense": ("unchanged", "frozen"),
        "head": ("changed", ""),
    }
    (head,) = [layer for layer in comparison.layers if layer.path == "head"]
    assert head.changed_share > 0.5 and 0 < head.distance < 1


def test_norms_and_distance_match_numpy(keras, checkpoints):
    trained = keras.saving.load_model(checkpoints["trained"]["keras"])
    reloaded = keras.saving.load_model(checkpoints["reloaded"]["keras"])
    a = [w.numpy().astype(np.float64) for w in trained.get_layer("head").weights]
    b = [w.numpy().astype(np.float64) for w in reloaded.get_layer("head").weights]
    (head,) = [
        layer
        for layer in compare(
            checkpoints["trained"]["keras"], checkpoints["reloaded"]["keras"]
        ).layers
        if layer.path == "head"
    ]
    norm_a = np.sqrt(sum((w**2).sum() for w in a))
    norm_b = np.sqrt(sum((w**2).sum() for w in b))
    assert head.norm_a == pytest.approx(norm_a, rel=1e-12)
    assert head.norm_b == pytest.approx(norm_b, rel=1e-12)
    distance = np.sqrt(sum(((x - y) ** 2).sum() for x, y in zip(a, b, strict=True))) / norm_a
    assert head.distance == pytest.approx(distance, rel=1e-12)
    assert head.max_abs_diff == pytest.approx(
        max(np.abs(x - y).max() for x, y in zip(a, b, strict=True))
    )


def test_architecture_changes(checkpoints):
    wider = statuses(checkpoints["trained"]["keras"], checkpoints["wider"]["keras"])
    assert wider["head"] == ("reshaped", "weights or shapes differ")
    deeper = statuses(checkpoints["trained"]["keras"], checkpoints["deeper"]["keras"])
    assert deeper["extra"] == ("added", "only in B")
    removed = statuses(checkpoints["deeper"]["keras"], checkpoints["trained"]["keras"])
    assert removed["extra"] == ("removed", "only in A")


def test_cli_formats_and_fail_on_reset(checkpoints, capsys):
    a, b = checkpoints["trained"]["keras"], checkpoints["reloaded"]["h5"]
    assert main(["compare", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    assert "5 layers with weights: 5 reset; " in text
    assert "5 layer(s) of B are back at their initialization" in text
    assert main(["compare", str(a), str(b), "--fail-on-reset", "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["kind"] == "keras-audit-compare" and document["summary"]["reset"] == 5
    assert main(["compare", str(a), str(checkpoints["restored"]["h5"]), "--fail-on-reset"]) == 0


def test_unreadable_checkpoint_is_one_line_exit_2(checkpoints, tmp_path, capsys):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    assert main(["compare", str(checkpoints["trained"]["keras"]), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("audit compare: error: checkpoint B cannot be read: ")
    assert err.count("\n") == 1 and str(bad) in err


def test_compare_and_history_never_import_keras(checkpoints, tmp_path):
    from auditor.results.history import TrainingHistory
    from auditor.training.history import write_history

    history = tmp_path / "h.json"
    write_history(TrainingHistory(model_name="m"), history)
    a, b = checkpoints["trained"]["keras"], checkpoints["reloaded"]["h5"]
    code = (
        "import sys; from auditor.cli import main; "
        f"assert main(['compare', {str(a)!r}, {str(b)!r}, '--format', 'html', '-o', {str(tmp_path / 'c.html')!r}]) == 0; "
        f"assert main(['history', {str(history)!r}, '--format', 'html', '-o', {str(tmp_path / 'h.html')!r}]) == 0; "
        "leaked = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
        "assert not leaked, leaked"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_html_in_chromium(browser, checkpoints, tmp_path):
    from auditor.reports.compare import render

    page = tmp_path / "compare.html"
    comparison = compare(checkpoints["trained"]["keras"], checkpoints["finetuned"]["h5"])
    page.write_text(render(comparison, "html"), encoding="utf-8")
    browser.get(page.as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('tr.layer'))"
        ".map(r => [r.cells[0].textContent, r.dataset.status])"
    )
    assert rows == [[name, "changed" if name == "head" else "unchanged"] for name in LAYERS]
    assert "1 changed" in browser.find_element("css selector", "dl.meta").text


def test_hostile_layer_names_compare_in_every_format(tmp_path, capsys):
    """A lone surrogate and control characters in a layer name (valid JSON) came out of
    `audit compare` as a traceback; they are shown as escapes."""
    from tests.hostile_corpus import CLEAN_KERAS, rename_layer

    hostile = "head\udc80\x1b[2J"
    a = rename_layer(CLEAN_KERAS, tmp_path / "a.keras", "head", hostile)
    b = rename_layer(CLEAN_KERAS, tmp_path / "b.keras", "head", hostile)
    for fmt in ("text", "json", "html"):
        assert main(["compare", str(a), str(b), "--format", fmt]) == 0
        out = capsys.readouterr().out
        assert "\\udc80" in out and "\x1b" not in out, fmt
