"""Shared fixtures: keras imported once per session, models saved in both file formats."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FORMATS = ("keras", "h5")
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def keras() -> Any:
    """The keras module, imported once per test session: on the TensorFlow backend, or
    the one KERAS_BACKEND names (`make test` runs the `backends` tests again on JAX)."""
    import logging

    import keras as keras_module

    logging.getLogger("absl").setLevel(logging.ERROR)
    keras_module.utils.set_random_seed(0)
    return keras_module


SaveModel = Callable[..., dict[str, Path]]


@pytest.fixture(scope="session")
def save_model(tmp_path_factory: pytest.TempPathFactory) -> SaveModel:
    """save_model(model, name) -> {"keras": path, "h5": path}."""
    root = tmp_path_factory.mktemp("models")

    def save(model: Any, name: str, formats: tuple[str, ...] = FORMATS) -> dict[str, Path]:
        paths = {}
        for fmt in formats:
            path = root / f"{name}.{fmt}"
            model.save(path)
            paths[fmt] = path
        return paths

    return save


def build_complex_model(keras: Any) -> Any:
    """A model with every layer kind the loaders map (nested and frozen models, RNN cells,
    Bidirectional, MultiHeadAttention, depthwise, normalization), compiled with AdamW."""
    L, R = keras.layers, keras.regularizers
    inner = keras.Sequential(
        [
            keras.Input((8,)),
            L.Dense(4, kernel_regularizer=R.L2(1e-4), name="inner_dense"),
            L.BatchNormalization(gamma_regularizer=R.L1(1e-5), name="inner_bn"),
        ],
        name="subseq",
    )
    frozen = keras.Sequential(
        [keras.Input((4,)), L.Dense(4, kernel_regularizer="l2", name="frozen_dense")], name="frozen"
    )
    frozen.trainable = False
    seq = keras.Input((6, 8), name="seq")
    h = L.Bidirectional(
        L.LSTM(5, kernel_regularizer=R.L2(1e-3), return_sequences=True, name="lstm"), name="bidi"
    )(seq)
    h = L.MultiHeadAttention(
        2, 3, kernel_regularizer="l2", bias_regularizer=R.L1(1e-4), name="mha"
    )(h, h)
    h = L.TimeDistributed(L.Dense(8, kernel_regularizer=R.L1L2(1e-5, 1e-4)), name="td")(h)
    h = L.GRU(4, recurrent_regularizer=R.L2(1e-4), name="gru")(h)
    h = L.SimpleRNN(4, name="srnn")(L.RepeatVector(2)(h))
    h = L.Dense(8)(h)
    h = keras.ops.add(h, h)
    h = frozen(inner(h))
    img = L.Input((8, 8, 3), name="img")
    c = L.SeparableConv2D(4, 3, depthwise_regularizer=R.L1L2(1e-5, 1e-4), name="sep")(img)
    c = L.DepthwiseConv2D(3, depthwise_regularizer="l2", name="dw")(c)
    c = L.Conv2D(4, 3, use_bias=False, trainable=False, name="frozen_conv")(c)
    c = L.Conv2DTranspose(2, 2, name="tconv")(c)
    c = L.GroupNormalization(2, name="gn")(c)
    c = L.PReLU(name="prelu")(c)
    c = L.GlobalAveragePooling2D()(c)
    tok = L.Input((5,), dtype="int32", name="tok")
    e = L.Embedding(20, 8, embeddings_regularizer=R.L2(1e-5), name="emb")(tok)
    e = L.LayerNormalization(center=False, name="ln")(e)
    e = L.Conv1D(4, 2, name="c1d")(e)
    e = L.GlobalAveragePooling1D()(e)
    shared = L.Dense(3, name="shared")
    out = L.Concatenate()([shared(h), shared(e), c])
    out = L.Dense(3, activation="softmax", name="head")(out)
    model = keras.Model([seq, img, tok], out, name="complex")
    model.compile(optimizer=keras.optimizers.AdamW(weight_decay=0.01), loss="mse")
    return model


@pytest.fixture(scope="session")
def complex_model(keras: Any, save_model: SaveModel) -> tuple[Any, dict[str, Path]]:
    """The complex model (shared: do not mutate it) and its saved files."""
    model = build_complex_model(keras)
    return model, save_model(model, "loading_complex")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium driven by selenium, shared by every HTML test."""
    assert shutil.which(CHROMIUM) and shutil.which(DRIVER), (
        "Debian chromium and chromium-driver are needed: apt-get install chromium chromium-driver"
    )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1800",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def tf_keras_savedmodels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of genuine tf.keras 2 SavedModels (tests/savedmodels.py), built once."""
    pytest.importorskip("tf_keras", reason="the [test] extra installs tf-keras")
    from tests.savedmodels import build_tf_keras_savedmodels

    out = tmp_path_factory.mktemp("savedmodels")
    build_tf_keras_savedmodels(out)
    return out
