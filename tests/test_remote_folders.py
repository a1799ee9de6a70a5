"""Model folders and sharded weights at URLs, in moto's S3 server on 127.0.0.1: an
unzipped `.keras`, a keras_hub preset (whole and sharded), a tf.keras SavedModel and a
sharded-weights index are audited from their prefixes as their local copies are, each
member read by range; a prefix search finds each folder once; a missing shard is
reported as it is on disk."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from auditor.engine.config import AuditConfig
from auditor.engine.discovery import discover
from auditor.engine.runner import run
from auditor.loaders import open_model
from tests.servers import s3_bucket

pytest.importorskip("s3fs", reason="the [test] extra installs the [remote] extra")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "models"
VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c"]
CONFIG = AuditConfig(inventory=False, digest=False)


@pytest.fixture(scope="module")
def local(keras, tf_keras_savedmodels, tmp_path_factory):
    """The models, on disk: each entry of the folder is one model."""
    keras_hub = pytest.importorskip("keras_hub", reason="the [test] extra installs keras-hub")
    root = tmp_path_factory.mktemp("remote_folders")
    model = keras.saving.load_model(EXAMPLES / "depthwise_decay.keras")
    model.save(root / "unzipped", zipped=False)
    (root / "sharded").mkdir()
    model.save_weights(root / "sharded" / "m.weights.json", max_shard_size=0.000005)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(VOCABULARY),
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=16,
    )
    backbone.save_to_preset(root / "preset")
    backbone.save_to_preset(root / "sharded_preset", max_shard_size=0.000002)
    shutil.copytree(tf_keras_savedmodels / "cnn_sm", root / "savedmodel")
    return root


@pytest.fixture(scope="module")
def bucket(local):
    files = sorted(path for path in local.rglob("*") if path.is_file())
    with s3_bucket("folders", {path.relative_to(local).as_posix(): path for path in files}) as url:
        yield url


def _findings(report):
    return [(f.code, f.location.layer_path, f.message) for f in report.findings]


TARGETS = {
    "unzipped": ("unzipped/", "unzipped"),
    "preset": ("preset/", "preset"),
    "sharded preset": ("sharded_preset/", "sharded_preset"),
    "savedmodel": ("savedmodel/", "savedmodel"),
    "sharded index": ("sharded/m.weights.json", "sharded/m.weights.json"),
}


@pytest.mark.parametrize("target", TARGETS, ids=list(TARGETS))
def test_a_folder_at_a_prefix_is_audited_as_its_local_copy(local, bucket, target):
    remote_name, local_name = TARGETS[target]
    (remote,) = run([f"{bucket}/{remote_name}"], CONFIG).models
    (here,) = run([local / local_name], CONFIG).models
    assert _findings(remote) == _findings(here)
    assert remote.source.format == here.source.format
    with open_model(f"{bucket}/{remote_name}") as loaded, open_model(local / local_name) as disk:
        assert [(w.path, w.shape) for w in loaded.graph.weights()] == [
            (w.path, w.shape) for w in disk.graph.weights()
        ]
        assert loaded.graph.weights_read
    size = sum(p.stat().st_size for p in (local / local_name).resolve().rglob("*") if p.is_file())
    if (local / local_name).is_file():
        size = sum(p.stat().st_size for p in (local / local_name).parent.iterdir())
    assert remote.summary.requests > 0
    assert 0 < remote.summary.bytes_read <= 1.01 * size + 64 * 1024


def test_a_search_of_the_bucket_finds_each_model_once(bucket):
    found = discover([f"{bucket}/"])
    assert found == [
        f"{bucket}/preset/",
        f"{bucket}/savedmodel/",
        f"{bucket}/sharded/m.weights.json",
        f"{bucket}/sharded_preset/",
        f"{bucket}/unzipped/",
    ]


def test_a_missing_shard_at_a_url_is_reported(local, bucket):
    import boto3

    index = json.loads((local / "sharded" / "m.weights.json").read_text())
    index["weight_map"]["/layers/extra/vars"] = ["gone.weights.h5"]
    boto3.client("s3").put_object(
        Bucket="folders", Key="broken/m.weights.json", Body=json.dumps(index).encode()
    )
    with open_model(f"{bucket}/broken/m.weights.json") as loaded:
        messages = [i.message for i in loaded.graph.issues]
    assert "shard 'gone.weights.h5': no such object: s3://folders/broken/gone.weights.h5" in (
        messages
    )


def test_a_prefix_opened_as_a_model_must_hold_one(bucket):
    """A search of a prefix finds the models below it; a prefix opened as one model
    (`open_model`) that holds none, or nothing at all, is one line."""
    assert discover([f"{bucket}/sharded/"]) == [f"{bucket}/sharded/m.weights.json"]
    with open_model(f"{bucket}/sharded/") as loaded:
        assert [i.message for i in loaded.graph.issues] == [
            "is a folder, not a model: a model folder (model.save(path, zipped=False)) holds "
            "config.json and model.weights.h5, a SavedModel saved_model.pb"
        ]
    with open_model(f"{bucket}/nothing/") as loaded:
        assert [i.message for i in loaded.graph.issues] == ["no such prefix: s3://folders/nothing/"]
