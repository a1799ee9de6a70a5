"""DRP007 recurrent-dropout-slow-path: an LSTM or GRU kept off the fused cuDNN kernel by
`recurrent_dropout` alone, in `.keras`, legacy `.h5` and live; layers that miss another
requirement of the kernel, or drop only their inputs, stay clean. The requirement itself
is pinned against Keras's own code."""

import inspect

import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule, functional

CASES = {
    # fires
    "lstm": lambda L, x: L.LSTM(4, recurrent_dropout=0.25, name="lstm")(x),
    "gru": lambda L, x: L.GRU(4, recurrent_dropout=0.1, dropout=0.2, name="gru")(x),
    "bidirectional": lambda L, x: L.Bidirectional(L.LSTM(4, recurrent_dropout=0.2), name="bi")(x),
    # near misses
    "input_dropout": lambda L, x: L.LSTM(4, dropout=0.3, name="lstm")(x),
    "relu_lstm": lambda L, x: L.LSTM(4, activation="relu", recurrent_dropout=0.2, name="lstm")(x),
    "unrolled": lambda L, x: L.GRU(4, unroll=True, recurrent_dropout=0.2, name="gru")(x),
    "reset_before": lambda L, x: L.GRU(4, reset_after=False, recurrent_dropout=0.2, name="gru")(x),
    "simple_rnn": lambda L, x: L.SimpleRNN(4, recurrent_dropout=0.2, name="rnn")(x),
}


@pytest.fixture(scope="module")
def models(keras, save_model):
    return {
        name: save_model(functional(keras, name, (5, 3), body), f"drp007_{name}")
        for name, body in CASES.items()
    }


@pytest.fixture(scope="module")
def live(keras):
    return {name: functional(keras, name, (5, 3), body) for name, body in CASES.items()}


@pytest.mark.parametrize("fmt", FORMATS)
def test_recurrent_dropout_on_an_lstm_fires(models, fmt):
    (finding,) = assert_rule(models["lstm"][fmt], "DRP007", {("lstm", None)})
    assert finding.message == (
        "`lstm` (LSTM) has recurrent_dropout=0.25, the one setting that keeps it off the "
        "fused cuDNN kernel: on a GPU it runs step by step, several times slower to train. "
        "Dropout on its inputs (`dropout`) keeps the fused kernel."
    )
    assert finding.location.config_key == "config.layers[1].config.recurrent_dropout"
    assert finding.details == {"recurrent_dropout": 0.25, "dropout": 0.0}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_gru_and_both_directions_of_a_bidirectional_fire(models, fmt):
    (finding,) = assert_rule(models["gru"][fmt], "DRP007", {("gru", None)})
    assert finding.details == {"recurrent_dropout": 0.1, "dropout": 0.2}
    assert_rule(
        models["bidirectional"][fmt],
        "DRP007",
        {("bi/forward_lstm", None), ("bi/backward_lstm", None)},
    )


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "name", ["input_dropout", "relu_lstm", "unrolled", "reset_before", "simple_rnn"]
)
def test_layers_the_fused_kernel_would_not_take_anyway_stay_clean(models, fmt, name):
    assert_rule(models[name][fmt], "DRP007", set())


def test_a_live_model_is_judged_alike(live):
    assert_rule(live["lstm"], "DRP007", {("lstm", None)})
    assert_rule(live["input_dropout"], "DRP007", set())


def test_keras_takes_the_fused_kernel_only_without_recurrent_dropout(keras):
    """The fact the rule relies on, in the installed Keras: the fused path of LSTM and
    GRU (`backend.lstm` / `backend.gru`) is tried only when `recurrent_dropout` is 0."""
    from keras.src.layers.rnn import gru, lstm

    for module, call in ((lstm.LSTM, "backend.lstm("), (gru.GRU, "backend.gru(")):
        source = inspect.getsource(module.inner_loop)
        guard = source.index("if not self.recurrent_dropout:")
        assert guard < source.index(call), module.__name__


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_wrapped_layer_is_keyed_at_its_own_config(models, fmt):
    findings = assert_rule(
        models["bidirectional"][fmt],
        "DRP007",
        {("bi/forward_lstm", None), ("bi/backward_lstm", None)},
    )
    assert sorted(f.location.config_key for f in findings) == [
        "config.layers[1].config.backward_layer.config.recurrent_dropout",
        "config.layers[1].config.layer.config.recurrent_dropout",
    ]
