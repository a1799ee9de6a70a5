"""Build the example models with the classic regularization mistakes.

Run with the `[keras]` extra installed:  python examples/build_examples.py
Writes examples/models/<name>.keras and .h5 (each well under 2 MB). Each model is trained
for a few steps on synthetic data (nothing is downloaded), so that its weights look like a
trained model's; `reset_weights` is the exception on purpose. `make demo` audits these files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import tensorflow as tf
from keras import layers, regularizers

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
}
UNTRAINED = frozenset({"reset_weights"})  # trained before the reset, inside its builder


def main(out: Path = OUT) -> int:
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(7)
    for name, build in BUILDERS.items():
        model = build()
        if name not in UNTRAINED:
            train(model)
        for suffix in (".keras", ".h5"):
            path = out / f"{name}{suffix}"
            model.save(path)
            size = path.stat().st_size
            assert size < 2 * 1024 * 1024, f"{path} is {size} bytes; keep examples under 2 MB"
            print(f"wrote {path.relative_to(out.parent.parent)} ({size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
