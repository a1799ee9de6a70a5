import pytest

from tests.harness import assert_rule, findings_of
from tests.savedmodels import build_graph_module


@pytest.fixture(scope="module")
def modules(keras, tmp_path_factory):
    """SavedModels written by TensorFlow itself (keras imports it)."""
    out = tmp_path_factory.mktemp("sec005")
    build_graph_module(out / "plain")
    build_graph_module(out / "read", read="/etc/passwd")
    build_graph_module(out / "python", python=True)
    return out


def test_a_read_file_op_fires_with_its_function(modules):
    (finding,) = assert_rule(modules / "read", "SEC005", {("", None)})
    function = finding.details["function"]
    assert function.startswith("__inference_serve_")
    assert finding.message == (
        f"The SavedModel's function `{function}` holds 1 `ReadFile` op(s), which reaches the "
        "file system by a path the graph computes: a model's computation needs neither. "
        "Received: op='ReadFile'"
    )
    assert finding.location.config_key == f"saved_model.pb:{function}"


def test_a_python_callback_fires(modules):
    (finding,) = assert_rule(modules / "python", "SEC005", {("", None)})
    assert finding.details["op"] == "EagerPyFunc"
    assert "calls back into the Python process that runs it" in finding.message


def test_the_checkpoint_ops_every_savedmodel_has_stay_clean(modules, tf_keras_savedmodels):
    """`SaveV2`, `RestoreV2`, `MergeV2Checkpoints`, `ShardedFilename`, `StringJoin` sit in
    every SavedModel's save and restore functions."""
    assert_rule(modules / "plain", "SEC005", set())
    assert_rule(tf_keras_savedmodels / "cnn_sm", "SEC005", set())


def test_extra_ops_are_reported_too(modules):
    found = findings_of(modules / "plain", "SEC005", {"extra_ops": ["MergeV2Checkpoints"]})
    assert {f.details["op"] for f in found} == {"MergeV2Checkpoints"}
