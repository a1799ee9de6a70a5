"""`audit history`: a RegularizationMonitor history as text, JSON or one HTML page.

Pure functions of the TrainingHistory (and the group series derived from it).
"""

from __future__ import annotations

import json

from auditor.numbers import number, percent
from auditor.reports.cells import aligned
from auditor.reports.charts import line_chart
from auditor.reports.safe import visible
from auditor.results.history import GroupSeries, TrainingHistory, group_series

__all__ = ["FORMATS", "change", "decay_summary", "render"]

FORMATS = ("text", "json", "html")


def render(history: TrainingHistory, fmt: str) -> str:
    """The history in `fmt` (text, json or html)."""
    groups = group_series(history)
    if fmt == "json":
        document = {
            "history": history.model_dump(mode="json"),
            "groups": [g.model_dump(mode="json") for g in groups],
        }
        return json.dumps(document, indent=2) + "\n"
    if fmt == "html":
        return _html(history, groups)
    if fmt == "text":
        return _text(history, groups)
    raise ValueError(f"unknown history format {fmt!r}; expected one of {', '.join(FORMATS)}")


def change(first: float | None, last: float | None) -> str:
    """` (+12.5%)`: the relative change from `first` to `last`, or "" without one."""
    if first is None or last is None or first == 0:
        return ""
    return f" ({percent((last - first) / first, signed=True)})"


def decay_summary(history: TrainingHistory) -> str | None:
    """What decoupled weight decay alone did over the history (`(AdamW,
    weight_decay=0.01): decay alone shrank ... over N steps`), or None without it."""
    decay = [e.optimizer for e in history.epochs if e.optimizer and e.optimizer.weight_decay]
    if not decay:
        return None
    total = 1.0
    for state in decay:
        total *= state.decay_shrink
    steps = sum(state.steps for state in decay)
    return (
        f"({decay[-1].class_name}, weight_decay={number(decay[-1].weight_decay)}): decay alone "
        f"shrank each decayed weight by {percent(1 - total, 3)} over {steps} steps"
    )


def _text(history: TrainingHistory, groups: list[GroupSeries]) -> str:
    epochs = history.epochs
    lines = [
        f"Training history of {history.model_name!r}"
        + (f" ({history.optimizer})" if history.optimizer else "")
        + f": {len(epochs)} epoch{'s' if len(epochs) != 1 else ''}",
        "",
    ]
    has_val = any(e.val_data_loss is not None for e in epochs)
    header = ["epoch", "loss", "data_loss", "penalty", "share"]
    header += ["val_data_loss", "val_penalty"] if has_val else []
    rows = [header]
    for e in epochs:
        row = [
            str(e.epoch),
            number(e.loss),
            number(e.data_loss),
            number(e.regularization_loss),
            percent(e.penalty_share),
        ]
        if has_val:
            row += [number(e.val_data_loss), number(e.val_regularization_loss)]
        rows.append(row)
    lines += aligned(rows, right=True)
    if groups and epochs:
        lines += ["", "Weight norms by group (first epoch -> last epoch):"]
        for g in groups:
            lines.append(
                f"  {g.group} ({g.weights} weights, {g.regularized} regularized, "
                f"{g.decayed} decayed): norm {number(g.norm[0])} -> {number(g.norm[-1])}"
                f"{change(g.norm[0], g.norm[-1])}; channel mean {number(g.channel_mean[0])} -> "
                f"{number(g.channel_mean[-1])}, max {number(g.channel_max[0])} -> "
                f"{number(g.channel_max[-1])}"
            )
    decay = decay_summary(history)
    if decay:
        lines += ["", f"Decoupled weight decay {decay}."]
    for warning in history.warnings:
        lines += ["", f"warning: {warning}"]
    return "\n".join(visible(line) for line in lines) + "\n"  # names from the file, inert


def _html(history: TrainingHistory, groups: list[GroupSeries]) -> str:
    from auditor.reports.html import environment

    x = [e.epoch for e in history.epochs]
    losses = {
        "data loss": [e.data_loss for e in history.epochs],
        "penalty": [e.regularization_loss for e in history.epochs],
    }
    if any(e.val_data_loss is not None for e in history.epochs):
        losses["validation data loss"] = [e.val_data_loss for e in history.epochs]
    charts = [line_chart("Data loss and regularization penalty", x, losses, y_label="loss")]
    if groups:
        charts.append(
            line_chart(
                "Weight norm by group",
                x,
                {g.group: g.norm for g in groups},
                y_label="L2 norm",
                log=True,
            )
        )
        charts.append(
            line_chart(
                "Mean output-channel norm by group",
                x,
                {g.group: g.channel_mean for g in groups},
                y_label="channel L2 norm",
                log=True,
            )
        )
    template = environment().get_template("history.html.j2")
    return template.render(history=history, groups=groups, charts=charts)
