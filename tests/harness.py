"""`assert_rule`: run one rule through the real engine and compare exact findings."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auditor.engine.config import AuditConfig
from auditor.engine.runner import run, run_live
from auditor.results.findings import Finding, Report, Severity
from auditor.rules.base import DOC_SECTIONS

Source = Path | Any  # a saved model's path, or a live keras.Model


#: A docstring with every section the registry asks of a rule, for rules the tests define.
DOC = "\n".join(
    f"## {s}\n" + ("x\n\nUse instead:\ny" if s == "Example" else "x") for s in DOC_SECTIONS
)


def functional(keras: Any, name: str, shape: tuple[int, ...], build: Any) -> Any:
    """A Functional model `name` on an input of `shape` whose body `build(layers, x)`
    returns the output."""
    inputs = keras.Input(shape)
    return keras.Model(inputs, build(keras.layers, inputs), name=name)


def save_cases(
    keras: Any, save_model: Any, prefix: str, cases: Mapping[str, Any]
) -> dict[str, dict[str, Path]]:
    """Each case saved in both formats as `{prefix}_{name}`: a body `build(layers, x)` on
    an input of shape (6,), or a `(build, shape)` pair."""
    saved = {}
    for name, case in cases.items():
        build, shape = case if isinstance(case, tuple) else (case, (6,))
        saved[name] = save_model(functional(keras, name, shape, build), f"{prefix}_{name}")
    return saved


def audit_one(source: Source, code: str, options: Mapping[str, Any] | None = None) -> Report:
    config = AuditConfig(select=[code], rules={code: dict(options or {})})
    if isinstance(source, Path):
        return run([source], config)
    return run_live(source, config)


def findings_of(
    source: Source, code: str, options: Mapping[str, Any] | None = None
) -> list[Finding]:
    """The findings of one rule on one file or live model, after checking the report."""
    report = audit_one(source, code, options)
    model = report.models[0]
    assert model.errors == [], f"rule crashed: {model.errors}"
    assert code in model.rules_run, f"{code} did not run: {model.rules_not_applicable}"
    # Every finding survives the JSON round trip unchanged.
    assert Report.model_validate_json(report.to_json()) == report
    return [f for f in model.findings if f.code == code]


def assert_rule(
    path: Source,
    code: str,
    expected: set[tuple[str, str | None]],
    *,
    options: Mapping[str, Any] | None = None,
    severity: Severity | None = None,
) -> list[Finding]:
    """Assert the exact set of (layer_path, weight) locations the rule reports."""
    found = findings_of(path, code, options)
    got = {(f.location.layer_path, f.location.weight) for f in found}
    assert got == expected, "\n".join(f"{f.location} {f.message}" for f in found)
    assert len(found) == len(expected), "duplicate findings"
    if severity is not None:
        assert {f.severity for f in found} <= {severity}
    return found


def rewrite_config(src: Path, dst: Path, edit: Any) -> Path:
    """Copy a saved model, letting `edit(model_config, optimizer_config)` change its JSON.

    `.keras`: config.json (the optimizer config under `compile_config`); `.h5`: the
    `model_config` and `training_config` attributes. Every other byte is copied as is.
    """
    import json
    import shutil
    import zipfile

    import h5py

    if src.suffix == ".keras":
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
            for info in zin.infolist():
                data = zin.read(info)
                if info.filename == "config.json":
                    doc = json.loads(data)
                    compiled = doc.get("compile_config") or {}
                    edit(doc, (compiled.get("optimizer") or {}).get("config"))
                    data = json.dumps(doc).encode()
                zout.writestr(info, data)
        return dst
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        model_config = json.loads(f.attrs["model_config"])
        training = json.loads(f.attrs["training_config"]) if "training_config" in f.attrs else {}
        edit(model_config, (training.get("optimizer_config") or {}).get("config"))
        f.attrs["model_config"] = json.dumps(model_config)
        if training:
            f.attrs["training_config"] = json.dumps(training)
    return dst
