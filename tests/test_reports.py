"""Renderers: golden files for every format, SARIF against the official schema, JUnit
structure, GitHub escaping, Markdown tables, several outputs from one run, and the rules
reference being current. Regenerate the golden files with UPDATE_GOLDEN=1."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from auditor.cli import main
from auditor.cli.common import rule_infos
from auditor.engine.config import AuditConfig
from auditor.engine.runner import run
from auditor.reports import FORMATS, NEEDS, RENDERERS, RenderOptions
from auditor.reports.github import escape_data, escape_property
from auditor.results.findings import Location, Severity

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
MODELS = ["adamw_all.keras", "reset_weights.h5", "clean.keras"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """Examples audited with relative paths and a fixed duration, for stable output."""
    cwd = Path.cwd()
    os.chdir(ROOT)
    try:
        audited = run([f"examples/models/{name}" for name in MODELS], AuditConfig())
    finally:
        os.chdir(cwd)
    summary = audited.summary.model_copy(update={"duration_seconds": 0.05})
    return audited.model_copy(update={"summary": summary})


@pytest.fixture(scope="module")
def options():
    return RenderOptions(rules=rule_infos())


@pytest.mark.parametrize("fmt", ["text", "html", "sarif", "junit", "github", "markdown"])
def test_golden(report, options, fmt):
    text = RENDERERS[fmt](report, options=options)
    golden = GOLDEN / f"examples.{fmt}"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text(), f"{fmt} output changed; UPDATE_GOLDEN=1 to accept"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_format_needs_exactly_what_it_declares(report, options, fmt):
    """A run gathers the inventory, the digests and the rules' metadata only for the formats
    that declare them: without one, a format that declares it renders differently, and one
    that does not renders the same."""

    def each_model(change):  # the report with every model changed by `change`
        return report.model_copy(update={"models": [change(m) for m in report.models]})

    def unhashed(model):
        return model.model_copy(update={"source": model.source.model_copy(update={"sha256": None})})

    without = {
        "inventory": (each_model(lambda m: m.model_copy(update={"inventory": []})), options),
        "digest": (each_model(unhashed), options),
        "rules": (report, RenderOptions()),
    }
    full = RENDERERS[fmt](report, options=options)
    changed = {
        need for need in NEEDS if RENDERERS[fmt](without[need][0], options=without[need][1]) != full
    }
    assert changed == FORMATS[fmt].needs


def test_sarif_validates_against_the_official_schema(report, options):
    schema = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    document = json.loads(RENDERERS["sarif"](report, options=options))
    jsonschema.validate(document, schema)
    run_ = document["runs"][0]
    assert len(run_["results"]) == len(report.findings)
    ids = [rule["id"] for rule in run_["tool"]["driver"]["rules"]]
    for result in run_["results"]:
        assert ids[result["ruleIndex"]] == result["ruleId"]
        assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": 1}
    artifact = run_["artifacts"][0]
    assert artifact["location"]["uri"] == "examples/models/adamw_all.keras"
    assert len(artifact["hashes"]["sha-256"]) == 64
    wd003 = next(r for r in run_["tool"]["driver"]["rules"] if r["id"] == "WD003")
    assert wd003["helpUri"].endswith("docs/rules.md#wd003-decay-exclusions-unknown")
    assert "## Why is this bad?" in wd003["fullDescription"]["text"]
    fingerprints = [r["partialFingerprints"]["kerasAudit/v1"] for r in run_["results"]]
    assert len(set(fingerprints)) == len(fingerprints)


def test_sarif_of_a_live_model_has_logical_locations_only(keras):
    from auditor.engine.runner import run_live

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, bias_regularizer="l2", name="d")(inputs))
    document = json.loads(RENDERERS["sarif"](run_live(model)))
    schema = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(document, schema)
    assert document["runs"][0]["artifacts"] == []
    assert all("physicalLocation" not in r["locations"][0] for r in document["runs"][0]["results"])


def test_junit_structure(report, options):
    root = ET.fromstring(RENDERERS["junit"](report, options=options))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [m.source.path for m in report.models]
    for suite, model in zip(suites, report.models, strict=True):
        cases = suite.findall("testcase")
        assert len(cases) == len(model.rules_run) + len(model.rules_not_applicable)
        failures = suite.findall("testcase/failure")
        assert len(failures) == len(model.findings) == int(suite.get("failures"))
        assert len(suite.findall("testcase/skipped")) == len(model.rules_not_applicable)
    assert int(root.get("failures")) == len(report.findings)


def test_github_escaping():
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a:b,c%") == "a%3Ab%2Cc%25"


def test_github_commands(report, options):
    lines = RENDERERS["github"](report, options=options).splitlines()
    assert len(lines) == len(report.findings) - 2  # reset_weights: 3 WGT001 lines fold
    verbose = RenderOptions(rules=options.rules, verbose=True)
    assert len(RENDERERS["github"](report, options=verbose).splitlines()) == len(report.findings)
    assert lines[0].startswith(
        "::warning file=examples/models/adamw_all.keras,line=1,title=REG004 depthwise-decay::"
    )
    assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in lines)
    assert all("\n" not in line for line in lines)


def test_markdown_escapes_table_cells(report, options):
    finding = report.findings[0]
    odd = finding.model_copy(
        update={
            "message": "a | b <script>alert(1)</script>\nnext",
            "location": Location(layer_path="x|y"),
        }
    )
    model = report.models[0].model_copy(update={"findings": [odd]})
    text = RENDERERS["markdown"](report.model_copy(update={"models": [model]}), options=options)
    row = next(line for line in text.splitlines() if line.startswith("| warning"))
    assert "a \\| b &lt;script&gt;alert(1)&lt;/script&gt; next" in row
    assert "`x\\|y`" in row


def test_several_outputs_from_one_run(tmp_path, monkeypatch, capsys):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    model = str(ROOT / "examples" / "models" / "depthwise_decay.keras")
    sarif, junit = tmp_path / "r.sarif", tmp_path / "r.xml"
    code = main([model, "-o", f"sarif:{sarif}", "-o", f"junit:{junit}"])
    assert code == 1
    assert json.loads(sarif.read_text())["version"] == "2.1.0"
    assert ET.parse(junit).getroot().tag == "testsuites"
    assert capsys.readouterr().out == ""  # every output went to a file
    assert main([model, "--format", "github"]) == 1
    assert capsys.readouterr().out.startswith("::warning file=")
    assert "## keras-audit" in summary.read_text()


def test_unknown_output_format_is_a_usage_error(capsys):
    model = str(ROOT / "examples" / "models" / "clean.keras")
    with pytest.raises(SystemExit) as exit_:
        main([model, "-o", "pdf:out.pdf"])
    assert exit_.value.code == 2
    assert "unknown output format 'pdf'" in capsys.readouterr().err


def test_rules_reference_is_current(capsys):
    assert main(["rules", "--format", "markdown"]) == 0
    generated = capsys.readouterr().out
    assert (ROOT / "docs" / "rules.md").read_text() == generated, (
        "docs/rules.md is stale: audit rules --format markdown > docs/rules.md"
    )


def test_every_severity_has_a_sarif_level():
    from auditor.reports.sarif import _LEVELS

    assert set(_LEVELS) == set(Severity)


def test_the_readme_lists_every_rule_as_the_registry_has_it():
    """The README's table is a summary of the catalog, which is written once, in the rule
    classes: its codes, slugs and modes follow them."""
    from auditor.cli.common import mode
    from auditor.rules import BUILTIN_RULES

    shown = {"file": "file", "file+w": "+w", "live": "live"}
    rows = [
        tuple(cell.strip() for cell in line.strip("|").split("|")[:3])
        for line in (ROOT / "README.md").read_text().splitlines()
        if re.match(r"\| [A-Z]{2,5}\d{3} \|", line)
    ]
    assert rows == [(r.code, r.name, shown[mode(r.requires)]) for r in BUILTIN_RULES]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("conv_1/kernel", "conv_1/kernel"),
        ("naïve 层", "naïve 层"),
        ("a\x1b[31mb", "a\\x1b[31mb"),
        ("x\r\n::error::y", "x\\r\\n::error::y"),
        ("\t\x00\x7f\x85", "\\t\\x00\\x7f\\x85"),
        ("\u202efdp.exe\u2028", "\\u202efdp.exe\\u2028"),
    ],
)
def test_visible_writes_what_an_output_would_act_on_as_escapes(text, shown):
    from auditor.reports.safe import visible

    assert visible(text) == shown
