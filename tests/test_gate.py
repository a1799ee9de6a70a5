"""The CI gate: configuration sources and precedence, every exit code, suppressions and
the baseline through their life cycle, --jobs, the per-file time limit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.cli.check import show_progress

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "models"


def cli(*args):
    """`audit` in-process: its exit code (usage errors exit through SystemExit)."""
    try:
        return main([str(a) for a in args])
    except SystemExit as exc:
        return exc.code


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with two example models, as the working directory."""
    models = tmp_path / "models"
    models.mkdir()
    for name in ("depthwise_decay.keras", "clean.keras"):
        shutil.copy(EXAMPLES / name, models / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _json(capsys, *args):
    code = cli(*args, "--format", "json")
    return code, json.loads(capsys.readouterr().out)


def test_config_file_precedence(project, capsys):
    (project / "pyproject.toml").write_text('[tool.keras-audit]\nfail-on = "error"\n')
    assert cli("models") == 0  # REG004 is a warning; the pyproject says fail on errors
    (project / ".keras-audit.toml").write_text('fail-on = "warning"\nignore = ["REG006"]\n')
    assert cli("models") == 1  # the dedicated file wins over pyproject.toml
    assert cli("models", "--fail-on", "never") == 0  # the command line wins over both
    other = project / "other.toml"
    other.write_text('select = ["AUD"]\n')
    assert cli("models", "--config", other) == 0
    capsys.readouterr()
    assert cli("--show-settings", "--fail-on", "error") == 0
    out = capsys.readouterr().out
    assert 'fail-on = "error"  # command line' in out
    assert f'ignore = ["REG006"]  # {project / ".keras-audit.toml"}' in out
    assert "jobs = 1  # default" in out


def test_config_found_in_a_parent_folder(project, monkeypatch, capsys):
    (project / ".keras-audit.toml").write_text('fail-on = "never"\n')
    (project / "sub").mkdir()
    monkeypatch.chdir(project / "sub")
    assert cli(project / "models") == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('fail_on = "error"\n', "fail_on: unknown key (did you mean 'fail-on'?)"),
        ('fail-on = "warn"\n', "fail-on: Input should be 'error', 'warning', 'info' or 'never'"),
        (
            "[rules.WD005]\nmin = 1.0\nmax = 0.1\n",
            "invalid options for WD005 (unusual-weight-decay): <root>: Value error, expected "
            "0 <= min <= max. Received: min=1.0, max=0.1\n",
        ),
        (
            "[rules.REG004]\nstrict = true\n",
            "invalid options for REG004 (depthwise-decay): strict: unknown key. Received: True",
        ),
        (
            '[rules.REG009]\nmax = "x"\n',
            "invalid options for REG009 (unusual-coefficient): max: Input should be a valid "
            "number, unable to parse string as a number. Received: 'x'",
        ),
        ('select = ["NOPE1"]\n', "NOPE1"),
        ('[[suppress]]\ncode = "REG004"\n', "suppress.0.reason: Field required"),
        ("fail-on = \n", "is not valid TOML"),
    ],
)
def test_bad_configuration_is_a_usage_error(project, capsys, content, message):
    (project / ".keras-audit.toml").write_text(content)
    assert cli("models") == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_exit_codes(project, capsys, tmp_path):
    assert cli("models/clean.keras") == 0
    assert cli("models/depthwise_decay.keras") == 1
    assert cli("models/depthwise_decay.keras", "--exit-zero") == 0
    broken = project / "models" / "broken.h5"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    assert cli(broken, "--select", "AUD001") == 1  # unreadable counts as a finding
    assert cli("no-such-file.keras") == 2
    empty = project / "empty"
    empty.mkdir()
    assert cli(empty) == 2  # no model file matched
    assert cli("models", "--baseline", "missing.json") == 2
    assert cli("models", "--jobs", "0") == 2
    assert cli() == 2


def test_suppressions(project, capsys):
    (project / ".keras-audit.toml").write_text(
        "[[suppress]]\n"
        'code = "depthwise-decay"\n'
        'path = "models/depthwise*.keras"\n'
        'layer = "dw*"\n'
        'reason = "kept on purpose, see experiment 12"\n'
        "[[suppress]]\n"
        'code = "REG004"\n'
        'path = "models/*.keras"\n'
        'layer = "sep*"\n'
        'reason = "expired exception"\n'
        "expires = 2020-01-01\n"
        "[[suppress]]\n"
        'code = "REG005"\n'
        'reason = "matches nothing"\n'
    )
    code, report = _json(capsys, "models/depthwise_decay.keras", "--select", "REG004,REG005")
    findings = report["models"][0]["findings"]
    marks = {f["location"]["layer_path"]: f["suppressed"] for f in findings}
    assert marks == {
        "dw1": {"kind": "config", "reason": "kept on purpose, see experiment 12"},
        "sep2": None,
    }
    assert code == 1  # sep2 still counts: its suppression expired
    assert [(u["code"], u["expired"]) for u in report["unused_suppressions"]] == [
        ("REG004", True),
        ("REG005", False),
    ]
    cli("models/depthwise_decay.keras", "--select", "REG004,REG005")
    captured = capsys.readouterr()
    assert "[suppressed]" in captured.out
    assert "suppression of REG005 (path '*', layer '*') matched no finding" in captured.err
    assert "suppression of REG004 (path 'models/*.keras', layer 'sep*') has expired" in captured.err


def test_baseline_life_cycle(project, capsys):
    baseline = project / "baseline.json"
    # create: the backlog is accepted
    assert cli("models", "--write-baseline", baseline) == 0
    written = json.loads(baseline.read_text())
    keys = [(e["model"], e["layer"], e["code"]) for e in written["entries"]]
    assert keys == sorted(keys) and ("models/depthwise_decay.keras", "dw1", "REG004") in keys
    assert baseline.read_text() == json.dumps(written, indent=2, sort_keys=True) + "\n"
    assert "baseline.json (2 entries, 2 findings)" in capsys.readouterr().err
    # pass: nothing new
    code, report = _json(capsys, "models", "--baseline", baseline)
    assert code == 0 and report["summary"]["suppressed"] == report["summary"]["findings"] > 0
    kinds = {f["suppressed"]["kind"] for m in report["models"] for f in m["findings"]}
    assert kinds == {"baseline"}
    # regress: a new model with problems fails the gate, the old backlog does not
    shutil.copy(EXAMPLES / "adamw_all.keras", project / "models" / "adamw_all.keras")
    code, report = _json(capsys, "models", "--baseline", baseline)
    assert code == 1
    new = [f for f in report["models"][0]["findings"] if f["suppressed"] is None]
    assert report["models"][0]["source"]["path"].endswith("adamw_all.keras") and new
    # fix: the depthwise model is gone; its entries are stale
    (project / "models" / "depthwise_decay.keras").unlink()
    code, report = _json(capsys, "models/clean.keras", "--baseline", baseline)
    stale = {(s["code"], s["layer"]) for s in report["stale_baseline"]}
    assert ("REG004", "dw1") in stale and code == 0
    # prune: rewriting drops the fixed entries
    assert cli("models", "--write-baseline", baseline) == 0
    models = {e["model"] for e in json.loads(baseline.read_text())["entries"]}
    assert models == {"models/adamw_all.keras"}


def test_unreadable_baseline(project, capsys):
    (project / "baseline.json").write_text('{"version": 7}')
    assert cli("models", "--baseline", "baseline.json") == 2
    assert "not a keras-audit baseline" in capsys.readouterr().err


def test_jobs_give_the_same_report(capsys):
    def report(*extra):
        """The report less its measurements: time, and what each process read."""
        code, data = _json(capsys, EXAMPLES, *extra)
        data["summary"]["duration_seconds"] = 0
        for model in data["models"]:
            model["summary"]["bytes_read"] = model["summary"]["requests"] = None
        return code, data

    assert report("--jobs", "1") == report("--jobs", "2")


def test_per_file_time_limit(capsys):
    code, data = _json(capsys, EXAMPLES / "clean.keras", "--timeout", "0.000001")
    (finding,) = data["models"][0]["findings"]
    assert code == 1 and finding["code"] == "AUD001"
    assert "longer than the per-file time limit of 1e-06 s" in finding["message"]


def test_progress_only_on_a_terminal(tmp_path):
    class Terminal:
        def isatty(self):
            return True

    class Pipe:
        def isatty(self):
            return False

    files = [str(EXAMPLES / "clean.keras")] * 5
    assert show_progress(files, Terminal()) is True
    assert show_progress(files, Pipe()) is False
    assert show_progress(files[:1], Terminal()) is False


def test_integrations_are_shipped():
    hooks = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert "- id: keras-audit" in hooks and "files: '\\.(keras|h5|hdf5)$'" in hooks
    assert "entry: audit" in hooks
    workflow = (ROOT / "examples" / "ci" / "keras-audit.yml").read_text()
    assert (
        "github/codeql-action/upload-sarif" in workflow and "-o sarif:keras-audit.sarif" in workflow
    )


def test_stdout_output_beside_files(tmp_path, capsys):
    sarif = tmp_path / "out.sarif"
    code = cli(EXAMPLES / "depthwise_decay.keras", "-o", "github:-", "-o", f"sarif:{sarif}")
    assert code == 1
    assert capsys.readouterr().out.startswith("::warning file=")
    assert json.loads(sarif.read_text())["version"] == "2.1.0"


def test_readme_configuration_example_is_valid(tmp_path):
    from auditor.engine.config import load_config, resolve

    readme = (ROOT / "README.md").read_text()
    (tmp_path / "pyproject.toml").write_text(readme.split("```toml\n", 1)[1].split("```", 1)[0])
    config, sources = resolve(load_config(tmp_path / "pyproject.toml"), {})
    assert config.fail_on == "warning" and config.suppress[0].layer == "conv_dw_*"
    assert sources["suppress"].endswith("pyproject.toml")


def test_glob_patterns_are_expanded(project, capsys):
    code, report = _json(capsys, "models/*decay*.keras")
    assert [m["source"]["path"] for m in report["models"]] == ["models/depthwise_decay.keras"]
    assert code == 1
    _, report = _json(capsys, "**/*.keras")
    assert len(report["models"]) == 2
    assert cli("nothing/*.keras") == 2  # a pattern matching nothing: no model file found
