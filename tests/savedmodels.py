"""Genuine SavedModels for the tests, written by the libraries that write them in the wild:

- tf.keras 2 (`tf-keras`, in a subprocess so that it never shares the test process with
  Keras 3): `model.save(dir)` of the model tests/test_tf_keras2.py builds and of
  MobileNet, beside the same models as `.h5`; a small CNN trained one step under Adam;
  the same CNN rewritten as TensorFlow < 2.5 wrote it (the Keras metadata in
  `saved_model.pb`'s object graph, no `keras_metadata.pb`), by TensorFlow's own protobuf
  classes.
- Keras 3: `model.export(dir)`.
- TensorFlow: a `tf.Module` whose serving function reads a file (`tf.io.read_file`) or
  calls Python (`tf.py_function`), the unsafe-graph cases, and one that does neither.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.test_tf_keras2 import BUILD

TF_KERAS_SAVEDMODELS = (
    BUILD
    + r"""
model.save(os.path.join(out, "tfk2_sm"))
mobilenet.save(os.path.join(out, "mobilenet_sm"))
stack = K.Sequential([L.Dense(4, input_shape=(3,), name="first"), L.Dense(2)], name="stack")
stack.save(os.path.join(out, "stack_sm"))
stack.save(os.path.join(out, "stack.h5"))

inp = K.Input((8, 8, 3))
x = L.Conv2D(4, 3, kernel_regularizer=R.l2(1e-4), name="conv")(inp)
x = L.BatchNormalization(name="bn")(x)
x = L.DepthwiseConv2D(3, depthwise_regularizer=R.l2(1e-4), name="dw")(x)
x = L.GlobalAveragePooling2D()(x)
sub = K.Sequential([L.Dense(5, kernel_regularizer="l2", name="inner")], name="subseq")
x = sub(x)
cnn = K.Model(inp, L.Dense(2, activation="softmax", name="head")(x), name="cnn")
cnn.compile(optimizer=K.optimizers.Adam(1e-3), loss="categorical_crossentropy")
import numpy as np
cnn.fit(np.ones((4, 8, 8, 3)), np.eye(2)[[0, 1, 0, 1]], verbose=0)
cnn.save(os.path.join(out, "cnn_sm"))
cnn.save(os.path.join(out, "cnn.h5"))
cnn.save_weights(os.path.join(out, "cnn_weights.h5"))  # Keras 2 weights only

# TensorFlow < 2.5: the Keras metadata of each object in SavedUserObject.metadata.
import shutil
from tensorflow.core.protobuf import saved_model_pb2
from tf_keras.protobuf import saved_metadata_pb2
legacy = os.path.join(out, "cnn_legacy_sm")
shutil.copytree(os.path.join(out, "cnn_sm"), legacy)
program = saved_model_pb2.SavedModel()
program.ParseFromString(open(os.path.join(legacy, "saved_model.pb"), "rb").read())
metadata = saved_metadata_pb2.SavedMetadata()
metadata.ParseFromString(open(os.path.join(legacy, "keras_metadata.pb"), "rb").read())
graph = program.meta_graphs[0].object_graph_def
for node in metadata.nodes:
    graph.nodes[node.node_id].user_object.metadata = node.metadata
open(os.path.join(legacy, "saved_model.pb"), "wb").write(program.SerializeToString())
os.remove(os.path.join(legacy, "keras_metadata.pb"))
"""
)


def build_tf_keras_savedmodels(out: Path) -> None:
    """Write the tf.keras 2 files (see the module docstring) into `out`."""
    proc = subprocess.run(
        [sys.executable, "-c", TF_KERAS_SAVEDMODELS, str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


def build_export(keras: Any, path: Path) -> Any:
    """A small Keras 3 model (a nested Sequential, BatchNormalization) exported to `path`;
    returns the model."""
    L = keras.layers
    inputs = keras.Input((8, 8, 3))
    x = L.Conv2D(4, 3, name="conv")(inputs)
    x = L.BatchNormalization(name="bn")(x)
    x = L.GlobalAveragePooling2D()(x)
    x = keras.Sequential([L.Dense(5, name="inner")], name="subseq")(x)
    model = keras.Model(inputs, L.Dense(2, activation="softmax", name="head")(x))
    model.export(str(path), verbose=False)
    return model


def build_graph_module(path: Path, *, read: str | None = None, python: bool = False) -> None:
    """A SavedModel (no Keras) with one variable and a serving function that scales its
    input and, with `read`, returns the contents of that file (`tf.io.read_file`: a
    `ReadFile` op in the function library), with `python`, squares it through
    `tf.py_function` (an `EagerPyFunc` op)."""
    import tensorflow as tf

    class Served(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = tf.Variable(tf.ones((3,)), name="scale")

        @tf.function(input_signature=[tf.TensorSpec([3], tf.float32)])
        def serve(self, x: Any) -> Any:
            out = {"y": x * self.scale}
            if read is not None:
                out["leak"] = tf.io.read_file(read)
            if python:
                out["py"] = tf.py_function(lambda t: t * t, [x], tf.float32)
            return out

    module = Served()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
