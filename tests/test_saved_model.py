"""SavedModel folders read without TensorFlow: tf.keras 2 `model.save(dir)` (with
`keras_metadata.pb`, and as TensorFlow < 2.5 wrote it), Keras 3 `export()`, and the
tensor bundle's checksums, truncation and corruption."""

from __future__ import annotations

import shutil
from collections import Counter

import numpy as np
import pytest

from auditor.engine.config import AuditConfig
from auditor.engine.discovery import discover
from auditor.engine.runner import run
from auditor.loaders import open_model
from auditor.loaders.saved_model_pb import op_census
from tests.savedmodels import build_export


def _view(path):
    """Each weight's role, shape, flag, regularizer coefficients and exact values."""
    with open_model(path) as loaded:
        graph = loaded.graph
        weights = {}
        for w in graph.weights():
            values = np.concatenate([c.reshape(-1) for c in w.tensor.iter_chunks(1 << 20)])
            reg = (w.regularizer.l1, w.regularizer.l2) if w.regularizer else None
            weights[w.path] = (w.role.value, w.shape, w.trainable, reg, values.tobytes())
        return graph, weights


@pytest.mark.parametrize("name", ["tfk2", "mobilenet", "cnn", "stack"])
def test_a_savedmodel_reads_as_its_h5(tf_keras_savedmodels, name):
    """Every weight of the SavedModel is mapped to the layer and variable the `.h5` of
    the same model maps it to, with the same values (nested models, RNN cells,
    Bidirectional, attention, depthwise, frozen layers, a Sequential root)."""
    graph, found = _view(tf_keras_savedmodels / f"{name}_sm")
    _, expected = _view(tf_keras_savedmodels / f"{name}.h5")
    assert found == expected
    assert graph.issues == () and graph.unclaimed == ()
    assert (graph.source.format, graph.source.keras_version) == ("savedmodel", "2.21.0")


def test_rules_judge_a_savedmodel_as_its_h5(tf_keras_savedmodels):
    """The same findings on the same layers (a legacy `.h5` names weights as it stores
    them, `dw/depthwise_kernel:0`; a SavedModel by their Keras path)."""

    def findings(path):
        report = run([path], AuditConfig(select=["REG", "WD", "WGT", "SEC"]))
        return report.findings

    saved = findings(tf_keras_savedmodels / "cnn_sm")
    h5 = findings(tf_keras_savedmodels / "cnn.h5")
    assert [(f.code, f.location.layer_path) for f in saved] == [
        (f.code, f.location.layer_path) for f in h5
    ]
    assert [(f.code, f.location.layer_path) for f in saved] == [
        ("WD002", ""),
        ("REG008", "conv"),
        ("REG004", "dw"),
        ("REG009", "subseq/inner"),
    ]
    assert saved[0].message == (
        "3 trainable weight(s) carry L2 penalties (L2(0.0001), L2(0.01)) under Adam, which "
        "rescales every gradient per parameter, the L2 term included: this is not weight "
        "decay. Weights: `conv/kernel`, `dw/kernel`, `subseq/inner/kernel`."
    )


def test_the_optimizer_and_its_step_count_are_read(tf_keras_savedmodels):
    """tf-keras 2.21 names the optimizer `Custom>Adam` in training_config; the checkpoint
    stores its iteration count (one `fit` step here)."""
    with open_model(tf_keras_savedmodels / "cnn_sm") as loaded:
        graph = loaded.graph
    assert graph.optimizer.class_name == "Adam"
    assert graph.training_steps == 1
    with open_model(tf_keras_savedmodels / "tfk2_sm") as loaded:
        assert loaded.graph.training_steps == 0  # compiled, never trained


def test_metadata_in_the_object_graph_before_tf_2_5(tf_keras_savedmodels):
    legacy, found = _view(tf_keras_savedmodels / "cnn_legacy_sm")
    _, expected = _view(tf_keras_savedmodels / "cnn_sm")
    assert found == expected
    assert legacy.source.format == "savedmodel" and legacy.issues == ()


def test_the_op_census_matches_tensorflow(tf_keras_savedmodels):
    from tensorflow.core.protobuf import saved_model_pb2

    path = tf_keras_savedmodels / "tfk2_sm" / "saved_model.pb"
    program = saved_model_pb2.SavedModel()
    program.ParseFromString(path.read_bytes())
    expected: Counter[tuple[str, str]] = Counter()
    for meta_graph in program.meta_graphs:
        for node in meta_graph.graph_def.node:
            expected[("", node.op)] += 1
        for function in meta_graph.graph_def.library.function:
            for node in function.node_def:
                expected[(function.signature.name, node.op)] += 1
    assert op_census(path.read_bytes()) == expected
    assert len(expected) > 100


@pytest.fixture(scope="module")
def exported(keras, tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "served"
    return build_export(keras, path), path


def test_an_export_is_audited_for_its_weights(exported):
    model, path = exported
    graph, found = _view(path)
    expected = {v.path: np.asarray(v.numpy()).tobytes() for v in model.weights}
    assert {p: v[4] for p, v in found.items()} == expected
    assert {p: v[0] for p, v in found.items() if "bn/" in p} == {
        "bn/gamma": "gamma",
        "bn/beta": "beta",
        "bn/moving_mean": "moving_mean",
        "bn/moving_variance": "moving_variance",
    }
    assert graph.source.format == "export" and graph.unclaimed == () and graph.issues == ()


def test_an_export_says_what_could_not_be_judged(exported):
    _, path = exported
    report = run([path], AuditConfig(select=["AUD002", "REG004"]))
    (finding,) = report.findings
    assert finding.message == (
        "A SavedModel written by export() holds no Keras config: 4 layer(s) with 10 "
        "weight(s) (165 parameters) were recognised from the stored tensors, but their "
        "regularizers, initializers, settings and optimizer are not recorded, so the "
        "regularization and weight-decay rules cannot judge them. The weights themselves "
        "were checked (WGT001 against Keras's default initializers)."
    )
    (skipped,) = report.models[0].rules_not_applicable
    assert (skipped.code, skipped.reason) == (
        "REG004",
        "a SavedModel written by export() holds no Keras config: no layer setting to judge",
    )


def test_a_search_finds_a_savedmodel_as_one_model(tf_keras_savedmodels, tmp_path):
    shutil.copytree(tf_keras_savedmodels / "cnn_sm", tmp_path / "models" / "cnn")
    assert discover([tmp_path / "models"]) == [str(tmp_path / "models" / "cnn")]


def _copy(tf_keras_savedmodels, tmp_path):
    folder = tmp_path / "cnn_sm"
    shutil.copytree(tf_keras_savedmodels / "cnn_sm", folder)
    return folder


def test_corrupt_tensor_bytes_fail_their_checksum(tf_keras_savedmodels, tmp_path):
    folder = _copy(tf_keras_savedmodels, tmp_path)
    with open_model(folder) as loaded:
        (kernel,) = [w for w in loaded.graph.weights() if w.path == "head/kernel"]
        entry = kernel.tensor._entry
    data = folder / "variables" / "variables.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[entry.offset] ^= 0x40
    data.write_bytes(bytes(raw))
    findings = run([folder], AuditConfig(select=["AUD001"])).findings
    assert [f.message.split(" (its bytes give")[0] for f in findings] == [
        "Part of this file was not read: tensor "
        "layer_with_weights-4/kernel/.ATTRIBUTES/VARIABLE_VALUE is unreadable"
    ]
    assert findings[0].message.endswith("the data file is corrupt).")


def test_a_bad_index_checksum_and_a_truncated_index_are_aud001(tf_keras_savedmodels, tmp_path):
    folder = _copy(tf_keras_savedmodels, tmp_path)
    index = folder / "variables" / "variables.index"
    original = index.read_bytes()
    index.write_bytes(bytes([original[0] ^ 1]) + original[1:])
    (finding,) = run([folder], AuditConfig(select=["AUD001"])).findings
    assert "variables.index is corrupt: a data block at byte 0" in finding.message
    index.write_bytes(original[: len(original) // 2])
    (finding,) = run([folder], AuditConfig(select=["AUD001"])).findings
    assert "variables.index ends in" in finding.message
    assert "not the table magic number 0xdb4775248b80fb57" in finding.message


def test_a_linked_variables_folder_is_not_followed(tf_keras_savedmodels, tmp_path):
    folder = _copy(tf_keras_savedmodels, tmp_path)
    shutil.move(folder / "variables", tmp_path / "elsewhere")
    (folder / "variables").symlink_to(tmp_path / "elsewhere")
    with open_model(folder) as loaded:
        issues = [(i.kind.value, i.message) for i in loaded.graph.issues]
        assert not loaded.graph.has_tensors()
    assert issues == [("external-reference", "'variables' is a symbolic link (not followed)")]
