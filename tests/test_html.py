"""The HTML report in a real headless Chromium (Debian `chromium` + `chromium-driver`,
installed by .ci/run): it loads without console errors, shows every finding, has a
coverage row per weight and per dropout layer and its charts, lists the rules found and filters by rule and
layer (also from a deep link), keeps hostile layer names as text, and stays small. The
screenshot is written to `test-artifacts/`."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.cli.common import rule_infos
from auditor.engine.config import AuditConfig
from auditor.engine.runner import run, run_live
from auditor.reports import RENDERERS, RenderOptions

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
EXAMPLES = ROOT / "examples" / "models"
HOSTILE = "<img src=x onerror=alert(1)>"


def _html(report) -> str:
    return RENDERERS["html"](report, options=RenderOptions(rules=rule_infos()))


@pytest.fixture(scope="module")
def examples_report():
    return run([EXAMPLES], AuditConfig())


@pytest.fixture(scope="module")
def page(browser, examples_report, tmp_path_factory):
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(_html(examples_report), encoding="utf-8")
    browser.get(path.as_uri())
    return browser, examples_report, path


def _visible(driver, selector):
    return driver.execute_script(
        f"return Array.from(document.querySelectorAll({selector!r}))"
        ".filter(e => !e.hidden && e.offsetParent !== null).length"
    )


def test_loads_without_console_errors_and_shows_everything(page):
    driver, report, _ = page
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    assert _visible(driver, "li.finding") == report.summary.findings
    assert driver.find_element("id", "shown-count").text == str(report.summary.findings)
    weights = sum(len(layer.weights) for m in report.models for layer in m.inventory)
    assert len(driver.find_elements("css selector", "tr.weight")) == weights
    dropout = sum(layer.dropout is not None for m in report.models for layer in m.inventory)
    rows = driver.find_elements("css selector", "tr.dropout")
    assert dropout and len(rows) == dropout
    texts = {row.get_attribute("data-layer"): row.text for row in rows}
    assert texts["dense_drop"].endswith("rate 0.3 after dense, before BatchNormalization bn")
    assert "rate 0.5, active at inference after hidden" in texts["mc_drop"]
    models_with_kernels = sum(
        any(w.stats and w.role == "kernel" for layer in m.inventory for w in layer.weights)
        for m in report.models
    )
    assert len(driver.find_elements("css selector", "svg.chart")) == models_with_kernels
    assert len(driver.find_elements("css selector", "svg.spark")) > weights
    ARTIFACTS.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(ARTIFACTS / "html-report.png"))


def test_filters_by_rule_and_layer(page):
    from selenium.webdriver.support.ui import Select

    driver, report, _ = page
    listed = [o.text for o in Select(driver.find_element("id", "rule-filter")).options]
    found = sorted({(f.code, f.name) for f in report.findings})
    assert listed == ["all rules", *(f"{code} {name}" for code, name in found)]
    Select(driver.find_element("id", "rule-filter")).select_by_value("REG004")
    expected = sum(f.code == "REG004" for f in report.findings)
    assert _visible(driver, "li.finding") == expected
    assert driver.find_element("id", "shown-count").text == str(expected)
    assert driver.execute_script("return location.hash") == "#rule=REG004"
    Select(driver.find_element("id", "rule-filter")).select_by_value("")
    box = driver.find_element("id", "layer-filter")
    box.send_keys("sep2")
    expected = sum("sep2" in f.location.layer_path for f in report.findings)
    assert expected and _visible(driver, "li.finding") == expected
    box.clear()
    box.send_keys(" ")  # whitespace only: no filter
    assert _visible(driver, "li.finding") == report.summary.findings


def test_deep_link_applies_the_filter(page):
    driver, report, path = page
    driver.get(path.as_uri() + "#rule=WGT001")
    expected = sum(f.code == "WGT001" for f in report.findings)
    assert expected and _visible(driver, "li.finding") == expected


def test_hostile_names_stay_text(browser, keras, tmp_path):
    inputs = keras.Input((4,))
    layer = keras.layers.Dense(3, bias_regularizer="l2", name=HOSTILE)
    model = keras.Model(inputs, layer(inputs))
    html = _html(run_live(model))
    assert HOSTILE not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    path = tmp_path / "hostile.html"
    path.write_text(html, encoding="utf-8")
    browser.get(path.as_uri())
    assert browser.find_elements("css selector", "main img") == []
    assert HOSTILE in browser.find_element("css selector", "li.finding").text
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_self_contained(examples_report):
    html = _html(examples_report)
    for needle in ("<link", 'src="http', 'href="//', "@import", "url(http"):
        assert needle not in html
    assert all(
        href.startswith(("https://github.com/keras-audit/", "#"))
        for href in __import__("re").findall(r'href="([^"]+)"', html)
    )


def test_resnet50_report_stays_under_5_mb(keras, save_model):
    paths = save_model(keras.applications.ResNet50(weights=None), "html_resnet50", ("keras",))
    size = len(_html(run([paths["keras"]])).encode("utf-8"))
    paths["keras"].unlink()
    assert size < 5 * 1024 * 1024, size


def test_the_overview_links_to_each_model(page):
    """A report over several models opens with one row per model; a row's link scrolls
    to that model's section and keeps its anchor, and every finding stays shown."""
    driver, report, path = page
    driver.get(path.as_uri())
    rows = driver.find_elements("css selector", "table.overview tr.overview-row")
    assert len(rows) == len(report.models) > 1
    for index, (row, model) in enumerate(zip(rows, report.models, strict=True), 1):
        link = row.find_element("css selector", "a")
        assert link.get_attribute("hash") == f"#model-{index}"
        assert link.text == model.source.path
        cells = [cell.text for cell in row.find_elements("css selector", "td")]
        assert cells[3:6] == [
            str(model.summary.errors),
            str(model.summary.warnings),
            str(model.summary.infos),
        ]
    rows[2].find_element("css selector", "a").click()
    assert driver.execute_script("return location.hash") == "#model-3"
    top = driver.execute_script(
        "return document.getElementById('model-3').getBoundingClientRect().top"
    )
    assert abs(top) < 5
    assert _visible(driver, "li.finding") == report.summary.findings
