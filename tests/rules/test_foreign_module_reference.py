import pytest

from auditor.results.findings import Severity
from tests.conftest import FORMATS
from tests.harness import assert_rule, findings_of, rewrite_config
from tests.hostile_corpus import system_call_npz

GADGETS = {
    "os_system": {"module": "os", "class_name": "function", "config": "system"},
    "get_file": {"module": "keras.utils", "class_name": "function", "config": "get_file"},
    "unsafe": {
        "module": "keras.config",
        "class_name": "function",
        "config": "enable_unsafe_deserialization",
    },
}
#: Names that reach a gadget only once `module` and the name are joined, as Keras joins
#: them, or that come from a Keras module a model config never names.
JOINED = {
    "joined_get_file": {"module": "keras", "class_name": "function", "config": "utils.get_file"},
    "joined_unsafe": {
        "module": "keras",
        "class_name": "function",
        "config": "config.enable_unsafe_deserialization",
    },
    "joined_load_model": {
        "module": "keras",
        "class_name": "function",
        "config": "saving.load_model",
    },
    "func_load": {
        "module": "keras.src.utils.python_utils",
        "class_name": "function",
        "config": "func_load",
    },
    "rmtree": {
        "module": "keras.src.utils.file_utils",
        "class_name": "function",
        "config": "rmtree",
    },
    "legacy_loader": {
        "module": "keras.src.legacy.saving.legacy_h5_format",
        "class_name": "function",
        "config": "load_model_from_hdf5",
    },
    "builtins_eval": {"module": "builtins", "class_name": "function", "config": "eval"},
}


@pytest.fixture(scope="module")
def models(keras, save_model, tmp_path_factory):
    L = keras.layers
    inputs = keras.Input((4,))
    x = L.Dense(3, name="os_system")(inputs)
    x = L.Dense(3, name="get_file")(x)
    x = L.Dense(3, name="unsafe")(x)
    x = L.Dense(3, name="custom")(x)
    for name in [*JOINED, "registered", "tf_module"]:
        x = L.Dense(3, name=name, activation="relu")(x)
    plain = save_model(keras.Model(inputs, L.Dense(2, name="ok")(x)), "sec002_plain")
    out = tmp_path_factory.mktemp("sec002")

    def poison(model_config, _optimizer):
        for layer in model_config["config"]["layers"]:
            name = layer["config"]["name"]
            if name in GADGETS:
                layer["config"]["activation"] = {**GADGETS[name], "registered_name": "function"}
            if name in JOINED:
                layer["config"]["activation"] = {**JOINED[name], "registered_name": "function"}
            if name == "custom":
                layer["module"] = "acme_layers"
                layer["registered_name"] = "acme>Dense"
            if name == "registered":  # Keras loads what is registered under the name first
                layer["registered_name"] = "acme>Backdoor"
            if name == "tf_module":
                layer["module"] = "tensorflow.keras.layers"

    return {
        "plain": plain,
        "fires": {f: rewrite_config(p, out / f"gadgets.{f}", poison) for f, p in plain.items()},
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_gadgets_and_custom_modules_fire(models, fmt):
    found = assert_rule(
        models["fires"][fmt],
        "SEC002",
        {(name, None) for name in [*GADGETS, *JOINED, "custom", "registered", "tf_module"]},
    )
    judged = {f.location.layer_path: (f.severity, f.details["reference"]) for f in found}
    error, warning = Severity.ERROR, Severity.WARNING
    assert judged == {
        "os_system": (error, "os.system"),
        "get_file": (error, "keras.utils.get_file"),
        "unsafe": (error, "keras.config.enable_unsafe_deserialization"),
        "joined_get_file": (error, "keras.utils.get_file"),
        "joined_unsafe": (error, "keras.config.enable_unsafe_deserialization"),
        "joined_load_model": (error, "keras.saving.load_model"),
        "func_load": (error, "keras.src.utils.python_utils.func_load"),
        "rmtree": (error, "keras.src.utils.file_utils.rmtree"),
        "legacy_loader": (error, "keras.src.legacy.saving.legacy_h5_format.load_model_from_hdf5"),
        "builtins_eval": (error, "builtins.eval"),
        "custom": (warning, "acme>Dense"),
        "registered": (warning, "acme>Backdoor"),
        "tf_module": (warning, "tensorflow.keras.layers.Dense"),
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_keras_only_references_stay_clean(models, fmt):
    assert_rule(models["plain"][fmt], "SEC002", set())


def test_nothing_named_is_imported(models):
    import sys

    findings_of(models["fires"]["keras"], "SEC002")
    assert "acme_layers" not in sys.modules


def test_keras_joins_the_module_and_the_name(keras):
    """Why the joined names are judged whole: Keras 3 resolves `module: "keras"` with
    `class_name: "layers.Lambda"` to `keras.layers.Lambda` (`serialization_lib.
    _retrieve_class_or_fn`), so safe mode refuses it as a Lambda, and refuses
    `utils.get_file` as the non-modeling API `keras.utils.get_file`."""
    lambda_ = {
        "module": "keras",
        "class_name": "layers.Lambda",
        "config": {"function": {"class_name": "__lambda__", "config": {"code": "x"}}},
    }
    with pytest.raises(ValueError, match="deserialization of a `Lambda` layer"):
        keras.saving.deserialize_keras_object(lambda_, safe_mode=True)
    get_file = {"module": "keras", "class_name": "function", "config": "utils.get_file"}
    with pytest.raises(ValueError, match=r"`keras\.utils\.get_file`"):
        keras.saving.deserialize_keras_object(get_file)


def test_keras_loads_what_is_registered_under_the_name_whatever_the_module(keras):
    @keras.saving.register_keras_serializable(package="acme", name="Backdoor")
    class Backdoor(keras.layers.Layer):
        pass

    config = {
        "module": "keras.layers",
        "class_name": "Dense",
        "registered_name": "acme>Backdoor",
        "config": {"name": "x"},
    }
    try:
        assert type(keras.saving.deserialize_keras_object(config)) is Backdoor
    finally:
        keras.saving.get_custom_objects().pop("acme>Backdoor")


def test_keras_2_legacy_merge_is_a_keras_layer(tmp_path):
    """Keras 2.0's `Merge` (from `keras/legacy/layers.py`) is named without a module, as
    every layer of that time is; an unknown name written the same way is still custom."""
    from examples.keras2_files import merged_branches

    assert_rule(merged_branches(tmp_path / "merge.h5"), "SEC002", set())
    gated = merged_branches(tmp_path / "gated.h5", merge_class="GatedMerge")
    (finding,) = assert_rule(gated, "SEC002", {("merge_1", None)})
    assert "'GatedMerge': a custom object" in finding.message


@pytest.fixture(scope="module")
def npz_models(keras, tmp_path_factory):
    """A genuine `.keras` with npz weights (Keras 3's `weights_format="npz"`), and the
    same with one layer's pickle replaced by one that calls os.system."""
    from keras.src.saving import saving_lib

    out = tmp_path_factory.mktemp("sec002_npz")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="head")], name="m")
    genuine = out / "genuine.keras"
    saving_lib.save_model(model, genuine, weights_format="npz")
    return genuine, system_call_npz(genuine, out / "hostile.keras", "layers/dense.npy")


def test_an_npz_pickle_that_imports_a_system_call_is_an_error(npz_models):
    _, hostile = npz_models
    found = [
        f
        for f in findings_of(hostile, "SEC002")
        if f.location.config_key == "model.weights.npz:layers/dense.npy"
    ]
    assert [f.message for f in found] == [
        "The pickle in `layers/dense.npy` of the npz weights imports 'posix.system': "
        "loading the weights with allow_pickle=True runs it. keras-audit did not unpickle "
        "it. Received: module='posix', name='system'"
    ]


def test_genuine_npz_weights_import_keras_variables_not_system_calls(npz_models):
    """Keras 3 pickles its variables into npz weights: their pickles import Keras and
    TensorFlow classes and `functools.partial` (each reported; Keras itself now loads
    npz weights with allow_pickle=False), never a system call."""
    genuine, _ = npz_models
    found = [f for f in findings_of(genuine, "SEC002")]
    modules = {f.details["module"].split(".")[0] for f in found}
    assert modules == {"keras", "tensorflow", "functools"}
    assert all(f.location.config_key.startswith("model.weights.npz:") for f in found)


TF_OPS = r"""
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf, tf_keras as K
inputs = K.Input((4,))
x = K.layers.Dense(4, name="dense")(inputs)
x = tf.nn.relu(x * 2.0 + 1.0)
x = x[:, :2]
K.Model(inputs, K.layers.Dense(2, name="out")(x)).save(sys.argv[1])
"""


@pytest.fixture(scope="module")
def tf_ops(tmp_path_factory):
    """A genuine tf.keras 2 model whose arithmetic, `tf.nn.relu` and slicing are recorded
    as TFOpLambda and SlicingOpLambda layers (written in a subprocess, as tf-keras must)."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("tf_keras") is None:
        pytest.skip("the [test] extra installs tf-keras")
    path = tmp_path_factory.mktemp("sec002_tf_ops") / "tf_ops.h5"
    done = subprocess.run(
        [sys.executable, "-c", TF_OPS, str(path)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return path


def _retarget(function: str):
    """Point the first TFOpLambda of a model config at another TensorFlow function."""

    def edit(model_config, _optimizer):
        layer = next(
            entry for entry in model_config["config"]["layers"]
            if entry["class_name"] == "TFOpLambda"
        )  # fmt: skip
        layer["config"]["function"] = function

    return edit


def test_tensor_ops_through_tf_op_lambda_stay_clean(tf_ops):
    import h5py

    with h5py.File(tf_ops) as f:
        config = f.attrs["model_config"]
    classes = {"TFOpLambda", "SlicingOpLambda"}
    assert all(name in config for name in classes)  # what the test judges is there
    assert_rule(tf_ops, "SEC002", set())


@pytest.mark.parametrize(
    ("function", "severity"),
    [
        ("io.write_file", Severity.ERROR),
        ("compat.v1.print", Severity.ERROR),
        ("load_library", Severity.ERROR),
        ("raw_ops.ReadFile", Severity.ERROR),
        ("raw_ops.AddV2", Severity.WARNING),
        ("experimental.dispatch_for_api", Severity.WARNING),
    ],
)
def test_a_tf_op_lambda_that_calls_anything_else_fires(tf_ops, tmp_path, function, severity):
    path = rewrite_config(tf_ops, tmp_path / "retargeted.h5", _retarget(function))
    (finding,) = findings_of(path, "SEC002")
    assert finding.severity is severity
    assert finding.message.startswith(f"The config references 'tf.{function}': a TensorFlow ")
    assert f"function={function!r}" in finding.message
    assert finding.details["reference"] == f"tf.{function}"


def test_tf_op_names_are_judged_as_text():
    from auditor.rules._tf_ops import judge_tf_op

    assert [judge_tf_op(name) for name in ("math.multiply", "__operators__.getitem")] == [
        None,
        None,
    ]
    assert judge_tf_op("reshape") is None and judge_tf_op("compat.v1.math.add") is None
    assert judge_tf_op("compat.v1.gfile.GFile")[0] is Severity.ERROR
    assert judge_tf_op("saved_model.load")[0] is Severity.ERROR


def test_a_class_name_that_is_not_text_is_no_tf_op_lambda():
    """A hostile config's `class_name` may be any JSON value (a list is unhashable)."""
    from auditor.rules._tf_ops import tf_op_function

    config = {"function": "io.write_file"}
    assert tf_op_function({"class_name": ["TFOpLambda"], "config": config}) is None
    assert tf_op_function({"class_name": {"a": 1}, "config": config}) is None
    assert tf_op_function({"class_name": "TFOpLambda", "config": config}) == "io.write_file"
