"""The engine: rule isolation, applicability, exit codes, and what loaders give rules."""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import ClassVar

import pytest

from auditor import rules
from auditor.engine.config import AuditConfig
from auditor.engine.registry import Registry
from auditor.engine.runner import run
from auditor.errors import UsageError
from auditor.loaders import open_model
from auditor.results.findings import Severity
from auditor.rules.base import Rule, RuleOptions
from tests.harness import DOC

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "models"


class Crashes(Rule):
    __doc__ = DOC
    code: ClassVar[str] = "XYZ100"
    name: ClassVar[str] = "crashes"
    severity: ClassVar[Severity] = Severity.ERROR

    class Options(RuleOptions):
        pass

    def check_model(self, model, ctx):
        raise ZeroDivisionError("boom")
        yield  # pragma: no cover


@pytest.fixture(scope="module")
def files(keras, save_model, tmp_path_factory):
    from keras.src.saving import saving_lib

    L, R = keras.layers, keras.regularizers
    model = keras.Sequential(
        [keras.Input((3,)), L.Dense(2, kernel_regularizer=R.L2(1e-4), bias_regularizer="l2")],
        name="m",
    )
    schedule = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=100)
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    paths = save_model(model, "engine")
    npz = tmp_path_factory.mktemp("npz") / "npz.keras"
    saving_lib.save_model(model, npz, weights_format="npz")

    class Net(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.body = L.Dense(4, kernel_regularizer="l2", name="body_dense")

        def call(self, x):
            return self.body(x)

    net = Net(name="net")
    net(keras.ops.zeros((1, 3)))
    subclassed = save_model(net, "subclassed", formats=("keras",))["keras"]
    return {**paths, "npz": npz, "subclassed": subclassed}


def test_a_crashing_rule_is_recorded_and_the_others_still_run(files):
    registry = Registry(rules.BUILTIN_RULES, plugins=[Crashes])
    report = run([files["keras"]], AuditConfig(select=["XYZ100", "REG006"]), registry=registry)
    (model,) = report.models
    assert [(e.code, e.message) for e in model.errors] == [("XYZ100", "ZeroDivisionError: boom")]
    assert [f.code for f in model.findings] == ["REG006"]
    assert report.summary.rule_errors == 1


def test_a_crashing_rule_fails_the_file_closed(files):
    """A crash leaves that rule's part of the audit undone: AUD001 says so, as an error,
    and the exit code counts it; the crash stays recorded."""
    registry = Registry(rules.BUILTIN_RULES, plugins=[Crashes])
    config = AuditConfig(select=["XYZ100", "AUD001"])
    report = run([files["keras"]], config, registry=registry)
    (model,) = report.models
    assert [(f.code, f.severity, f.message) for f in model.findings] == [
        (
            "AUD001",
            Severity.ERROR,
            "The audit of this file is incomplete: rule XYZ100 crashed (ZeroDivisionError: "
            "boom). What that rule checks was not checked, so the file is not known to be safe.",
        )
    ]
    assert [e.code for e in model.errors] == ["XYZ100"]
    assert report.exit_code("error") == 1


class Sleeps(Rule):
    __doc__ = DOC
    code: ClassVar[str] = "XYZ101"
    name: ClassVar[str] = "sleeps"
    severity: ClassVar[Severity] = Severity.INFO

    def check_model(self, model, ctx):
        try:
            time.sleep(5)
        except Exception:  # what a careless rule does: it must not take the time limit
            return
        yield  # pragma: no cover


def test_the_time_limit_firing_inside_a_rule_is_an_unreadable_file(files):
    registry = Registry(rules.BUILTIN_RULES, plugins=[Sleeps])
    config = AuditConfig(select=["XYZ101", "AUD001"], timeout=0.5)
    report = run([files["keras"]], config, registry=registry)
    (model,) = report.models
    assert [(f.code, f.severity) for f in model.findings] == [("AUD001", Severity.ERROR)]
    assert "longer than the per-file time limit of 0.5 s" in model.findings[0].message
    assert model.errors == []


def test_debug_reraises_a_rule_crash(files):
    registry = Registry(rules.BUILTIN_RULES, plugins=[Crashes])
    with pytest.raises(ZeroDivisionError):
        run([files["keras"]], AuditConfig(select=["XYZ100"]), registry=registry, debug=True)


def test_npz_weights_are_not_read_and_weight_rules_are_not_applicable(files):
    report = run([files["npz"]], AuditConfig())
    (model,) = report.models
    live_only = "needs a live keras.Model (auditor.audit(model)); a file cannot show it"
    uncompiled = "the model was not compiled: there is no optimizer to judge"
    no_tensor = "no weight tensor could be read from this source"
    assert [(n.code, n.reason) for n in model.rules_not_applicable] == [
        ("REG001", live_only),
        ("REG002", live_only),
        ("REG010", no_tensor),
        ("REG012", live_only),
        ("SEC005", "reads a SavedModel's graph; this source holds none"),
        *[(code, uncompiled) for code in ("WD001", "WD002", "WD003")],
        ("WD004", live_only),
        *[(code, uncompiled) for code in ("WD005", "WD006")],
        *[(code, no_tensor) for code in ("WGT001", "WGT002", "WGT003", "WGT004", "WGT005")],
    ]
    errors = [f.code for f in model.findings if f.severity is Severity.ERROR]
    assert errors == ["AUD001"] + ["SEC002"] * (len(errors) - 1)  # the pickles' imports
    assert "never unpickles" in model.findings[0].message
    assert {f.code for f in model.findings} == {"AUD001", "REG006", "REG009", "SEC002"}


def test_subclassed_root_is_opaque_but_its_weights_are_claimed(files):
    report = run([files["subclassed"]], AuditConfig(select=["AUD"]))
    (model,) = report.models
    assert [(f.code, f.location.layer_path) for f in model.findings] == [("AUD002", "")]
    assert model.findings[0].details["weights"] == 2
    assert model.summary.parameters == 16


def test_learning_rate_schedule_is_read(files):
    for fmt in ("keras", "h5"):
        with open_model(files[fmt]) as loaded:
            optimizer = loaded.graph.optimizer
        assert optimizer.class_name == "SGD"
        assert optimizer.learning_rate_schedule == "CosineDecay"
        assert optimizer.learning_rate == pytest.approx(0.1)


def test_exit_code_thresholds(files):
    report = run([files["keras"]], AuditConfig(select=["REG006", "REG009"]))
    assert {f.severity for f in report.findings} == {Severity.INFO, Severity.WARNING}
    assert report.exit_code("warning") == 1
    assert report.exit_code("error") == 0
    assert report.exit_code("never") == 0
    with pytest.raises(ValueError, match="Received: fail_on='fatal'"):
        report.exit_code("fatal")
    # A run that kept none of its models (every output written model by model) has the
    # same totals, and so the same exit codes.
    kept_none = run(
        [files["keras"]], AuditConfig(select=["REG006", "REG009"]), on_model=lambda m: None
    )
    assert kept_none.models == [] and kept_none.summary == report.summary.model_copy(
        update={"duration_seconds": kept_none.summary.duration_seconds}
    )
    for fail_on in ("info", "warning", "error", "never"):
        assert kept_none.exit_code(fail_on) == report.exit_code(fail_on)
    assert kept_none.exit_code("info") == 1 and kept_none.failing("info") == []


def test_severity_override_and_bad_options_are_usage_errors(files):
    report = run([files["keras"]], AuditConfig(select=["REG006"], severity={"bias-decay": "error"}))
    assert {f.severity for f in report.findings} == {Severity.ERROR}
    with pytest.raises(UsageError, match=r"invalid options for REG009 .*min"):
        run([files["keras"]], AuditConfig(select=["REG009"], rules={"REG009": {"min": -1}}))
    with pytest.raises(UsageError, match="Received: 'REG999'"):
        run([files["keras"]], AuditConfig(select=["REG999"]))


def test_report_carries_the_files_sha256(files):
    import hashlib

    for fmt in ("keras", "h5"):
        report = run([files[fmt]], AuditConfig(select=["REG006"]))
        expected = hashlib.sha256(files[fmt].read_bytes()).hexdigest()
        assert report.models[0].source.sha256 == expected
        assert report.models[0].source.size_bytes == files[fmt].stat().st_size


def test_a_rule_used_on_its_own_as_the_readme_shows(tmp_path, monkeypatch):
    """The README's example, run as written, on a copy of an example model."""
    import re
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    intro = readme.index("Rules are importable and usable on their own:")
    (example,) = re.findall(r"```python\n(.*?)```", readme[intro:], re.S)[:1]
    shutil.copy(root / "examples/models/depthwise_decay.keras", tmp_path / "model.keras")
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(example, scope)
    assert [f.location.layer_path for f in scope["findings"]] == ["dw1", "sep2"]


def test_entry_point_rules_are_discovered(monkeypatch):
    import auditor.engine.registry as registry_module

    class FakeEntryPoint:
        value = "acme_rules:Crashes"

        def load(self):
            return Crashes

    def entry_points(group):
        assert group == "keras_audit.rules"
        return [FakeEntryPoint()]

    monkeypatch.setattr("importlib.metadata.entry_points", entry_points)
    registry = registry_module.load_registry()
    assert registry.get("XYZ100") is Crashes
    assert registry.get("REG004") is rules.DepthwiseDecay


def test_the_inventory_refuses_statistics_computed_without_its_fields():
    """Text runs skip the zero count and the histograms; an inventory built from such
    statistics would show zeros that were never counted, so it is an error."""
    from pathlib import Path

    from auditor.engine.judge import read_stats
    from auditor.tensors.inventory import inventory

    model = Path(__file__).resolve().parents[1] / "examples" / "models" / "clean.keras"
    with open_model(model, digest=False) as loaded:
        full, _ = read_stats(loaded.graph, None, inventory=True)
        lean, _ = read_stats(loaded.graph, None, inventory=False)
        assert {path: s.zeros for path, s in lean.items()} == dict.fromkeys(full)
        assert inventory(loaded.graph, full)
        with pytest.raises(ValueError, match=r"expected compute\(\.\.\., inventory=True\)"):
            inventory(loaded.graph, lean)


def test_the_callers_garbage_collector_state_is_left_as_it_was():
    """Files are read in a forked child, with the parent's objects frozen around the fork
    so that the child's collections do not copy them; a caller's own frozen objects stay
    frozen, and nothing stays frozen for a caller that froze nothing."""
    model = str(EXAMPLES / "clean.keras")
    assert gc.get_freeze_count() == 0
    assert run([model]).models[0].source.format == "keras"
    assert gc.get_freeze_count() == 0
    mine = [["a container the collector tracks"]]
    gc.freeze()
    try:
        assert run([model]).models[0].source.format == "keras"
        assert not any(o is mine for o in gc.get_objects())  # frozen: in no generation
    finally:
        gc.unfreeze()
    assert any(o is mine for o in gc.get_objects())


def _names_and_codes(report):
    return [(Path(m.source.path).name, sorted(f.code for f in m.findings)) for m in report.models]


def test_the_isolated_child_sends_a_report_before_it_closes_the_file(files, monkeypatch, tmp_path):
    """Closing an HDF5 file of a thousand tensors takes 30-50 ms, so the isolated child
    sends a file's report first and the run goes on meanwhile: the first report arrives
    while its file is still closing, the second after that close, both whole."""
    import time

    from auditor.loaders.loaded import LoadedModel

    closed = tmp_path / "closed"
    real_close = LoadedModel.close

    def slow_close(self):
        time.sleep(1.0)
        real_close(self)
        closed.touch()

    expected = _names_and_codes(run([files["keras"], files["h5"]], AuditConfig(), debug=True))
    monkeypatch.setattr(LoadedModel, "close", slow_close)
    seen: list[bool] = []

    def on_model(model):
        seen.append(closed.exists())
        return model

    report = run([files["keras"], files["h5"]], AuditConfig(), on_model=on_model)
    assert seen == [False, True]
    assert _names_and_codes(report) == expected


def test_a_file_that_fails_to_close_after_its_report_left_keeps_its_report(files, monkeypatch):
    """Once the isolated child has sent a report, a failure while closing the file is
    not sent as a second answer: the next file gets its own report, not the leftover."""
    from auditor.loaders.loaded import LoadedModel

    real_close = LoadedModel.close

    def failing_close(self):
        real_close(self)
        raise OSError("the disk went away")

    expected = _names_and_codes(run([files["keras"], files["h5"]], AuditConfig(), debug=True))
    monkeypatch.setattr(LoadedModel, "close", failing_close)
    report = run([files["keras"], files["h5"]], AuditConfig())
    assert _names_and_codes(report) == expected
    assert "AUD001" not in {f.code for f in report.findings}


def test_a_file_that_kills_its_reader_is_aud001_and_the_run_goes_on(files, tmp_path):
    """The isolated child dies (as in a crash of the HDF5 library); a new one reads the
    next file."""
    from tests.misbehaving_rules import KillsItsProcess

    first, second = tmp_path / "poison1.keras", tmp_path / "poison2.keras"
    for poison in (first, second):
        poison.write_bytes(Path(files["keras"]).read_bytes())
    registry = Registry(rules.BUILTIN_RULES, plugins=[KillsItsProcess])
    config = AuditConfig(select=["XYZ200", "AUD001"], timeout=60)
    report = run([first, files["keras"], second], config, registry=registry)
    crashed = "Cannot audit this file: the reader crashed on this file (exit code -9)."
    assert [[f.message for f in m.findings] for m in report.models] == [[crashed], [], [crashed]]


def test_a_reader_hung_where_no_signal_reaches_is_killed(files, tmp_path):
    from tests.misbehaving_rules import Hangs

    hang = tmp_path / "hang.h5"
    hang.write_bytes(Path(files["h5"]).read_bytes())
    registry = Registry(rules.BUILTIN_RULES, plugins=[Hangs])
    config = AuditConfig(select=["XYZ201", "AUD001"], timeout=0.5)
    started = time.monotonic()
    report = run([hang, files["h5"]], config, registry=registry)
    assert [[f.message for f in m.findings] for m in report.models] == [
        [
            "Cannot audit this file: auditing the file took longer than the per-file time "
            "limit of 0.5 s (timeout setting); the reader was stopped."
        ],
        [],
    ]
    assert time.monotonic() - started < 20
