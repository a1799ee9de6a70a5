"""Build the example models: the classic regularization mistakes, and models that once
drew false findings and now audit as they should.

Run with the `[keras]` extra installed:  python examples/build_examples.py [NAME ...]
Writes examples/models/<name>.keras and .h5 (each well under 2 MB), every model or the
ones named. Each model is trained for a few steps on synthetic data (nothing is
downloaded), from a seed of its own, so that its weights look like a trained model's;
`reset_weights` is the exception on purpose. Two more files are written by hand in the
layouts of standalone Keras 2.0 and 2.1 (`keras2_files.py`), and `clean.weights.h5` holds
the weights of `clean.keras` alone. `make demo` audits them all.
"""

from __future__ import annotations

import os
import sys
import zlib
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import tensorflow as tf
from keras import layers, regularizers
from keras2_files import bidirectional_gru, merged_branches

OUT = Path(__file__).resolve().parent / "models"
L2 = regularizers.L2(1e-4)


def depthwise_decay() -> keras.Model:
    """A small MobileNet-style block that decays its depthwise filters."""
    inputs = keras.Input((32, 32, 3), name="image")
    x = layers.Conv2D(16, 3, strides=2, kernel_regularizer=L2, name="stem")(inputs)
    x = layers.DepthwiseConv2D(3, depthwise_regularizer=L2, name="dw1")(x)
    x = layers.Conv2D(32, 1, kernel_regularizer=L2, name="pw1")(x)
    x = layers.SeparableConv2D(
        32, 3, depthwise_regularizer=L2, pointwise_regularizer=L2, name="sep2"
    )(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10, activation="softmax", kernel_regularizer=L2, name="head")(x)
    return keras.Model(inputs, outputs, name="depthwise_decay")


def batchnorm_decay() -> keras.Model:
    """Conv + BatchNorm with gamma/beta regularized (and L2 right before BN)."""
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            layers.Conv2D(8, 3, use_bias=False, kernel_regularizer=L2, name="conv"),
            layers.BatchNormalization(gamma_regularizer=L2, beta_regularizer=L2, name="bn"),
            layers.ReLU(),
            layers.Flatten(),
            layers.Dense(4, activation="softmax", kernel_regularizer=L2, name="head"),
        ],
        name="batchnorm_decay",
    )


def bias_decay() -> keras.Model:
    """Dense layers whose biases are regularized as well as their kernels."""
    return keras.Sequential(
        [
            keras.Input((20,)),
            layers.Dense(
                32, activation="relu", kernel_regularizer=L2, bias_regularizer=L2, name="hidden"
            ),
            layers.Dense(
                3, activation="softmax", kernel_regularizer=L2, bias_regularizer=L2, name="head"
            ),
        ],
        name="bias_decay",
    )


def nested_backbone_unregularized() -> keras.Model:
    """The post-hoc loop over model.layers: the head got L2, the nested backbone did not."""
    backbone = keras.Sequential(
        [
            keras.Input((24,)),
            layers.Dense(32, activation="relu", name="block1"),
            layers.Dense(32, activation="relu", name="block2"),
            layers.Dense(16, activation="relu", name="block3"),
        ],
        name="backbone",
    )
    inputs = keras.Input((24,), name="features")
    x = backbone(inputs)
    outputs = layers.Dense(5, activation="softmax", kernel_regularizer=L2, name="head")(x)
    return keras.Model(inputs, outputs, name="nested_backbone")


def frozen_regularized_backbone() -> keras.Model:
    """Fine-tuning: the frozen backbone keeps L2 regularizers that do nothing in Keras 3."""
    backbone = keras.Sequential(
        [
            keras.Input((12,)),
            layers.Dense(16, activation="relu", kernel_regularizer=L2, name="frozen1"),
            layers.Dense(16, activation="relu", kernel_regularizer=L2, name="frozen2"),
        ],
        name="backbone",
    )
    backbone.trainable = False
    inputs = keras.Input((12,))
    outputs = layers.Dense(2, activation="softmax", name="head")(backbone(inputs))
    return keras.Model(inputs, outputs, name="frozen_backbone")


def bare_l2_default() -> keras.Model:
    """`kernel_regularizer="l2"` everywhere: L2(0.01), compiled with categorical loss."""
    model = keras.Sequential(
        [
            keras.Input((64,)),
            layers.Dense(512, activation="relu", kernel_regularizer="l2", name="wide1"),
            layers.Dense(512, activation="relu", kernel_regularizer="l2", name="wide2"),
            layers.Dense(10, activation="softmax", kernel_regularizer="l2", name="head"),
        ],
        name="bare_l2",
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


def adamw_without_exclusions() -> keras.Model:
    """AdamW decays everything after a reload: biases, BatchNorm, depthwise."""
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, name="conv")(inputs)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.DepthwiseConv2D(3, name="dw")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(3, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs, name="adamw_all")
    model.compile(
        optimizer=keras.optimizers.AdamW(weight_decay=0.004), loss="categorical_crossentropy"
    )
    return model


def clean() -> keras.Model:
    """A model with nothing to report: L2 on kernels only, none on depthwise/BN/bias."""
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, activation="relu", kernel_regularizer=L2, name="conv")(inputs)
    x = layers.DepthwiseConv2D(3, name="dw")(x)
    x = layers.Conv2D(16, 1, activation="relu", kernel_regularizer=L2, name="pw")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(3, activation="softmax", kernel_regularizer=L2, name="head")(x)
    model = keras.Model(inputs, outputs, name="clean")
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="categorical_crossentropy"
    )
    return model


def reset_weights() -> keras.Model:
    """The reset trap: regularizers set after training, then the model rebuilt from its
    config to "activate" them, which re-initializes every weight (WGT001)."""
    model = keras.Sequential(
        [
            keras.Input((32,)),
            layers.Dense(64, activation="relu", name="hidden1"),
            layers.Dense(64, activation="relu", name="hidden2"),
            layers.Dense(4, activation="softmax", name="head"),
        ],
        name="reset_weights",
    )
    train(model)
    for layer in model.layers:
        layer.kernel_regularizer = L2
    rebuilt = keras.Sequential.from_config(model.get_config())  # fresh random weights
    rebuilt.compile(optimizer="sgd", loss="categorical_crossentropy")
    return rebuilt


def softmax_head() -> keras.Model:
    """The mixed-precision guide's classifier head, `Dense(5)` then
    `Activation("softmax", dtype="float32")`, with a penalty of 1.2 at the stored weights:
    over 1, under ln 5 = 1.61, so REG010 has nothing to say (it once compared the penalty
    with 1 because the softmax is not on the output layer itself)."""
    model = keras.Sequential(
        [
            keras.Input((32,)),
            layers.Dense(64, activation="relu", kernel_regularizer=L2, name="hidden"),
            layers.Dense(5, name="logits"),
            layers.Activation("softmax", dtype="float32", name="probabilities"),
        ],
        name="softmax_head",
    )
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    return model


def tutorial_cnn() -> keras.Model:
    """The regularization tutorials' CNN: two regularized `Conv2D`, `Flatten`, and a
    softmax head left without a penalty on purpose, which REG003 no longer reports."""
    return keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            layers.Conv2D(8, 3, activation="relu", kernel_regularizer=L2, name="conv1"),
            layers.Conv2D(8, 3, activation="relu", kernel_regularizer=L2, name="conv2"),
            layers.Flatten(name="flatten"),
            layers.Dense(10, activation="softmax", name="head"),
        ],
        name="tutorial_cnn",
    )


def dead_units() -> keras.Model:
    """A layer with two dead output units, of weights 1e-25 and 1e-20: WGT004 calls both
    dead in plain words (float32 sums of squares once called the first all-zero and missed
    the second)."""
    return keras.Sequential(
        [
            keras.Input((24,)),
            layers.Dense(16, activation="relu", kernel_regularizer=L2, name="hidden"),
            layers.Dense(3, activation="softmax", kernel_regularizer=L2, name="head"),
        ],
        name="dead_units",
    )


def softmax_activity() -> keras.Model:
    """An L1 activity penalty on softmax outputs, whose L1 norm is always 1 (REG013)."""
    return keras.Sequential(
        [
            keras.Input((24,)),
            layers.Dense(16, activation="relu", kernel_regularizer=L2, name="hidden"),
            layers.Dense(
                4, activation="softmax", activity_regularizer=regularizers.L1(0.01), name="head"
            ),
        ],
        name="softmax_activity",
    )


def _penalty_of(model: keras.Model, target: float) -> None:
    """Scale the regularized kernels so that their L2 penalty is `target`."""
    kernels = [layer.kernel for layer in model.layers if getattr(layer, "kernel_regularizer", None)]
    penalty = sum(1e-4 * float(np.sum(k.numpy().astype("f8") ** 2)) for k in kernels)
    for kernel in kernels:
        kernel.assign(kernel.numpy() * np.float32((target / penalty) ** 0.5))


def _kill_units(model: keras.Model) -> None:
    kernel = model.get_layer("hidden").kernel
    values = kernel.numpy()
    values[:, 3], values[:, 11] = 1e-25, 1e-20
    kernel.assign(values)


def dropout_cnn() -> keras.Model:
    """A small CNN without normalization with the dropout mistakes of tutorials: plain
    `Dropout` on a convolution's feature map (DRP002), a rate of 0 (DRP003), dropout
    called with `training=True` (DRP006) and dropout on the softmax output (DRP004)."""
    inputs = keras.Input((12, 12, 1))
    x = layers.Conv2D(8, 3, activation="relu", kernel_regularizer=L2, name="conv1")(inputs)
    x = layers.Dropout(0.25, name="conv1_drop")(x)
    x = layers.Conv2D(8, 3, activation="relu", kernel_regularizer=L2, name="conv2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.0, name="flat_drop")(x)
    x = layers.Dense(32, activation="relu", kernel_regularizer=L2, name="hidden")(x)
    x = layers.Dropout(0.5, name="mc_drop")(x, training=True)
    x = layers.Dense(10, activation="softmax", name="probabilities")(x)
    outputs = layers.Dropout(0.1, name="output_drop")(x)
    return keras.Model(inputs, outputs, name="dropout_cnn")


def dropout_sequence() -> keras.Model:
    """A sequence model whose dropout fights its other layers: `recurrent_dropout` that
    keeps the LSTM off cuDNN (DRP007), dropout feeding `BatchNormalization` (DRP001), and
    plain dropout after `selu` with `lecun_normal` weights (DRP005)."""
    inputs = keras.Input((10, 4))
    x = layers.LSTM(16, recurrent_dropout=0.2, kernel_regularizer=L2, name="lstm")(inputs)
    x = layers.Dense(16, kernel_regularizer=L2, name="dense")(x)
    x = layers.Dropout(0.3, name="dense_drop")(x)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Dense(
        16, activation="selu", kernel_initializer="lecun_normal", kernel_regularizer=L2, name="selu"
    )(x)
    x = layers.Dropout(0.1, name="selu_drop")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="score")(x)
    return keras.Model(inputs, outputs, name="dropout_sequence")


def train(model: keras.Model, steps: int = 30) -> None:
    """A few SGD steps on random data, without touching the model's compile settings.

    Frozen layers are unfrozen for the occasion (their weights should look pretrained)
    and frozen again afterwards.
    """
    frozen = [layer for layer in model._flatten_layers() if not layer.trainable]
    for layer in frozen:
        layer.trainable = True
    rng = np.random.default_rng(0)
    shape = (16, *model.input_shape[1:])
    targets = (16, *model.output_shape[1:])
    optimizer = keras.optimizers.SGD(0.05)
    for _ in range(steps):
        x = rng.normal(size=shape).astype("float32")
        y = rng.normal(size=targets).astype("float32")
        with tf.GradientTape() as tape:
            loss = keras.ops.mean((model(x, training=True) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights, strict=True))
    for layer in frozen:
        layer.trainable = False


BUILDERS = {
    "depthwise_decay": depthwise_decay,
    "batchnorm_decay": batchnorm_decay,
    "bias_decay": bias_decay,
    "nested_backbone": nested_backbone_unregularized,
    "frozen_backbone": frozen_regularized_backbone,
    "bare_l2": bare_l2_default,
    "adamw_all": adamw_without_exclusions,
    "clean": clean,
    "reset_weights": reset_weights,
    "softmax_head": softmax_head,
    "tutorial_cnn": tutorial_cnn,
    "dead_units": dead_units,
    "softmax_activity": softmax_activity,
    "dropout_cnn": dropout_cnn,
    "dropout_sequence": dropout_sequence,
}
UNTRAINED = frozenset({"reset_weights"})  # trained before the reset, inside its builder
AFTER_TRAINING = {"softmax_head": lambda m: _penalty_of(m, 1.2), "dead_units": _kill_units}
#: Files in old layouts: Keras 2.0's weightless `Merge` (once reported opaque by AUD002),
#: and a Keras 2.1.6 Bidirectional whose backward penalties were never applied (REG014).
#: Weights-only files (`save_weights`), from a model built above: weights, no config.
WEIGHTS_ONLY = {"clean.weights": "clean.keras"}
LEGACY = {
    "keras206_merge": lambda path: merged_branches(path),
    "keras216_bidirectional": lambda path: bidirectional_gru(path, "2.1.6", backward=1.0),
}


def main(names: list[str]) -> int:
    choices = [*BUILDERS, *LEGACY, *WEIGHTS_ONLY]
    unknown = sorted(set(names) - set(choices))
    if unknown:
        raise SystemExit(f"unknown example(s) {unknown}; expected names from {choices}")
    OUT.mkdir(parents=True, exist_ok=True)
    for name, build in BUILDERS.items():
        if names and name not in names:
            continue
        keras.utils.set_random_seed(zlib.crc32(name.encode()))
        model = build()
        if name not in UNTRAINED:
            train(model)
        AFTER_TRAINING.get(name, lambda m: None)(model)
        for suffix in (".keras", ".h5"):
            model.save(OUT / f"{name}{suffix}")
            _wrote(OUT / f"{name}{suffix}")
    for name, write in LEGACY.items():
        if not names or name in names:
            _wrote(write(OUT / f"{name}.h5"))
    for name, source in WEIGHTS_ONLY.items():
        if not names or name in names:
            keras.saving.load_model(OUT / source).save_weights(OUT / f"{name}.h5")
            _wrote(OUT / f"{name}.h5")
    return 0


def _wrote(path: Path) -> None:
    size = path.stat().st_size
    assert size < 2 * 1024 * 1024, f"{path} is {size} bytes; keep examples under 2 MB"
    print(f"wrote {path.relative_to(OUT.parent.parent)} ({size:,} bytes)")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
