"""`AuditCallback`: the pre-training gate inside a training script."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from auditor.engine.config import AuditConfig

pytestmark = pytest.mark.backends


@pytest.fixture(scope="module")
def gate(keras):
    from auditor.keras import AuditCallback, AuditFailed

    return AuditCallback, AuditFailed


def _model(keras, posthoc):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs))
    if posthoc:
        model.get_layer("dense").kernel_regularizer = keras.regularizers.L2(1e-4)
    model.compile(optimizer="sgd", loss="mse")
    return model


DATA = (np.ones((8, 4), "float32"), np.zeros((8, 2), "float32"))


def test_a_bad_model_is_stopped_before_the_first_step(keras, gate, caplog):
    AuditCallback, AuditFailed = gate
    model = _model(keras, posthoc=True)
    before = model.get_layer("dense").kernel.numpy()
    callback = AuditCallback(fail_on="error")
    with (
        caplog.at_level(logging.WARNING, logger="keras_audit"),
        pytest.raises(AuditFailed) as caught,
    ):
        model.fit(*DATA, epochs=1, verbose=0, callbacks=[callback])
    assert [f.code for f in caught.value.findings] == ["REG001"]
    assert str(caught.value).startswith(
        "keras-audit stopped training: 1 finding(s) at or above fail_on='error':\n"
        "  REG001 regularizer-not-applied `dense`:"
    )
    assert callback.report is caught.value.report
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert "REG001" in caplog.records[0].getMessage()
    np.testing.assert_array_equal(model.get_layer("dense").kernel.numpy(), before)


def test_a_clean_model_trains(keras, gate):
    AuditCallback, _ = gate
    model = _model(keras, posthoc=False)
    callback = AuditCallback(fail_on="warning")
    history = model.fit(*DATA, epochs=2, verbose=0, callbacks=[callback])
    assert len(history.history["loss"]) == 2
    assert callback.report is not None and callback.report.failing("warning") == []


def test_never_only_logs_and_config_selects(keras, gate):
    AuditCallback, _ = gate
    model = _model(keras, posthoc=True)
    model.fit(*DATA, epochs=1, verbose=0, callbacks=[AuditCallback(fail_on="never")])
    quiet = AuditCallback(config=AuditConfig(ignore=["REG001"]))
    model.fit(*DATA, epochs=1, verbose=0, callbacks=[quiet])
    assert "REG001" not in {f.code for f in quiet.report.findings}


def test_bad_fail_on(gate):
    AuditCallback, _ = gate
    with pytest.raises(ValueError, match="Received: fail_on='errors'"):
        AuditCallback(fail_on="errors")
