"""keras_hub presets, written by keras_hub's own `save_to_preset`: read as one model (the
backbone's weights, sharded or not, and the task head's), with what a hyperparameter
config cannot show said, the declared parameter count checked, and tokenizer
vocabularies that are paths or URLs reported."""

from __future__ import annotations

import json
import shutil

import pytest

from auditor.engine.config import AuditConfig
from auditor.engine.discovery import discover
from auditor.engine.runner import run
from auditor.loaders import open_model

VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c"]


@pytest.fixture(scope="module")
def presets(keras, tmp_path_factory):
    keras_hub = pytest.importorskip("keras_hub", reason="the [test] extra installs keras-hub")
    root = tmp_path_factory.mktemp("presets")
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=8,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=16,
    )
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCABULARY)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=8)
    task = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=preprocessor)
    task.save_to_preset(root / "bert")
    backbone.save_to_preset(root / "sharded", max_shard_size=0.000002)  # GB: ~2 KB shards
    return root


def _weights(path):
    with open_model(path) as loaded:
        graph = loaded.graph
        return graph, {w.path: (w.role.value, w.shape) for w in graph.weights()}


def test_a_preset_is_one_model_of_its_weights_files(presets):
    graph, found = _weights(presets / "bert")
    assert (graph.source.format, graph.source.keras_version) == ("preset", "3.15.1")
    assert graph.root.registered_name == "keras_hub>BertBackbone"
    assert graph.issues == () and graph.unclaimed == ()
    shutil.copyfile(presets / "bert" / "model.weights.h5", presets / "backbone.weights.h5")
    _, backbone = _weights(presets / "backbone.weights.h5")
    head = {
        "bert_text_classifier/logits/kernel": ("kernel", (8, 2)),
        "bert_text_classifier/logits/bias": ("bias", (2,)),
    }
    assert found == {**backbone, **head}
    names = {name for name, _ in graph.documents}
    assert names == {
        "config.json",
        "metadata.json",
        "task.json",
        "tokenizer.json",
        "preprocessor.json",
    }


def test_sharded_backbone_weights(presets):
    assert (presets / "sharded" / "model.weights.json").exists()
    graph, found = _weights(presets / "sharded")
    _, whole = _weights(presets / "backbone.weights.h5")
    assert found == whole and graph.issues == ()


def test_what_a_hyperparameter_config_cannot_show_is_said(presets):
    report = run([presets / "bert"], AuditConfig(select=["AUD002", "REG004", "AUD003"]))
    model = report.models[0]
    (said,) = [f for f in model.findings if f.code == "AUD002" and f.location.layer_path == ""]
    assert said.message.startswith(
        "A keras_hub preset's config.json holds the backbone's hyperparameters, not its "
        "layers: 7 layer(s) with 25 weight(s) (914 parameters) were recognised"
    )
    assert [(s.code, s.reason) for s in model.rules_not_applicable] == [
        (
            "REG004",
            "a keras_hub preset's config.json holds the backbone's hyperparameters, not its "
            "layers: no layer setting to judge",
        )
    ]
    assert not [f for f in model.findings if f.code == "AUD003"]


def _edited(presets, tmp_path, name, edit):
    folder = tmp_path / "edited"
    shutil.copytree(presets / "bert", folder)
    document = json.loads((folder / name).read_text())
    edit(document)
    (folder / name).write_text(json.dumps(document))
    return folder


def test_a_parameter_count_that_disagrees_is_aud003(presets, tmp_path):
    folder = _edited(presets, tmp_path, "metadata.json", lambda d: d.update(parameter_count=900))
    (finding,) = run([folder], AuditConfig(select=["AUD003"])).findings
    assert finding.message == (
        "metadata.json declares 900 parameters, but model.weights.h5 holds 896: the weights "
        "are not the ones the preset describes."
    )


@pytest.mark.parametrize("target", ["/etc/passwd", "https://example.invalid/vocab.txt"])
def test_a_tokenizer_vocabulary_path_or_url_is_sec003(presets, tmp_path, target):
    folder = _edited(
        presets, tmp_path, "tokenizer.json", lambda d: d["config"].update(vocabulary=target)
    )
    (finding,) = run([folder], AuditConfig(select=["SEC003"])).findings
    assert finding.message == (
        f"keras_hub `BertTokenizer` opens the file {target!r} as its `vocabulary` when loaded: "
        f"a path or URL chosen by the preset's author. Received: vocabulary={target!r}"
    )
    assert finding.location.config_key == "tokenizer.json:config.vocabulary"
    assert run([presets / "bert"], AuditConfig(select=["SEC003"])).findings == []


def test_a_search_finds_a_preset_as_one_model(presets, tmp_path):
    shutil.copytree(presets / "bert", tmp_path / "hub" / "bert")
    assert discover([tmp_path / "hub"]) == [str(tmp_path / "hub" / "bert")]
