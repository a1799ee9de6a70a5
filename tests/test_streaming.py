"""Every output written model by model: the pieces join to exactly the whole-report text,
the documents need only the report's totals (no model), and the CLI keeps nothing of a
model (the baseline and GitHub's job summary included) while writing the same documents
the library renders; the engine hands each gated model over as it finishes, and a
temporary file that cannot be written is a one-line usage error."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import tempfile
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.cli.common import rule_infos
from auditor.cli.spools import Spool
from auditor.engine.config import AuditConfig, Suppress
from auditor.engine.gate import BaselineBuilder
from auditor.engine.runner import build_report, run
from auditor.reports import FORMATS, RENDERERS, RenderOptions, pieces
from auditor.results.findings import ModelReport, Report

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "models"
MODELS = ["adamw_all.keras", "reset_weights.h5", "clean.keras"]


def _stable(report: Report) -> Report:
    summary = report.summary.model_copy(update={"duration_seconds": 0.05})
    return report.model_copy(update={"summary": summary})


@pytest.fixture(scope="module")
def reports() -> dict[int, Report]:
    """Reports over none, one and three example models, with a fixed duration."""
    full = _stable(run([EXAMPLES / name for name in MODELS], AuditConfig()))
    return {
        n: _stable(build_report(full.models[:n], 0.05)) if n < len(MODELS) else full
        for n in (0, 1, len(MODELS))
    }


@pytest.fixture(scope="module")
def options() -> RenderOptions:
    return RenderOptions(rules=rule_infos())


@pytest.mark.parametrize("count", [0, 1, 3])
def test_json_pieces_join_to_the_report_json(reports, count):
    report = reports[count]
    assert report.models[:1] == [] or report.models[0].inventory
    assert pieces("json").render(report) == report.to_json(indent=2) + "\n"


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("count", [0, 1, 3])
def test_a_document_needs_only_the_totals(reports, options, fmt, count):
    """Parts (and overview rows) from the full models, the document from the report
    without any model: the same text as rendering the whole report."""
    report, piece = reports[count], pieces(fmt)
    parts = [piece.model(m, i, options=options) for i, m in enumerate(report.models, 1)]
    rows = {}
    if piece.row is not None:
        rows["rows"] = [piece.row(m, i, options=options) for i, m in enumerate(report.models, 1)]
    assert (piece.row is not None) == (fmt in ("html", "markdown"))
    totals_only = report.model_copy(update={"models": []})
    joined = "".join(piece.document(totals_only, parts, options=options, **rows))
    assert joined == RENDERERS[fmt](report, options=options)


def _run_cli(monkeypatch, tmp_path, formats, *extra):
    """The three example models to each format in one run: (the report the run kept,
    each output's text)."""
    kept: list[Report] = []
    monkeypatch.setattr("auditor.cli.check._gate_notes", kept.append)
    monkeypatch.chdir(ROOT)
    paths = [f"examples/models/{name}" for name in MODELS]
    out = {fmt: tmp_path / f"report.{fmt}" for fmt in formats}
    args = [*paths, "--exit-zero", *(f"-o{fmt}:{path}" for fmt, path in out.items()), *extra]
    assert main(args) == 0
    (report,) = kept
    assert report.summary.models == len(paths)
    return report, {fmt: path.read_text() for fmt, path in out.items()}


def _whole(fmt: str, options: RenderOptions) -> str:
    """The library's rendering of the same run, the duration fixed as `_same` fixes it."""
    paths = [f"examples/models/{name}" for name in MODELS]
    return _same(fmt, RENDERERS[fmt](_stable(run(paths, AuditConfig())), options=options))


def _same(fmt: str, text: str) -> str:
    """An output with its run's duration replaced by 0.05 s."""
    if fmt == "json":
        data = json.loads(text)
        data["summary"]["duration_seconds"] = 0.05
        return json.dumps(data)
    for pattern, fixed in _DURATIONS:
        text = re.sub(pattern, fixed, text)
    return text


_DURATIONS = (  # where each text format shows the run's duration
    (r"in \d+\.\d\d s", "in 0.05 s"),  # text
    (r"\d+\.\d\d s</span>", "0.05 s</span>"),  # HTML
    (r'(<testsuites [^>]*) time="\d+\.\d{3}"', r'\1 time="0.050"'),  # JUnit
)


def test_a_run_writing_model_by_model_keeps_no_model(tmp_path, monkeypatch, options):
    """Three files to every format in one run: the run keeps no model, only the totals,
    and writes what the library renders from the whole report (JSON with every
    inventory)."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    report, written = _run_cli(monkeypatch, tmp_path, sorted(FORMATS))
    assert report.models == []
    assert report.summary.findings > 0
    assert all(m["inventory"] for m in json.loads(written["json"])["models"])
    for fmt, text in written.items():
        assert _same(fmt, text) == _whole(fmt, options), fmt


def test_the_baseline_and_the_job_summary_are_written_model_by_model_too(
    tmp_path, monkeypatch, options
):
    """A run that writes a baseline and GitHub's job summary keeps no model either: the
    baseline is what a `BaselineBuilder` gives for the whole report, and the job summary is
    the Markdown the library renders, appended to what the file held."""
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    baseline = tmp_path / "baseline.json"
    report, _ = _run_cli(monkeypatch, tmp_path, ("github",), "--write-baseline", str(baseline))
    assert report.models == []
    paths = [f"examples/models/{name}" for name in MODELS]
    whole = run(paths, AuditConfig())
    builder = BaselineBuilder()
    for model in whole.models:
        builder.add(model)
    assert json.loads(baseline.read_text()) == builder.baseline().model_dump(mode="json")
    written = summary.read_text()
    assert written.startswith("earlier step\n")
    assert _same("markdown", written.removeprefix("earlier step\n")) == _whole("markdown", options)


def test_the_engine_hands_over_each_gated_model_in_order():
    """`on_model` sees each model with its suppressions applied, as it finishes; the
    report keeps what it returns, and the totals count every model."""
    seen: list[ModelReport] = []

    def keep(model: ModelReport) -> ModelReport | None:
        seen.append(model)
        return model if len(seen) == 1 else None

    config = AuditConfig(
        suppress=[Suppress(code="REG004", path="*", layer="dw*", reason="kept on purpose")]
    )
    paths = [EXAMPLES / "depthwise_decay.keras", EXAMPLES / "clean.keras"]
    report = run(paths, config, on_model=keep)
    assert [Path(m.source.path).name for m in seen] == ["depthwise_decay.keras", "clean.keras"]
    marks = {f.location.layer_path: f.suppressed for f in seen[0].findings if f.code == "REG004"}
    assert marks["dw1"] is not None and marks["dw1"].reason == "kept on purpose"
    assert all(m.inventory for m in seen)
    assert report.models == seen[:1]
    assert report.summary.models == 2
    assert report.summary.suppressed == 1 and report.unused_suppressions == []


def test_quiet_text_spools_nothing_and_the_other_outputs_their_parts(
    tmp_path, monkeypatch, capsys, options
):
    """`--quiet` text is the summary line alone, so it gets no spool: no model's text is
    rendered, while a JSON output of the same run still gets every model's part."""
    added: list[str] = []
    real_add = Spool.add

    def recording(self: Spool, model: ModelReport) -> None:
        added.append(self._label)
        real_add(self, model)

    monkeypatch.setattr(Spool, "add", recording)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    target = tmp_path / "report.json"
    paths = [str(EXAMPLES / name) for name in MODELS]
    assert main([*paths, "-q", "-o", "text:-", "-o", f"json:{target}", "--exit-zero"]) == 0
    out = capsys.readouterr().out
    assert re.fullmatch(r"Found \d+ findings \(.*\) in 3 models in \d+\.\d\d s\n", out)
    assert added == ["JSON"] * 3
    assert len(json.loads(target.read_text())["models"]) == 3


def test_an_output_without_a_spool_says_so():
    from auditor.cli.spools import Spools

    with Spools([None, "json"], [RenderOptions(), RenderOptions()]) as spools:
        assert spools[1] is not None
        with pytest.raises(KeyError, match="output 0 is written without parts"):
            spools[0]


def test_a_spool_refuses_a_report_of_another_run(reports):
    with Spool(pieces("json"), RenderOptions(), "JSON") as spool:
        spool.add(reports[1].models[0])
        with pytest.raises(ValueError, match="counts 3 models and holds 3, but 1 were spooled"):
            spool.document(reports[3])
        one_of_three = reports[3].model_copy(update={"models": reports[3].models[:1]})
        with pytest.raises(ValueError, match="counts 3 models and holds 1, but 1 were spooled"):
            spool.document(one_of_three)
        two = reports[3].model_copy(
            update={"models": reports[3].models[:2], "summary": reports[1].summary}
        )
        with pytest.raises(ValueError, match="counts 1 models and holds 2, but 1 were spooled"):
            spool.document(two)
        expected = json.loads(reports[1].to_json())
        assert json.loads("".join(spool.document(reports[1]))) == expected
        kept_none = reports[1].model_copy(update={"models": []})
        assert json.loads("".join(spool.document(kept_none))) == expected


class _FullDisk(io.BytesIO):
    def write(self, data: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("when", ["create", "write"])
def test_an_unwritable_temporary_folder_is_a_one_line_error(monkeypatch, capsys, when):
    """Creating the temporary file, or writing a model's part to it, fails: exit 2 with one
    line naming the output, the cause and what to do."""

    def temporary_file(*args: object, **kwargs: object) -> io.BytesIO:
        if when == "create":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return _FullDisk()

    monkeypatch.setattr(tempfile, "TemporaryFile", temporary_file)
    with pytest.raises(SystemExit) as exited:
        main([str(EXAMPLES / "clean.keras"), "--format", "html"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "audit: error: cannot keep the HTML output in a temporary file (No space left on "
        "device); expected a writable temporary folder (set TMPDIR)\n"
    )
