"""RegularizationMonitor(tensorboard=...): the event files read back with TensorBoard's own
event reader hold the monitor's history (per-epoch data loss and penalty in the train and
validation runs, batch figures at the optimizer step, per-group weight norms, histograms
of each group's values and channel norms), next to Keras's own `epoch_loss` when a
`keras.callbacks.TensorBoard` shares the log dir; without TensorBoard the option names the
extra to install."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("tensorboard", reason="the [test] extra installs the [tensorboard] extra")

from tensorboard.backend.event_processing.event_accumulator import (
    EventAccumulator,
)

from auditor.keras import RegularizationMonitor
from auditor.results.history import group_series

pytestmark = pytest.mark.backends
EPOCHS = 3


def _build(keras):
    L, R = keras.layers, keras.regularizers
    model = keras.Sequential(
        [
            keras.Input((6,)),
            L.Dense(8, "relu", kernel_regularizer=R.L2(1e-2), name="hidden"),
            L.BatchNormalization(name="bn"),
            L.Dense(3, kernel_regularizer=R.L2(1e-3), name="out"),
        ],
        name="boarded",
    )
    model.compile(optimizer=keras.optimizers.AdamW(1e-2, weight_decay=0.1), loss="mse")
    return model


@pytest.fixture(scope="module")
def trained(keras, tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 6)), rng.normal(size=(64, 3))
    model = _build(keras)
    board = keras.callbacks.TensorBoard(log_dir=str(logs))
    monitor = RegularizationMonitor(every_n_batches=2, tensorboard=board)
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=EPOCHS,
        validation_data=(x[:16], y[:16]),
        callbacks=[monitor, board],
        verbose=0,
    )
    runs = {}
    for run in ("train", "validation"):
        events = EventAccumulator(str(logs / run), size_guidance={"scalars": 0, "histograms": 0})
        runs[run] = events.Reload()
    return model, monitor.history, runs


def _check(events, tag: str, expected: list[tuple[int, float]]) -> None:
    """The steps of `tag` exactly, its values to float32's precision."""
    written = events.Scalars(tag)
    assert [event.step for event in written] == [step for step, _ in expected], tag
    assert [event.value for event in written] == pytest.approx(
        [value for _, value in expected], rel=1e-6
    ), tag


def test_the_loss_split_is_written_per_epoch_in_both_runs(trained):
    _, history, runs = trained
    train, validation = runs["train"], runs["validation"]
    epochs = history.epochs
    _check(train, "regularization/data_loss", [(e.epoch, e.data_loss) for e in epochs])
    _check(
        train,
        "regularization/regularization_loss",
        [(e.epoch, e.regularization_loss) for e in epochs],
    )
    _check(validation, "regularization/data_loss", [(e.epoch, e.val_data_loss) for e in epochs])
    _check(
        validation,
        "regularization/regularization_loss",
        [(e.epoch, e.val_regularization_loss) for e in epochs],
    )
    _check(
        train,
        "regularization/decay_shrink",
        [(e.epoch, e.optimizer.decay_shrink) for e in epochs],
    )
    # Keras's own figures sit in the same runs (written by tf.summary as tensors).
    assert "epoch_loss" in train.Tags()["tensors"]
    assert "epoch_loss" in validation.Tags()["tensors"]


def test_batch_figures_are_written_at_the_optimizer_step(trained):
    _, history, runs = trained
    expected = [(b.step, b.regularization_loss) for b in history.batches]
    assert len(expected) == EPOCHS * 2
    _check(runs["train"], "regularization/batch_regularization_loss", expected)
    _check(
        runs["train"],
        "regularization/batch_data_loss",
        [(b.step, b.data_loss) for b in history.batches],
    )


def test_group_norms_match_the_history(trained):
    _, history, runs = trained
    for series in group_series(history):
        _check(runs["train"], f"weight_norms/{series.group}", list(enumerate(series.norm)))
    assert {"weight_norms/kernel", "weight_norms/bias", "weight_norms/normalization"} <= set(
        runs["train"].Tags()["scalars"]
    )


def test_histograms_hold_each_group_and_its_channel_norms(trained):
    model, _, runs = trained
    kernels = [np.asarray(model.get_layer(n).kernel.numpy(), np.float64) for n in ("hidden", "out")]
    values = np.concatenate([k.ravel() for k in kernels])
    channels = np.concatenate([np.linalg.norm(k, axis=0) for k in kernels])
    (*_, last) = runs["train"].Histograms("weights/kernel")
    histogram = last.histogram_value
    assert (last.step, histogram.num, sum(histogram.bucket)) == (
        EPOCHS - 1,
        values.size,
        values.size,
    )
    assert (histogram.min, histogram.max) == pytest.approx((values.min(), values.max()))
    assert histogram.sum_squares == pytest.approx(float(values @ values), rel=1e-9)
    (*_, last) = runs["train"].Histograms("channel_norms/kernel")
    assert last.histogram_value.num == channels.size == 8 + 3
    assert last.histogram_value.max == pytest.approx(channels.max())
    assert len(runs["train"].Histograms("weights/normalization")) == EPOCHS


def test_a_log_dir_path_is_enough(keras, tmp_path):
    model = _build(keras)
    monitor = RegularizationMonitor(tensorboard=tmp_path / "run")
    model.fit(np.ones((8, 6)), np.zeros((8, 3)), epochs=2, verbose=0, callbacks=[monitor])
    events = EventAccumulator(str(tmp_path / "run" / "train")).Reload()
    assert [s.step for s in events.Scalars("regularization/data_loss")] == [0, 1]


def test_bad_arguments_and_a_missing_tensorboard_say_what_to_do(monkeypatch):
    with pytest.raises(TypeError, match=r"keras\.callbacks\.TensorBoard\. Received: int"):
        RegularizationMonitor(tensorboard=3)
    for name in [name for name in sys.modules if name.split(".")[0] == "tensorboard"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install 'keras-audit\[tensorboard\]'"):
        RegularizationMonitor(tensorboard="logs")
