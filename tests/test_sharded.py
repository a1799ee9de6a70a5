"""Sharded weights (`save_weights("NAME.weights.json", max_shard_size=...)`, Keras >= 3.10):
the index and its shards read as one weights-only model, a layer spanning shards
included; a search audits the index, not its shards again; shard paths that leave the
folder, links and missing shards are reported, never followed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from auditor.engine.config import AuditConfig
from auditor.engine.discovery import discover
from auditor.engine.runner import run
from auditor.loaders import open_model

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "models"


@pytest.fixture(scope="module")
def sharded(keras, tmp_path_factory):
    root = tmp_path_factory.mktemp("sharded")
    model = keras.saving.load_model(EXAMPLES / "depthwise_decay.keras")
    model.save_weights(root / "m.weights.json", max_shard_size=0.000005)  # GB: ~5 KB
    model.save_weights(root / "whole.weights.h5")
    return root


def _view(path):
    with open_model(path) as loaded:
        graph = loaded.graph
        return graph, {w.path: (w.role.value, w.shape) for w in graph.weights()}


def test_shards_read_as_one_weights_file(sharded):
    index = json.loads((sharded / "m.weights.json").read_text())
    spanning = [group for group, shards in index["weight_map"].items() if len(shards) > 1]
    assert spanning, "the fixture should split a layer across shards"
    graph, found = _view(sharded / "m.weights.json")
    _, expected = _view(sharded / "whole.weights.h5")
    assert found == expected
    assert graph.readable and graph.issues == () and graph.unclaimed == ()
    assert graph.source.format == "weights"
    whole = run([sharded / "whole.weights.h5"], AuditConfig(select=["WGT", "AUD"])).findings
    split = run([sharded / "m.weights.json"], AuditConfig(select=["WGT", "AUD"])).findings
    assert [(f.code, f.message) for f in split] == [(f.code, f.message) for f in whole]


def test_a_search_audits_the_index_and_not_its_shards(sharded):
    found = discover([sharded])
    assert found == [str(sharded / "m.weights.json"), str(sharded / "whole.weights.h5")]


def _copy(sharded, tmp_path, weight_map):
    folder = tmp_path / "copy"
    shutil.copytree(sharded, folder)
    index = json.loads((folder / "m.weights.json").read_text())
    index["weight_map"] = weight_map(index["weight_map"])
    (folder / "m.weights.json").write_text(json.dumps(index))
    return folder / "m.weights.json"


def test_a_shard_path_that_leaves_the_folder_is_sec004(sharded, tmp_path):
    path = _copy(sharded, tmp_path, lambda m: {**m, "/layers/dense/vars": ["../../etc/passwd"]})
    (finding,) = run([path], AuditConfig(select=["SEC004"])).findings
    assert finding.message == (
        "The file is malformed in a way that attacks readers: shard '../../etc/passwd' of "
        "weight_map['/layers/dense/vars'] leads out of the folder (expected a file name "
        "beside the index); not opened."
    )
    assert finding.location.config_key == "/layers/dense/vars"


def test_missing_and_linked_shards_are_reported(sharded, tmp_path):
    path = _copy(sharded, tmp_path, lambda m: {**m, "/layers/extra/vars": ["gone.weights.h5"]})
    (path.parent / "m_00002.weights.h5").rename(tmp_path / "elsewhere.h5")
    (path.parent / "m_00002.weights.h5").symlink_to(tmp_path / "elsewhere.h5")
    with open_model(path) as loaded:
        issues = {(i.kind.value, i.message) for i in loaded.graph.issues}
    assert ("unreadable", "shard 'gone.weights.h5' is missing") in issues
    assert (
        "external-reference",
        "shard 'm_00002.weights.h5' is a symbolic link (not followed)",
    ) in issues
    codes = {f.code for f in run([path], AuditConfig()).findings}
    assert {"AUD001", "SEC003"} <= codes


def test_an_index_without_a_weight_map_is_aud001(tmp_path):
    path = tmp_path / "x.weights.json"
    path.write_text('{"metadata": {}}')
    (finding,) = run([path], AuditConfig()).findings
    assert finding.code == "AUD001"
    assert "has no weight_map object" in finding.message
