"""`audit history`: reading a history file as hostile input, and the three renderings
(the HTML in a real Chromium), from a history built by hand."""

from __future__ import annotations

import json

import pytest

from auditor.cli import main
from auditor.reports.history import render
from auditor.results.history import (
    EpochRecord,
    Norms,
    OptimizerState,
    TrackedWeight,
    TrainingHistory,
    group_series,
)
from auditor.training.history import write_history

HOSTILE = "<img src=x onerror=alert(1)>"


def norms(value: float) -> Norms:
    return Norms(norm=value, channel_mean=value / 2, channel_max=value, channels=4)


@pytest.fixture
def history() -> TrainingHistory:
    weights = [
        TrackedWeight(
            path="m/d/kernel",
            layer_path="m/d",
            role="kernel",
            group="kernel",
            shape=(3, 4),
            regularizer="L2(0.01)",
            decayed=True,
        ),
        TrackedWeight(path="m/d/bias", layer_path="m/d", role="bias", group="bias", shape=(4,)),
        TrackedWeight(
            path="m/bn/gamma",
            layer_path="m/bn",
            role="gamma",
            group="normalization",
            shape=(4,),
            decayed=True,
        ),
    ]
    epochs = [
        EpochRecord(
            epoch=e,
            step=4 * (e + 1),
            loss=1.0 / (e + 1) + 0.1,
            data_loss=1.0 / (e + 1),
            regularization_loss=0.1,
            penalty_share=0.1 * (e + 1),
            optimizer=OptimizerState(
                class_name="AdamW",
                learning_rate=0.01,
                weight_decay=0.1,
                decay_shrink=0.999**4,
                steps=4,
            ),
            norms={
                "m/d/kernel": norms(4.0 - e),
                "m/d/bias": norms(0.1 * (e + 1)),
                "m/bn/gamma": norms(2.0),
            },
        )
        for e in range(3)
    ]
    return TrainingHistory(
        model_name=HOSTILE,
        optimizer="AdamW",
        weights=weights,
        epochs=epochs,
        warnings=["penalty high"],
    )


def test_group_series_combine_the_members(history):
    series = {g.group: g for g in group_series(history)}
    assert list(series) == ["kernel", "bias", "normalization"]
    assert series["kernel"].norm == [4.0, 3.0, 2.0]
    assert (series["kernel"].weights, series["kernel"].regularized, series["kernel"].decayed) == (
        1,
        1,
        1,
    )
    assert series["bias"].channel_mean == pytest.approx([0.05, 0.1, 0.15])


def test_text(history):
    text = render(history, "text")
    assert "kernel (1 weights, 1 regularized, 1 decayed): norm 4 -> 2 (-50.0%)" in text
    assert "shrank each decayed weight by 1.193% over 12 steps" in text
    assert "warning: penalty high" in text


def test_json_holds_history_and_groups(history):
    document = json.loads(render(history, "json"))
    assert TrainingHistory.model_validate(document["history"]) == history
    assert [g["group"] for g in document["groups"]] == ["kernel", "bias", "normalization"]


def test_html_in_chromium(browser, history, tmp_path):
    page = tmp_path / "history.html"
    page.write_text(render(history, "html"), encoding="utf-8")
    browser.get(page.as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert browser.execute_script("return document.querySelectorAll('img').length") == 0
    assert HOSTILE in browser.find_element("css selector", "h1").text
    captions = [e.text for e in browser.find_elements("css selector", "figure.chart figcaption")]
    assert captions == [
        "Data loss and regularization penalty",
        "Weight norm by group (log scale)",
        "Mean output-channel norm by group (log scale)",
    ]
    series = browser.execute_script(
        "return Array.from(document.querySelectorAll('figure.chart')[1].querySelectorAll('polyline'))"
        ".map(p => p.dataset.series)"
    )
    assert series == ["kernel", "bias", "normalization"]
    rows = browser.execute_script("return document.querySelectorAll('#epochs tbody tr').length")
    assert rows == 3


def test_cli_writes_each_format(history, tmp_path, capsys):
    path = tmp_path / "history.json"
    write_history(history, path)
    for fmt in ("text", "json", "html"):
        out = tmp_path / f"out.{fmt}"
        assert main(["history", str(path), "--format", fmt, "-o", str(out)]) == 0
        assert out.read_text(encoding="utf-8") == render(history, fmt)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"kind": "something-else"}', "is not a keras-audit history file"),
        (
            b'{"kind": "keras-audit-history", "model_name": "m", "epochs": [{"epoch": -1}]}',
            "malformed at epochs.0",
        ),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_bad_history_files_are_one_line_exit_2(tmp_path, capsys, content, words):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(SystemExit) as exit_info:
        main(["history", str(path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("audit: error: ") and words in err and err.count("\n") == 1


def test_missing_history_file(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["history", str(tmp_path / "nope.json")])
    assert "cannot read history file" in capsys.readouterr().err


def test_a_history_at_a_url_reads_as_the_file(history, tmp_path, capsys):
    """Over HTTP with Range support on 127.0.0.1: the same rendering; a missing object is
    one line naming the URL with its query redacted."""
    pytest.importorskip("fsspec", reason="the [test] extra installs the [remote] extra")
    from tests.servers import http_server

    write_history(history, tmp_path / "history.json")
    with http_server(tmp_path) as server:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        out = tmp_path / "out.text"
        assert main(["history", f"{base}/history.json", "-o", str(out)]) == 0
        assert out.read_text(encoding="utf-8") == render(history, "text")
        with pytest.raises(SystemExit) as exit_info:
            main(["history", f"{base}/missing.json?token=s3cr3t"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        f"audit: error: cannot read history file '{base}/missing.json?token=***': "
        f"no such object: {base}/missing.json?token=***\n"
    )
