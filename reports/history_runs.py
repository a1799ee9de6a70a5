"""`audit history RUN1 RUN2 ...`: several RegularizationMonitor histories overlaid, as
text, JSON or one HTML page, for the question "is the weight decay working, compared with
no L2?": each run's data loss, penalty and per-group weight norms on the same axes.

Pure functions of the TrainingRuns (and the group series derived from each history).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from auditor.numbers import number
from auditor.reports.cells import aligned
from auditor.reports.charts import Chart, line_chart
from auditor.reports.history import FORMATS, change, decay_summary
from auditor.reports.safe import visible
from auditor.results.history import (
    EpochRecord,
    GroupSeries,
    TrainingHistory,
    TrainingRuns,
    group_series,
)

__all__ = ["FORMATS", "render_runs"]

Runs = list[tuple[str, TrainingHistory, list[GroupSeries]]]


def render_runs(runs: TrainingRuns, fmt: str) -> str:
    """The runs overlaid in `fmt` (text, json or html)."""
    items: Runs = [(run.label, run.history, group_series(run.history)) for run in runs.runs]
    if fmt == "json":
        document = {
            "kind": runs.kind,
            "runs": [
                {
                    "label": label,
                    "history": history.model_dump(mode="json"),
                    "groups": [g.model_dump(mode="json") for g in groups],
                }
                for label, history, groups in items
            ],
        }
        return json.dumps(document, indent=2) + "\n"
    if fmt == "html":
        return _html(items)
    if fmt == "text":
        return _text(items)
    raise ValueError(f"unknown history format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _epochs(items: Runs) -> list[int]:
    return sorted({e.epoch for _, history, _ in items for e in history.epochs})


def _by_epoch(history: TrainingHistory, value: Callable[[EpochRecord], float | None]) -> dict:
    return {e.epoch: value(e) for e in history.epochs}


def _group_names(items: Runs) -> list[str]:
    """Every group of any run, in the order the first runs list them."""
    names: dict[str, None] = {}
    for _, _, groups in items:
        names.update(dict.fromkeys(g.group for g in groups))
    return list(names)


def _text(items: Runs) -> str:
    lines = [f"{len(items)} training runs", ""]
    rows = [["run", "model", "optimizer", "epochs", "data_loss", "penalty", "val_data_loss"]]
    for label, history, _ in items:
        epochs = history.epochs
        first, last = (epochs[0], epochs[-1]) if epochs else (None, None)
        rows.append(
            [
                label,
                repr(history.model_name),
                history.optimizer or "",
                str(len(epochs)),
                f"{number(first.data_loss if first else None)} -> "
                f"{number(last.data_loss if last else None)}"
                f"{change(first.data_loss if first else None, last.data_loss if last else None)}",
                number(last.regularization_loss if last else None),
                number(last.val_data_loss if last else None),
            ]
        )
    lines += aligned(rows, right=False)
    for title, value in (
        ("Data loss by epoch:", lambda e: e.data_loss),
        ("Penalty by epoch:", lambda e: e.regularization_loss),
    ):
        table = [["epoch", *(label for label, _, _ in items)]]
        columns = [_by_epoch(history, value) for _, history, _ in items]
        for epoch in _epochs(items):
            table.append([str(epoch), *(number(column.get(epoch)) for column in columns)])
        lines += ["", title, *aligned(table, right=True)]
    lines += ["", "Weight norm by group (first epoch -> last epoch):"]
    table = [["group", *(label for label, _, _ in items)]]
    for name in _group_names(items):
        cells = [name]
        for _, _, groups in items:
            series = next((g for g in groups if g.group == name), None)
            norms = series.norm if series else []
            cells.append(
                f"{number(norms[0])} -> {number(norms[-1])}{change(norms[0], norms[-1])}"
                if norms
                else "-"
            )
        table.append(cells)
    lines += aligned(table, right=False)
    decays = [(label, decay_summary(history)) for label, history, _ in items]
    lines += ["", "Decoupled weight decay:"]
    lines += [f"  {label}: {summary or 'none'}" for label, summary in decays]
    return "\n".join(visible(line) for line in lines) + "\n"  # names from the files, inert


def _html(items: Runs) -> str:
    from auditor.reports.html import environment

    x = _epochs(items)

    def series(value: Callable[[EpochRecord], float | None]) -> dict[str, list[float | None]]:
        found = {}
        for label, history, _ in items:
            points = _by_epoch(history, value)
            found[label] = [points.get(epoch) for epoch in x]
        return found

    charts: list[Chart] = [
        line_chart("Data loss by run", x, series(lambda e: e.data_loss), y_label="loss"),
        line_chart(
            "Regularization penalty by run",
            x,
            series(lambda e: e.regularization_loss),
            y_label="penalty",
        ),
    ]
    validation = series(lambda e: e.val_data_loss)
    if any(v is not None for points in validation.values() for v in points):
        charts.append(line_chart("Validation data loss by run", x, validation, y_label="loss"))
    for name in _group_names(items):
        norms: dict[str, list[float | None]] = {}
        for label, history, groups in items:
            found = next((g for g in groups if g.group == name), None)
            if found is not None:
                by_epoch = dict(zip((e.epoch for e in history.epochs), found.norm, strict=True))
                norms[label] = [by_epoch.get(epoch) for epoch in x]
        charts.append(line_chart(f"Weight norm: {name}", x, norms, y_label="L2 norm", log=True))
    decays = [(label, decay_summary(history)) for label, history, _ in items]
    template = environment().get_template("history_runs.html.j2")
    return template.render(items=items, charts=charts, decays=decays, epochs=x)
