"""Report models in a notebook: `_repr_html_` gives the same self-contained page the CLI
writes, in an iframe that keeps the notebook's styles and the report's apart (rendered in
headless Chromium inside a host page, as Jupyter inserts a cell's output), one model of a
report alone; `__repr__` gives the text report cut to a cell."""

from __future__ import annotations

from pathlib import Path

import pytest

import auditor
from auditor.notebook import TEXT_LINES, TEXT_WIDTH, display
from auditor.results.history import EpochRecord, Norms, TrackedWeight, TrainingHistory
from auditor.training.compare import compare

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "models"
HOSTILE = "<img src=x onerror=alert(1)>"
#: The host page: a notebook's own styles, then the cell's output, then more notebook.
HOST = """<!doctype html><html><head><meta charset="utf-8"><style>
body {{ font-family: serif; color: rgb(1, 2, 3) }} table {{ color: rgb(4, 5, 6) }}
</style></head><body><p id="before">before</p><div class="output">{cell}</div>
<table id="notebook"><tr><td>x</td></tr></table></body></html>"""


@pytest.fixture(scope="module")
def report():
    return auditor.audit([EXAMPLES / "dropout_cnn.keras", EXAMPLES / "bare_l2.h5"])


def _show(browser, tmp_path: Path, cell: str):
    page = tmp_path / "notebook.html"
    page.write_text(HOST.format(cell=cell), encoding="utf-8")
    browser.get(page.as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    # The report's styles stay in the frame, and nothing of it runs in the notebook.
    assert browser.execute_script(
        "return [getComputedStyle(document.getElementById('before')).color,"
        " getComputedStyle(document.getElementById('notebook')).color,"
        " document.querySelectorAll('img').length]"
    ) == ["rgb(1, 2, 3)", "rgb(4, 5, 6)", 0]
    browser.switch_to.frame(browser.find_element("css selector", "div.output iframe"))


def _count(browser, selector: str) -> int:
    return browser.execute_script(f"return document.querySelectorAll({selector!r}).length")


def test_a_report_draws_as_the_html_report(browser, report, tmp_path):
    _show(browser, tmp_path, report._repr_html_())
    try:
        assert _count(browser, "li.finding") == report.summary.findings == 9
        assert _count(browser, "section.model") == 2
        assert _count(browser, "tr.dropout") == 4
        assert _count(browser, "svg.chart") >= 1
    finally:
        browser.switch_to.default_content()


def test_one_model_of_a_report_draws_alone(browser, report, tmp_path):
    model = report.models[0]
    _show(browser, tmp_path, model._repr_html_())
    try:
        assert _count(browser, "section.model") == 1
        assert _count(browser, "li.finding") == len(model.findings) == 4
        assert "dropout_cnn.keras" in browser.find_element("css selector", "section.model").text
    finally:
        browser.switch_to.default_content()


def _history() -> TrainingHistory:
    weight = TrackedWeight(
        path="m/d/kernel", layer_path="m/d", role="kernel", group="kernel", shape=(3, 4)
    )
    epochs = [
        EpochRecord(
            epoch=e,
            step=e + 1,
            loss=1.0 / (e + 1) + 0.1,
            data_loss=1.0 / (e + 1),
            regularization_loss=0.1,
            norms={
                "m/d/kernel": Norms(norm=3.0 - e, channel_mean=1.0, channel_max=1.5, channels=4)
            },
        )
        for e in range(3)
    ]
    return TrainingHistory(model_name=HOSTILE, weights=[weight], epochs=epochs)


def test_a_history_and_a_comparison_draw_as_their_pages(browser, tmp_path):
    history = _history()
    _show(browser, tmp_path, history._repr_html_())
    try:
        assert HOSTILE in browser.find_element("css selector", "h1").text
        assert _count(browser, "img") == 0
        assert _count(browser, "#epochs tbody tr") == 3
    finally:
        browser.switch_to.default_content()
    comparison = compare(EXAMPLES / "clean.keras", EXAMPLES / "clean.h5")
    _show(browser, tmp_path, comparison._repr_html_())
    try:
        statuses = browser.execute_script(
            "return Array.from(document.querySelectorAll('tr.layer')).map(r => r.dataset.status)"
        )
        assert statuses and set(statuses) == {"unchanged"}
    finally:
        browser.switch_to.default_content()


def test_the_text_is_the_text_report_cut_to_a_cell(report):
    text = repr(report)
    assert text.splitlines()[0].startswith(str(EXAMPLES / "dropout_cnn.keras"))
    assert text.splitlines()[-1].startswith("Found 9 findings (0 errors, 7 warnings, 2 info)")
    assert repr(report.models[1]).splitlines()[0].startswith(str(EXAMPLES / "bare_l2.h5"))
    assert max(len(line) for line in text.splitlines()) == TEXT_WIDTH
    assert text.splitlines()[2].endswith("…")  # a finding's message, cut
    everything = auditor.audit(EXAMPLES)
    lines = repr(everything).splitlines()
    assert len(lines) == TEXT_LINES
    assert lines[-1].endswith("more lines") and lines[-1].startswith("... ")
    history = repr(_history()).splitlines()
    assert HOSTILE in history[0] and len(history) <= TEXT_LINES


def test_anything_else_is_refused():
    with pytest.raises(TypeError, match="Received: dict"):
        display({}, "html")
    with pytest.raises(ValueError, match="Received: 'svg'"):
        display(_history(), "svg")
