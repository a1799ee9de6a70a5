"""The bundled example models audit as `make demo` shows them: each classic mistake is
found where it is, and each model that once drew a false finding stays clean (the
findings are pinned per file, both formats alike)."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.engine.config import AuditConfig
from auditor.engine.runner import run

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "models"

EXPECTED = {
    "adamw_all": {("REG004", ""), ("REG005", ""), ("REG006", ""), ("WD003", "")},
    "bare_l2": {
        ("REG009", "bare_l2/head"),
        ("REG009", "bare_l2/wide1"),
        ("REG009", "bare_l2/wide2"),
        ("REG010", ""),
        ("WD002", ""),
    },
    "batchnorm_decay": {("REG005", "batchnorm_decay/bn"), ("REG008", "batchnorm_decay/conv")},
    "bias_decay": {("REG006", "bias_decay/head"), ("REG006", "bias_decay/hidden")},
    "clean": set(),
    "depthwise_decay": {("REG004", "dw1"), ("REG004", "sep2")},
    "frozen_backbone": {("REG007", "backbone")},
    "nested_backbone": {("REG003", "head")},
    "reset_weights": {
        ("WGT001", ""),
        ("WGT001", "reset_weights/head"),
        ("WGT001", "reset_weights/hidden1"),
        ("WGT001", "reset_weights/hidden2"),
    },
    # Once false findings, now right: a softmax behind an Activation layer (REG010), the
    # tutorials' plain classifier head (REG003), dead units of 1e-25 and 1e-20 (WGT004
    # called the first all-zero and missed the second), Keras 2.0's Merge (AUD002, SEC002).
    "softmax_head": set(),
    "tutorial_cnn": set(),
    "dead_units": {("WGT004", "dead_units/hidden")},
    "softmax_activity": {("REG013", "softmax_activity/head")},
    # The dropout mistakes, each DRP rule once or more (REG008: the L2 kernel before the
    # dropout that feeds BatchNormalization).
    "dropout_cnn": {
        ("DRP002", "conv1_drop"),
        ("DRP003", "flat_drop"),
        ("DRP004", "output_drop"),
        ("DRP006", "mc_drop"),
    },
    "dropout_sequence": {
        ("DRP001", "dense_drop"),
        ("DRP005", "dense_drop"),
        ("DRP005", "selu_drop"),
        ("DRP007", "lstm"),
        ("REG008", "dense"),
    },
    "keras206_merge": set(),
    "keras216_bidirectional": {("REG014", "model/bidirectional_1"), ("WD002", "")},
    # The weights of `clean` alone: audited, not refused (AUD002 says what it cannot judge).
    "clean.weights": {("AUD002", "")},
}


@pytest.fixture(scope="module")
def found() -> dict[str, set[tuple[str, str]]]:
    report = run([EXAMPLES], AuditConfig())
    return {
        Path(m.source.path).name: {(f.code, f.location.layer_path) for f in m.findings}
        for m in report.models
    }


def test_every_example_file_is_pinned(found):
    names = {Path(name).stem for name in found}
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_an_example_audits_as_the_demo_shows(found, name):
    files = [f for f in found if Path(f).stem == name]
    assert files, f"no file for {name}"
    for file in files:
        assert found[file] == EXPECTED[name], file
