"""RegularizationMonitor: its penalty and data loss checked against figures computed
independently from weight snapshots, its norms against numpy, its decay against the
optimizer's arithmetic, and its history file against `audit history`."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from auditor.training.history import read_history

pytestmark = pytest.mark.backends

L2_KERNEL, L1_BIAS, L2_OUT = 1e-2, 1e-3, 5e-3


def build(keras, optimizer):
    """A Dense model with L2 kernels, an L1 bias, and a frozen L2 layer (no penalty)."""
    L, R = keras.layers, keras.regularizers
    model = keras.Sequential(
        [
            keras.Input((6,)),
            L.Dense(
                8,
                "tanh",
                kernel_regularizer=R.L2(L2_KERNEL),
                bias_regularizer=R.L1(L1_BIAS),
                name="d1",
            ),
            L.Dense(5, "tanh", kernel_regularizer=R.L2(1.0), name="frozen"),
            L.Dense(1, kernel_regularizer=R.L2(L2_OUT), name="out"),
        ],
        name="monitored",
    )
    model.get_layer("frozen").trainable = False
    model.compile(optimizer=optimizer, loss="mse")
    return model


def penalty_of(weights: dict[str, np.ndarray]) -> float:
    """Σλ‖W‖² (and λ|b|) of the trainable regularized weights, from numpy arrays."""
    return float(
        L2_KERNEL * np.sum(weights["d1/kernel"].astype(np.float64) ** 2)
        + L1_BIAS * np.sum(np.abs(weights["d1/bias"].astype(np.float64)))
        + L2_OUT * np.sum(weights["out/kernel"].astype(np.float64) ** 2)
    )


def snapshot(model) -> dict[str, np.ndarray]:
    return {
        f"{layer.name}/{v.name}": np.array(v.numpy())
        for layer in model.layers
        for v in layer.weights
    }


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(40, 6)).astype("f4"), rng.normal(size=(40, 1)).astype("f4")


@pytest.fixture(scope="module")
def trained(keras, data, tmp_path_factory):
    """Three epochs, batches of 16 over 40 samples (the last batch has 8), with
    validation; a recorder takes the weights each batch starts from."""
    from auditor.keras import RegularizationMonitor

    x, y = data
    model = build(keras, keras.optimizers.SGD(0.05))
    starts: list[list[dict[str, np.ndarray]]] = []

    class Recorder(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            starts.append([])

        def on_train_batch_begin(self, batch, logs=None):
            starts[-1].append(snapshot(self.model))

    path = tmp_path_factory.mktemp("monitor") / "history.json"
    monitor = RegularizationMonitor(path, every_n_batches=1)
    fit = model.fit(
        x,
        y,
        epochs=3,
        batch_size=16,
        verbose=0,
        validation_data=(x, y),
        callbacks=[Recorder(), monitor],
        shuffle=False,
    )
    return model, monitor, fit.history, starts, path


def test_regularization_loss_is_the_batch_weighted_penalty(trained):
    _, monitor, history, starts, _ = trained
    for epoch, batches in enumerate(starts):
        sizes = [16, 16, 8]
        expected = sum(n * penalty_of(w) for n, w in zip(sizes, batches, strict=True)) / 40
        assert history["regularization_loss"][epoch] == pytest.approx(expected, rel=1e-6)
        assert monitor.history.epochs[epoch].regularization_loss == pytest.approx(
            expected, rel=1e-6
        )


def test_data_loss_is_the_evaluated_loss_minus_the_penalty(keras, trained, data):
    """Each batch's evaluated loss, on the weights it started from, minus the independent
    penalty, weighted like Keras's epoch loss: the monitor's data_loss."""
    _, monitor, history, starts, _ = trained
    x, y = data
    probe = build(keras, keras.optimizers.SGD(0.0))
    bounds = [(0, 16), (16, 32), (32, 40)]
    for epoch, batches in enumerate(starts):
        total = 0.0
        for (lo, hi), weights in zip(bounds, batches, strict=True):
            probe.set_weights(
                [weights[f"{la.name}/{v.name}"] for la in probe.layers for v in la.weights]
            )
            evaluated = probe.evaluate(x[lo:hi], y[lo:hi], batch_size=hi - lo, verbose=0)
            total += (hi - lo) * (evaluated - penalty_of(weights))
        assert history["data_loss"][epoch] == pytest.approx(total / 40, rel=1e-5)
        record = monitor.history.epochs[epoch]
        assert record.data_loss == pytest.approx(record.loss - record.regularization_loss)


def test_validation_split_uses_the_end_of_epoch_weights(keras, trained, data):
    model, _, history, _, _ = trained
    x, y = data
    final = snapshot(model)
    assert history["val_regularization_loss"][-1] == pytest.approx(penalty_of(final), rel=1e-6)
    evaluated = model.evaluate(x, y, batch_size=40, verbose=0)
    assert history["val_data_loss"][-1] == pytest.approx(evaluated - penalty_of(final), rel=1e-5)


def test_frozen_regularizers_add_nothing(trained):
    """The frozen layer's L2(1.0) would dwarf everything if it were counted."""
    _, monitor, _, starts, _ = trained
    frozen = float(np.sum(starts[0][0]["frozen/kernel"].astype(np.float64) ** 2))
    assert monitor.history.epochs[0].regularization_loss < 0.1 * frozen
    assert all(not w.path.endswith("frozen/kernel") for w in monitor.history.weights)


def test_batch_records_and_norms(trained):
    model, monitor, _, starts, _ = trained
    batches = monitor.history.batches
    assert [(b.epoch, b.batch) for b in batches] == [(e, b) for e in range(3) for b in range(3)]
    assert batches[0].batch_penalty == pytest.approx(penalty_of(starts[0][0]), rel=1e-6)
    kernel = model.get_layer("d1").kernel.numpy().astype(np.float64)
    (path,) = [w.path for w in monitor.history.weights if w.path.endswith("d1/kernel")]
    norms = monitor.history.epochs[-1].norms[path]
    channels = np.sqrt((kernel**2).sum(axis=0))
    assert norms.norm == pytest.approx(float(np.linalg.norm(kernel)), rel=1e-9)
    assert norms.channel_mean == pytest.approx(float(channels.mean()), rel=1e-9)
    assert norms.channel_max == pytest.approx(float(channels.max()), rel=1e-9)
    groups = {w.path.split("/", 1)[1]: w.group for w in monitor.history.weights}
    assert groups == {
        "d1/kernel": "kernel",
        "d1/bias": "bias",
        "out/kernel": "kernel",
        "out/bias": "bias",
    }


def test_history_file_round_trips_and_renders(trained):
    from auditor.reports.history import render

    _, monitor, _, _, path = trained
    assert read_history(path) == monitor.history
    text = render(read_history(path), "text")
    assert "Training history of 'monitored' (SGD): 3 epochs" in text
    assert "kernel (2 weights, 2 regularized, 0 decayed)" in text


def test_decoupled_decay_shrink_and_warning(keras, data, caplog):
    """AdamW: the recorded shrink is Π(1 - lr·wd) over the steps; a penalty above
    warn_share of the data loss warns exactly once."""
    from auditor.keras import RegularizationMonitor

    x, y = data
    model = build(keras, keras.optimizers.AdamW(0.01, weight_decay=0.1))
    monitor = RegularizationMonitor(warn_share=0.001)
    with caplog.at_level(logging.WARNING, logger="keras_audit"):
        model.fit(x, y, epochs=2, batch_size=20, verbose=0, callbacks=[monitor])
    state = monitor.history.epochs[0].optimizer
    assert state.class_name == "AdamW" and state.steps == 2
    assert state.decay_shrink == pytest.approx((1 - 0.01 * 0.1) ** 2, rel=1e-6)
    warnings = [r for r in caplog.records if "RegularizationMonitor" in r.getMessage()]
    assert len(warnings) == 1 and "of the data loss" in warnings[0].getMessage()
    assert monitor.history.warnings == [warnings[0].getMessage().split(": ", 1)[1]]
    decayed = {w.path.split("/", 1)[1]: w.decayed for w in monitor.history.weights}
    assert decayed == {"d1/kernel": True, "d1/bias": True, "out/kernel": True, "out/bias": True}


def test_quiet_model_without_regularizers(keras, data):
    from auditor.keras import RegularizationMonitor

    x, y = data
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(1, name="plain")])
    model.compile("sgd", "mse")
    monitor = RegularizationMonitor()
    fit = model.fit(x, y, epochs=1, batch_size=40, verbose=0, callbacks=[monitor])
    assert fit.history["regularization_loss"] == [0.0]
    assert fit.history["data_loss"] == pytest.approx(fit.history["loss"])
    assert monitor.history.warnings == []


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [({"every_n_batches": -1}, "every_n_batches"), ({"warn_share": "half"}, "warn_share")],
)
def test_bad_arguments_name_the_value(keras, kwargs, words):
    from auditor.keras import RegularizationMonitor

    with pytest.raises(ValueError, match=words):
        RegularizationMonitor(**kwargs)


def test_penalty_share_is_data_relative(trained):
    _, monitor, _, _, _ = trained
    for record in monitor.history.epochs:
        assert math.isclose(record.penalty_share, record.regularization_loss / record.data_loss)
