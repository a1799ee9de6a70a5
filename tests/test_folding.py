"""Folding in the line-by-line formats: a rule's per-layer findings under its model-level
finding, or past FOLD_AT without one, become one line; verbose, JSON and SARIF keep each;
Markdown and HTML open a report over several models with an overview linking to each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.cli.common import rule_infos
from auditor.engine.runner import build_report
from auditor.reports import RENDERERS, RenderOptions
from auditor.reports.folding import FOLD_AT, Fold, folded
from auditor.results.findings import (
    Finding,
    Location,
    ModelReport,
    ModelSummary,
    Severity,
    Source,
    Suppression,
)

ROOT = Path(__file__).resolve().parents[1]


def _finding(code, layer="", severity=Severity.INFO, suppressed=False):
    return Finding(
        code=code,
        name=f"rule-{code.lower()}",
        severity=severity,
        message=f"{code} on {layer or 'the model'}",
        location=Location(layer_path=layer),
        suppressed=Suppression(kind="config") if suppressed else None,
    )


def _layers(code, count, **kwargs):
    return [_finding(code, f"layer_{i}", **kwargs) for i in range(count)]


def test_per_layer_findings_fold_under_their_model_level_finding():
    summary, layers = _finding("WGT001"), _layers("WGT001", 55)
    other = _finding("REG009", "layer_0", severity=Severity.WARNING)
    items = list(folded([other, summary, *layers]))
    assert items[:2] == [other, summary]
    (fold,) = items[2:]
    assert isinstance(fold, Fold) and fold.findings == tuple(layers)
    assert fold.summary() == (
        "55 per-layer findings on `layer_0`, `layer_1`, `layer_2` and 52 more, folded under "
        "the model-level finding"
    )
    assert list(folded([other, summary, *layers], verbose=True)) == [other, summary, *layers]


def test_one_per_layer_finding_under_a_summary_is_shown_as_it_is():
    findings = [_finding("WGT001"), *_layers("WGT001", 1)]
    assert list(folded(findings)) == findings


def test_a_rule_without_a_summary_folds_past_fold_at():
    at_limit = _layers("REG006", FOLD_AT)
    assert list(folded(at_limit)) == at_limit
    over = _layers("REG006", FOLD_AT + 1)
    first, fold = folded(over)
    assert first is over[0]
    assert fold.findings == tuple(over[1:]) and not fold.under_summary
    assert fold.summary().startswith(f"{FOLD_AT} more findings on `layer_1`, `layer_2`")
    assert fold.summary().endswith("folded like the one above")


def test_severities_and_suppressed_findings_fold_apart():
    """A rule whose findings differ in severity (or suppression) folds each kind alone."""
    warnings = _layers("REG007", 6, severity=Severity.WARNING)
    suppressed = _layers("REG007", 6, severity=Severity.WARNING, suppressed=True)
    errors = _layers("REG007", 2, severity=Severity.ERROR)
    items = list(folded([*errors, *warnings, *suppressed]))
    assert items[:2] == errors
    assert [type(i).__name__ for i in items[2:]] == ["Finding", "Fold", "Finding", "Fold"]
    assert items[3].findings == tuple(warnings[1:])
    assert items[5].findings == tuple(suppressed[1:])


@pytest.fixture(scope="module")
def mobilenet_like():
    """One model with the WGT001 summary and 55 per-layer findings, another with none."""

    def model(path, findings):
        return ModelReport(
            source=Source(path=path, format="keras", keras_version="3.15.1"),
            summary=ModelSummary(
                parameters=4_253_864,
                infos=sum(f.severity is Severity.INFO for f in findings),
                errors=sum(f.severity is Severity.ERROR for f in findings),
            ),
            findings=findings,
        )

    findings = [_finding("WGT001"), *_layers("WGT001", 55)]
    error = _finding("SEC001", "lambda", severity=Severity.ERROR)
    return build_report([model("net.keras", [error, *findings]), model("clean.keras", [])], 0.1)


def test_text_prints_one_line_for_the_folded_findings(mobilenet_like):
    text = RENDERERS["text"](mobilenet_like)
    assert text.count("WGT001 rule-wgt001") == 2
    assert (
        "  ... WGT001 rule-wgt001: 55 per-layer findings on `layer_0`, `layer_1`, `layer_2` "
        "and 52 more, folded under the model-level finding (--verbose lists each)\n"
    ) in text
    verbose = RENDERERS["text"](mobilenet_like, options=RenderOptions(verbose=True))
    assert verbose.count("WGT001 rule-wgt001") == 56


def test_github_folds_and_json_sarif_keep_every_finding(mobilenet_like):
    assert RENDERERS["github"](mobilenet_like).count("title=WGT001") == 2
    verbose = RENDERERS["github"](mobilenet_like, options=RenderOptions(verbose=True))
    assert verbose.count("title=WGT001") == 56
    assert len(json.loads(RENDERERS["json"](mobilenet_like))["models"][0]["findings"]) == 57
    sarif = json.loads(RENDERERS["sarif"](mobilenet_like))
    assert len(sarif["runs"][0]["results"]) == 57


def test_markdown_opens_with_an_overview_linking_to_each_model(mobilenet_like):
    text = RENDERERS["markdown"](mobilenet_like, options=RenderOptions(rules=rule_infos()))
    rows = [line for line in text.splitlines() if line.startswith("| [`")]
    assert rows == [
        "| [`net.keras`](#model-1) | keras | 4,253,864 | 1 | 0 | 56 | SEC001 SEC001 on lambda |",
        "| [`clean.keras`](#model-2) | keras | 4,253,864 | 0 | 0 | 0 | — |",
    ]
    assert '<a name="model-1"></a>' in text and '<a name="model-2"></a>' in text
    assert text.index("| model | format |") < text.index('<a name="model-1">')
    assert text.count("| info | [WGT001") == 2  # the summary and the folded line
    single = build_report(mobilenet_like.models[:1], 0.1)
    assert "| model | format |" not in RENDERERS["markdown"](single)
