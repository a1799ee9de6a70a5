"""`audit history RUN1 RUN2 ...` overlays runs: the text compares each run's data loss,
penalty and group norms epoch by epoch, the JSON holds each history with its label, the
HTML (in headless Chromium) draws every run on the same axes, and a notebook draws the
runs alike. Labels come from the file names, as short as tells them apart."""

from __future__ import annotations

import json

import pytest

from auditor.cli.history import history_command, run_labels
from auditor.results.history import (
    EpochRecord,
    Norms,
    OptimizerState,
    TrackedWeight,
    TrainingHistory,
    TrainingRun,
    TrainingRuns,
)
from auditor.training.history import write_history

HOSTILE = "<img src=x onerror=alert(1)>"


def _run(penalty: float, shrink: float | None, kernel: list[float], name: str) -> TrainingHistory:
    weights = [
        TrackedWeight(path="d/kernel", layer_path="d", role="kernel", group="kernel", shape=(3, 4)),
        TrackedWeight(path="d/bias", layer_path="d", role="bias", group="bias", shape=(4,)),
    ]
    epochs = [
        EpochRecord(
            epoch=e,
            step=4 * (e + 1),
            loss=1.0 / (e + 1) + penalty,
            data_loss=1.0 / (e + 1),
            regularization_loss=penalty,
            val_loss=1.5 / (e + 1) + penalty,
            val_data_loss=1.5 / (e + 1),
            val_regularization_loss=penalty,
            optimizer=OptimizerState(
                class_name="AdamW" if shrink else "Adam",
                learning_rate=0.01,
                weight_decay=0.01 if shrink else None,
                decay_shrink=shrink or 1.0,
                steps=4,
            ),
            norms={
                "d/kernel": Norms(norm=norm, channel_mean=norm / 2, channel_max=norm, channels=4),
                "d/bias": Norms(norm=0.1, channel_mean=0.1, channel_max=0.1, channels=1),
            },
        )
        for e, norm in enumerate(kernel)
    ]
    return TrainingHistory(
        model_name=name, optimizer=epochs[0].optimizer.class_name, weights=weights, epochs=epochs
    )


@pytest.fixture
def files(tmp_path):
    runs = {
        "none": _run(0.0, None, [4.0, 4.5, 5.0], "mlp"),
        "decay": _run(0.0, 0.9996, [4.0, 3.6, 3.2], HOSTILE),
    }
    paths = []
    for label, history in runs.items():
        path = tmp_path / label / "history.json"
        path.parent.mkdir()
        write_history(history, path)
        paths.append(str(path))
    return paths


def test_the_text_overlays_the_runs(files, capsys):
    assert history_command(files) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 training runs\n")
    lines = out.splitlines()
    expected = ["none/history", "'mlp'", "Adam", "3", "1", "->", "0.3333", "(-66.7%)"]
    assert lines[3].split() == [*expected, "0", "0.5"]
    data = lines.index("Data loss by epoch:")
    assert lines[data + 1].split() == ["epoch", "none/history", "decay/history"]
    assert lines[data + 2].split() == ["0", "1", "1"]
    assert lines[data + 4].split() == ["2", "0.3333", "0.3333"]
    norms = lines.index("Weight norm by group (first epoch -> last epoch):")
    assert lines[norms + 2].split() == [
        "kernel", "4", "->", "5", "(+25.0%)", "4", "->", "3.2", "(-20.0%)"
    ]  # fmt: skip
    assert "  none/history: none" in lines
    assert any(line.startswith("  decay/history: (AdamW, weight_decay=0.01)") for line in lines)
    assert "<img" in out and "\x1b" not in out  # the hostile name is text, and inert


def test_the_json_holds_each_history_with_its_label(files, capsys):
    assert history_command([*files, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["kind"] == "keras-audit-history-runs"
    assert [run["label"] for run in document["runs"]] == ["none/history", "decay/history"]
    assert document["runs"][1]["groups"][0]["norm"] == [4.0, 3.6, 3.2]


def test_the_html_draws_every_run_on_the_same_axes(browser, files, tmp_path):
    page = tmp_path / "runs.html"
    assert history_command([*files, "--format", "html", "-o", str(page)]) == 0
    browser.get(page.as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert browser.execute_script("return document.querySelectorAll('img').length") == 0
    captions = [e.text for e in browser.find_elements("css selector", "figure.chart figcaption")]
    assert captions == [
        "Data loss by run",
        "Regularization penalty by run",
        "Validation data loss by run",
        "Weight norm: kernel (log scale)",
        "Weight norm: bias (log scale)",
    ]
    series = browser.execute_script(
        "return Array.from(document.querySelectorAll('figure.chart')).map("
        "f => Array.from(f.querySelectorAll('polyline')).map(p => p.dataset.series))"
    )
    assert series[0] == series[3] == ["none/history", "decay/history"]
    assert series[1] == series[2] == series[4] == ["none/history", "decay/history"]
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('tr.run')).map(r => r.dataset.run)"
    )
    assert rows == ["none/history", "decay/history"]
    assert HOSTILE in browser.find_element("css selector", "#runs").text


def test_a_notebook_draws_the_runs(files):
    runs = TrainingRuns(
        runs=[
            TrainingRun(label="a", history=_run(0.1, None, [1.0, 2.0], "m")),
            TrainingRun(label="b", history=_run(0.2, 0.99, [1.0, 0.5], "m")),
        ]
    )
    assert runs._repr_html_().startswith("<iframe srcdoc=")
    assert repr(runs).startswith("2 training runs")


def test_labels_are_as_short_as_tells_the_files_apart():
    assert run_labels(["l2.json", "none.json"]) == ["l2", "none"]
    assert run_labels(["a/l2/h.json", "b/none/h.json"]) == ["l2/h", "none/h"]
    assert run_labels(["x/h.json", "x/h.json"]) == ["x/h #1", "x/h #2"]
