"""DRP007 recurrent-dropout-slow-path."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from auditor.graph.model import ModelGraph
from auditor.numbers import number
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext

#: The recurrent layers with a fused cuDNN kernel, and what else that kernel needs of
#: their config (beyond `recurrent_dropout == 0`): the same in Keras 3 and tf.keras 2.
_FUSED: dict[str, dict[str, Any]] = {
    "LSTM": {"activation": "tanh", "recurrent_activation": "sigmoid"},
    "GRU": {"activation": "tanh", "recurrent_activation": "sigmoid", "reset_after": True},
}


class RecurrentDropoutSlowPath(Rule):
    """## What it does
    Checks each `LSTM` and `GRU` layer (inside `Bidirectional` too) whose only obstacle to
    the fused cuDNN kernel is `recurrent_dropout > 0`: the layer meets every other
    requirement of that kernel (`tanh` activation, `sigmoid` recurrent activation, a bias,
    no unrolling, and for `GRU` `reset_after=True`).

    ## Why is this bad?
    Keras runs an `LSTM` or `GRU` on a GPU with one fused cuDNN kernel only when
    `recurrent_dropout` is 0; with any recurrent dropout it falls back to the generic
    loop, one step at a time, which trains several times slower. Dropout on the layer's
    inputs (`dropout`) keeps the fused kernel. This is a choice to make knowingly
    (variational recurrent dropout regularizes the recurrent state), not an error: it
    costs nothing on a CPU.

    ## Example
    ```python
    keras.layers.LSTM(128, recurrent_dropout=0.2)
    ```

    Use instead:
    ```python
    keras.layers.LSTM(128, dropout=0.2)  # or keep recurrent_dropout, knowing its cost
    ```

    ## Options
    None.

    ## References
    - keras-team/keras `keras/src/layers/rnn/lstm.py` (the cuDNN requirements in the
      `LSTM` docstring; `inner_loop` calls the fused `backend.lstm` only when
      `recurrent_dropout` is 0) and `keras/src/layers/rnn/gru.py`
    - Gal and Ghahramani, "A Theoretically Grounded Application of Dropout in Recurrent
      Neural Networks", NeurIPS 2016 (what recurrent dropout buys)
    """

    code: ClassVar[str] = "DRP007"
    name: ClassVar[str] = "recurrent-dropout-slow-path"
    severity: ClassVar[Severity] = Severity.INFO
    requires: ClassVar[frozenset[str]] = frozenset({"config"})

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        for layer in model.root.walk():
            needs = _FUSED.get(layer.class_name)
            rate = _rate(layer.config.get("recurrent_dropout"))
            if needs is None or not rate or not _fused_but_for_dropout(layer.config, needs):
                continue
            yield self.finding(
                ctx,
                f"`{layer.path}` ({layer.class_name}) has recurrent_dropout={number(rate)}, "
                "the one setting that keeps it off the fused cuDNN kernel: on a GPU it runs "
                "step by step, several times slower to train. Dropout on its inputs "
                "(`dropout`) keeps the fused kernel.",
                layer=layer,
                config_key=layer.setting_key("recurrent_dropout"),
                fix="Use `dropout` (on the inputs) instead, or keep `recurrent_dropout` where "
                "regularizing the recurrent state is worth the slower training.",
                details={"recurrent_dropout": rate, "dropout": _rate(layer.config.get("dropout"))},
            )


def _rate(value: Any) -> float:
    """A dropout rate from a config (Keras clips it to [0, 1]); 0 for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return min(1.0, max(0.0, float(value)))


def _fused_but_for_dropout(config: Mapping[str, Any], needs: Mapping[str, Any]) -> bool:
    """Whether the layer meets every other requirement of the fused kernel."""
    if config.get("unroll") is True or config.get("use_bias") is False:
        return False
    return all(config.get(key, value) == value for key, value in needs.items())
