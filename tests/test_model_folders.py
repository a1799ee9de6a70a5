"""Unzipped `.keras` folders (`model.save(path, zipped=False)`): read as the archive is,
found as one model by a folder search (their `model.weights.h5` not audited again), and
never followed out through a link."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from auditor.engine.config import AuditConfig
from auditor.engine.discovery import discover
from auditor.engine.runner import run
from auditor.loaders import open_model

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "models"


@pytest.fixture(scope="module")
def folder(keras, tmp_path_factory):
    model = keras.saving.load_model(EXAMPLES / "depthwise_decay.keras")
    path = tmp_path_factory.mktemp("folders") / "depthwise_decay"
    model.save(path, zipped=False)
    return path


def _view(path):
    with open_model(path) as loaded:
        graph = loaded.graph
        assert graph.readable, graph.issues
        return graph, {w.path: (w.role.value, w.shape, w.storage) for w in graph.weights()}


def test_a_folder_reads_as_its_archive(folder):
    assert sorted(p.name for p in folder.iterdir()) == [
        "assets",
        "config.json",
        "metadata.json",
        "model.weights.h5",
    ]
    graph, found = _view(folder)
    _, expected = _view(EXAMPLES / "depthwise_decay.keras")
    assert found == expected
    assert (graph.source.format, graph.source.keras_version) == ("keras", "3.15.1")
    assert _codes(folder) == _codes(EXAMPLES / "depthwise_decay.keras")


def _codes(path):
    return [(f.code, f.location.layer_path) for f in run([path], AuditConfig()).findings]


def test_a_search_finds_a_folder_as_one_model(folder, tmp_path):
    tree = tmp_path / "tree"
    (tree / "deep").mkdir(parents=True)
    shutil.copytree(folder, tree / "deep" / "model")
    shutil.copy(EXAMPLES / "clean.keras", tree / "clean.keras")
    expected = [str(tree / "clean.keras"), str(tree / "deep" / "model")]
    assert discover([tree]) == expected
    assert discover([str(tree / "**")]) == expected
    assert discover([tree / "deep" / "model"]) == [str(tree / "deep" / "model")]
    report = run([tree], AuditConfig())
    assert [m.source.path for m in report.models] == expected


def test_a_linked_member_is_reported_not_followed(folder, tmp_path):
    linked = tmp_path / "linked"
    shutil.copytree(folder, linked)
    outside = tmp_path / "outside.h5"
    (linked / "model.weights.h5").rename(outside)
    (linked / "model.weights.h5").symlink_to(outside)
    with open_model(linked) as loaded:
        issues = [(i.kind.value, i.message) for i in loaded.graph.issues]
    assert ("external-reference", "'model.weights.h5' is a symbolic link (not followed)") in issues
    assert ("unreadable", "archive has no weights member") in issues
    codes = {f.code for f in run([linked], AuditConfig()).findings}
    assert {"SEC003", "AUD001"} <= codes


def test_a_plain_folder_is_no_model(tmp_path):
    """Searched, a folder without a model holds none; opened as a model, it is a fatal
    issue (AUD001) that says what a model folder holds."""
    (tmp_path / "notes.txt").write_text("x")
    assert run([tmp_path], AuditConfig()).models == []
    with open_model(tmp_path) as loaded:
        (issue,) = loaded.graph.issues
    assert issue.fatal
    assert issue.message == (
        "is a folder, not a model: a model folder (model.save(path, zipped=False)) holds "
        "config.json and model.weights.h5, a SavedModel saved_model.pb"
    )


def test_mutated_folders_never_crash_the_audit(folder, tmp_path):
    rng = random.Random(11)
    for index in range(60):
        copy = tmp_path / f"m{index}"
        shutil.copytree(folder, copy)
        target = copy / rng.choice(["config.json", "metadata.json", "model.weights.h5"])
        data = bytearray(target.read_bytes())
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        target.write_bytes(bytes(data[: rng.randint(1, len(data))] if rng.random() < 0.3 else data))
        (model,) = run([copy], AuditConfig()).models
        assert model.errors == []
        shutil.rmtree(copy)
