"""JSON and HTML written model by model: the pieces join to exactly the whole-report text,
the document needs no inventory, the CLI keeps only inventory-free models while writing
the same documents the library renders, the engine hands each gated model over as it
finishes, and a temporary file that cannot be written is a one-line usage error."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import tempfile
from pathlib import Path

import pytest

from auditor.cli import _rule_infos, main
from auditor.cli_stream import Spool, without_inventory
from auditor.config import AuditConfig, Suppress
from auditor.engine import build_report, run
from auditor.findings import ModelReport, Report
from reports import RENDERERS, STREAMED, RenderOptions, pieces

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
    return RenderOptions(rules=_rule_infos())


def _strip(report: Report) -> Report:
    return report.model_copy(update={"models": [without_inventory(m) for m in report.models]})


@pytest.mark.parametrize("count", [0, 1, 3])
def test_json_pieces_join_to_the_report_json(reports, count):
    report = reports[count]
    assert report.models[:1] == [] or report.models[0].inventory
    assert pieces("json").render(report) == report.to_json(indent=2) + "\n"


@pytest.mark.parametrize("fmt", sorted(STREAMED))
@pytest.mark.parametrize("count", [0, 1, 3])
def test_the_document_reads_no_inventory(reports, options, fmt, count):
    """Parts from the full models, the document from models stripped of their inventories:
    the same text as rendering the whole report."""
    report, piece = reports[count], pieces(fmt)
    parts = [piece.model(m, i, options=options) for i, m in enumerate(report.models, 1)]
    joined = "".join(piece.document(_strip(report), iter(parts), options=options))
    assert joined == RENDERERS[fmt](report, options=options)
    if count:
        assert _strip(report) != report  # the stripped models really lost something


def test_the_cli_keeps_no_inventory_and_writes_what_the_library_renders(
    tmp_path, monkeypatch, options
):
    """Three files to JSON, HTML and text in one run: the documents equal the library's
    rendering of the whole report, and the report the run kept has no inventories."""
    kept: list[Report] = []
    text = RENDERERS["text"]

    def spy(report: Report, *, options: RenderOptions) -> str:
        kept.append(report)
        return text(report, options=options)

    monkeypatch.setitem(RENDERERS, "text", spy)
    monkeypatch.chdir(ROOT)
    paths = [f"examples/models/{name}" for name in MODELS]
    out = {fmt: tmp_path / f"report.{fmt}" for fmt in ("json", "html", "text")}
    args = [*paths, "--exit-zero", *(f"-o{fmt}:{path}" for fmt, path in out.items())]
    assert main(args) == 0

    (report,) = kept
    assert [m.source.path for m in report.models] == paths
    assert all(m.inventory == [] for m in report.models)
    expected = _stable(run(paths, AuditConfig()))
    written = json.loads(out["json"].read_text())
    written["summary"]["duration_seconds"] = 0.05
    assert written == json.loads(expected.to_json())
    assert all(m["inventory"] for m in written["models"])
    html = re.sub(r"\d+\.\d\d s</span>", "0.05 s</span>", out["html"].read_text())
    assert html == RENDERERS["html"](expected, options=options)


def test_the_engine_hands_over_each_gated_model_in_order():
    """`on_model` sees each model with its suppressions applied, as it finishes; the
    report keeps what it returns."""
    seen: list[ModelReport] = []

    def keep(model: ModelReport) -> ModelReport:
        seen.append(model)
        return without_inventory(model)

    config = AuditConfig(
        suppress=[Suppress(code="REG004", path="*", layer="dw*", reason="kept on purpose")]
    )
    paths = [EXAMPLES / "depthwise_decay.keras", EXAMPLES / "clean.keras"]
    report = run(paths, config, on_model=keep)
    assert [Path(m.source.path).name for m in seen] == ["depthwise_decay.keras", "clean.keras"]
    marks = {f.location.layer_path: f.suppressed for f in seen[0].findings if f.code == "REG004"}
    assert marks["dw1"] is not None and marks["dw1"].reason == "kept on purpose"
    assert all(m.inventory for m in seen)
    assert report.models == [without_inventory(m) for m in seen]
    assert report.summary.suppressed == 1 and report.unused_suppressions == []


def test_a_spool_refuses_a_report_of_another_run(reports):
    with Spool(pieces("json"), RenderOptions(), "JSON") as spool:
        spool.add(reports[1].models[0])
        with pytest.raises(ValueError, match="the report has 3 models but 1 were spooled"):
            spool.document(reports[3])
        assert json.loads("".join(spool.document(reports[1]))) == json.loads(reports[1].to_json())


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
