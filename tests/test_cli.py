"""The command line: exit codes, formats, many files, one line per usage error."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from auditor.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "models"
SCHEMA = json.loads(
    (Path(__file__).resolve().parent.parent / "reports" / "schema.json").read_text()
)


def run(*args: str) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "auditor", *args], capture_output=True, text=True, timeout=120
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_clean_model_exits_0():
    code, out, _ = run(str(EXAMPLES / "clean.keras"))
    assert code == 0
    assert out.rstrip().endswith("s") and "Found 0 findings" in out


def test_findings_exit_1_and_fail_on_error_exits_0():
    assert run(str(EXAMPLES / "depthwise_decay.keras"))[0] == 1  # REG004 warnings
    assert run(str(EXAMPLES / "bias_decay.keras"))[0] == 0  # REG006 is info only
    assert run(str(EXAMPLES / "depthwise_decay.keras"), "--fail-on", "error")[0] == 0
    assert run(str(EXAMPLES / "bias_decay.keras"), "--fail-on", "info")[0] == 1
    assert run(str(EXAMPLES / "depthwise_decay.keras"), "--exit-zero")[0] == 0


@pytest.mark.parametrize(
    "args, needle",
    [
        (["/no/such/model.keras"], "no such file or folder. Received: '/no/such/model.keras'"),
        (["--select", "NOPE", "x"], "no such file"),
        (["--format", "yaml", "x.keras"], "invalid choice: 'yaml'"),
        (["--fail-on", "fatal", "x.keras"], "invalid choice: 'fatal'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, needle):
    code, out, err = run(*args)
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1
    assert out == ""


def test_unknown_rule_names_the_value():
    code, _, err = run(str(EXAMPLES / "clean.keras"), "--select", "REG999,depthwise-decy")
    assert code == 2
    assert "Received: 'REG999'" in err


def test_folder_without_models_exits_2(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    code, _, err = run(str(tmp_path))
    assert code == 2 and "no model file" in err


def test_json_output_validates_against_the_shipped_schema(tmp_path):
    out = tmp_path / "report.json"
    code, stdout, _ = run(str(EXAMPLES), "--format", "json", "-o", str(out))
    assert code == 1 and stdout == ""
    report = json.loads(out.read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["schema_version"] == 1
    assert len(report["models"]) == len(list(EXAMPLES.glob("*")))


def test_shipped_schema_is_current():
    from auditor.reports.json import schema_text

    shipped = (Path(__file__).resolve().parent.parent / "reports" / "schema.json").read_text()
    assert shipped == schema_text(), "run `audit schema > reports/schema.json`"


def test_hundred_models_and_one_corrupt_file(tmp_path):
    for index in range(100):
        shutil.copy(EXAMPLES / "clean.h5", tmp_path / f"model_{index:03}.h5")
    (tmp_path / "model_050.h5").write_bytes(b"\x89HDF\r\n\x1a\ntruncated")
    code, out, _ = run(str(tmp_path), "--format", "json")
    report = json.loads(out)
    assert code == 1
    assert len(report["models"]) == 100
    broken = [m for m in report["models"] if m["findings"]]
    assert [m["source"]["path"].rsplit("/", 1)[-1] for m in broken] == ["model_050.h5"]
    assert [f["code"] for f in broken[0]["findings"]] == ["AUD001"]
    clean = [m for m in report["models"] if not m["findings"]]
    assert len(clean) == 99 and all(m["summary"]["weights"] == 8 for m in clean)


def test_rules_rule_and_schema_commands(capsys):
    assert main(["rules", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["code"] for r in rows} >= {"REG003", "REG010", "AUD001", "AUD002", "AUD003"}
    assert main(["rule", "depthwise-decay"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# REG004 depthwise-decay (warning)") and "## References" in text
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "Report"


def test_static_audit_never_imports_tensorflow_or_keras():
    code = (
        f"import sys, auditor; r = auditor.audit({str(EXAMPLES)!r}); "
        "import auditor.cli; "
        "assert r.models and r.models[0].summary.weights > 0; "
        "bad = [m for m in ('tensorflow', 'keras', 'tf_keras') if m in sys.modules]; "
        "print('imported:', bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


_GC_PROBE = """
import gc, sys
import auditor.cli, auditor.engine.runner, auditor.engine.registry
def probe(name, real):
    def wrapper(*args, **kwargs):
        print(name, gc.isenabled(), gc.get_freeze_count() > 0, flush=True)
        return real(*args, **kwargs)
    return wrapper
auditor.engine.registry.load_registry = probe("registry", auditor.engine.registry.load_registry)
auditor.engine.runner.run = probe("run", auditor.engine.runner.run)
sys.argv = ["audit", *sys.argv[1:]]
auditor.cli.entry()
"""


def test_the_console_script_collects_garbage_only_after_its_imports():
    """Collection is off while a check imports what it needs, and back on, with the
    start-up's objects frozen out of its way, before any file is read."""
    model = str(EXAMPLES / "clean.keras")
    proc = subprocess.run(
        [sys.executable, "-c", _GC_PROBE, model, "-o", "/dev/null", "--exit-zero"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["registry False False", "run True True"]


def test_main_leaves_the_callers_garbage_collector_alone():
    before = (gc.isenabled(), gc.get_freeze_count())
    assert main([str(EXAMPLES / "clean.keras"), "-o", os.devnull, "--exit-zero"]) == 0
    assert main(["rules"]) == 0
    assert (gc.isenabled(), gc.get_freeze_count()) == before


def test_quiet_prints_only_the_summary():
    code, out, _ = run(str(EXAMPLES / "depthwise_decay.keras"), "-q")
    assert code == 1
    assert out.startswith("Found 2 findings (0 errors, 2 warnings, 0 info) in 1 model in ")
    assert len(out.splitlines()) == 1


def test_color_is_off_when_piped_and_forced_by_flag_or_env(monkeypatch):
    path = str(EXAMPLES / "depthwise_decay.keras")
    assert "\x1b[" not in run(path)[1]
    assert "\x1b[" in run(path, "--color", "always")[1]
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[" in run(path)[1]
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in run(path)[1]


def test_readme_sample_output_is_real():
    readme = (EXAMPLES.parents[1] / "README.md").read_text()
    block = readme.split("(excerpt):\n\n```text\n", 1)[1].split("```", 1)[0]
    files = sorted(str(p) for p in EXAMPLES.glob("*.keras"))
    _, out, _ = run(*files, "--color", "never")
    lines = out.replace(f"{EXAMPLES.parents[1]}/", "").splitlines()
    for line in block.splitlines():
        if line.startswith("Found"):
            assert lines[-1].startswith(line.rsplit(" in ", 1)[0])
        elif line.strip():
            assert line in lines, line


def test_reference_option(tmp_path):
    reset = str(EXAMPLES / "reset_weights.keras")
    code, out, _ = run(reset, "--reference", reset, "--select", "WGT002")
    assert code == 0 and "Found 0 findings" in out
    code, out, _ = run(reset, "--reference", str(EXAMPLES / "reset_weights.h5"), "--select", "WGT")
    assert code == 0  # same weights in both formats: WGT001 is info, WGT002 silent
    code, _, err = run(reset, "--reference", str(tmp_path / "missing.keras"))
    assert code == 2 and "no such reference model file" in err
    code, out, _ = run(reset, "--expect-pretrained", "--select", "WGT001", "-q")
    assert code == 1 and out.startswith("Found 4 findings (4 errors")


@pytest.mark.parametrize(
    "args",
    [
        [str(EXAMPLES), "-v"],
        ["fix", str(EXAMPLES / "bare_l2.keras"), "-o", "{tmp}/fixed.keras", "--l2", "1e-4"],
        ["rules"],
    ],
    ids=["check", "fix", "rules"],
)
def test_a_reader_that_goes_away_is_not_a_traceback(args, tmp_path):
    """`audit models/ | head -1`: the rest of the output goes nowhere, quietly, and the
    exit code is the one the command would give with its reader still there."""
    argv = [sys.executable, "-m", "auditor", *(a.format(tmp=tmp_path) for a in args)]
    expected = subprocess.run(argv, capture_output=True, timeout=120).returncode
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err
    assert proc.returncode == expected


def test_inventory_is_kept_only_for_formats_that_show_it(tmp_path):
    """Text, SARIF and the others skip the inventory (its statistics cost CPU); JSON and
    HTML carry every weight's statistics. The findings are the same either way."""
    from auditor.engine.config import AuditConfig
    from auditor.engine.runner import run as run_engine

    model = EXAMPLES / "depthwise_decay.keras"
    full = run_engine([model], AuditConfig())
    lean = run_engine([model], AuditConfig(inventory=False))
    assert full.models[0].inventory and lean.models[0].inventory == []
    assert [f.model_dump() for f in lean.findings] == [f.model_dump() for f in full.findings]
    out = tmp_path / "report.json"
    code, text, _ = run(str(model), "-o", f"json:{out}", "-o", "text:-")
    assert code == 1 and "REG004" in text
    assert json.loads(out.read_text())["models"][0]["inventory"]


def test_the_file_is_hashed_only_for_formats_that_show_the_hash(tmp_path):
    """JSON, SARIF and HTML show each file's SHA-256; text and the others do not, so the
    CLI skips the hash there (on a huge file it costs more than reading the tensors)."""
    from auditor.engine.config import AuditConfig
    from auditor.engine.runner import run as run_engine

    model = EXAMPLES / "depthwise_decay.keras"
    expected = hashlib.sha256(model.read_bytes()).hexdigest()
    assert run_engine([model], AuditConfig()).models[0].source.sha256 == expected
    assert run_engine([model], AuditConfig(digest=False)).models[0].source.sha256 is None
    sarif, as_json = tmp_path / "report.sarif", tmp_path / "report.json"
    code, _, _ = run(str(model), "-o", f"sarif:{sarif}", "-o", f"junit:{tmp_path / 'j.xml'}")
    assert code == 1
    artifact = json.loads(sarif.read_text())["runs"][0]["artifacts"][0]
    assert artifact["hashes"] == {"sha-256": expected}
    run(str(model), "-o", f"json:{as_json}")
    assert json.loads(as_json.read_text())["models"][0]["source"]["sha256"] == expected


@pytest.mark.parametrize(
    "fmt, described",
    [
        ("sarif", '"fullDescription": {'),  # each rule's docs
        ("junit", 'name="AUD001 unreadable-model"'),  # each test case named after its rule
        ("markdown", "[REG006 bias-decay](https://"),  # each finding linked to its rule page
    ],
)
def test_formats_that_describe_rules_get_their_descriptions(fmt, described):
    """The CLI builds rule descriptions only for the formats that show them; these do."""
    code, out, _ = run(str(EXAMPLES / "bias_decay.keras"), "--format", fmt, "--exit-zero")
    assert code == 0
    assert described in out
