"""keras-audit: a static linter for Keras models.

Example:
    ```python
    import auditor

    report = auditor.audit("model.keras")
    for finding in report.findings:
        print(finding.code, finding.location.layer_path, finding.message)
    raise SystemExit(report.exit_code(fail_on="warning"))
    ```

Importing this package is cheap: nothing below is imported until used, and static audits
never import tensorflow or keras. The library never prints and never exits.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AuditConfig",
    "Finding",
    "ModelReport",
    "Report",
    "Severity",
    "__version__",
    "audit",
    "audit_many",
]

if TYPE_CHECKING:
    from auditor.engine.config import AuditConfig
    from auditor.results.findings import Finding, ModelReport, Report, Severity

_LAZY = {
    "AuditConfig": "auditor.engine.config",
    "Finding": "auditor.results.findings",
    "ModelReport": "auditor.results.findings",
    "Report": "auditor.results.findings",
    "Severity": "auditor.results.findings",
}


def _display(report: Any, kind: str) -> str:
    """A report model (an audit's report or one model of it, a comparison, a training
    history) as a notebook shows it (`kind`: `html` or `text`); its `_repr_html_` and
    `__repr__` call this, since the report models import no renderer."""
    from auditor.notebook import display

    return display(report, kind)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'auditor' has no attribute {name!r}")


def audit(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Any,
    config: AuditConfig | None = None,
    *,
    reference: str | os.PathLike[str] | Any = None,
) -> Report:
    """Audit saved models, or a live `keras.Model`, and return the report.

    Files are read statically (nothing in them is executed; keras is not imported). A live
    model is read through Keras itself, which adds what only the running objects know:
    the regularizer each variable actually carries, what is trainable, and the compiled
    optimizer's weight-decay exclusions.

    Args:
        source: a `.keras` / `.h5` file, a folder (searched recursively), a list of them,
            or a built Keras 3 `keras.Model`.
        config: AuditConfig | None, rule selection, severities, options and limits.
        reference: a model file or a live keras.Model whose tensors the audited models'
            are compared with (WGT002: which layers were reset or changed).

    Returns:
        Report, with `findings`, `exit_code(fail_on=...)` and `to_json()`.

    Raises:
        TypeError: for a source that is neither a path, a list of paths nor a keras.Model.
        ValueError: for a model that is not built yet.
        auditor.errors.UsageError: for a config naming unknown rules or bad options.
    """
    from auditor.engine.runner import run, run_live

    if isinstance(source, str | os.PathLike):
        return run([source], config, reference=reference)
    if isinstance(source, Sequence) and all(isinstance(s, str | os.PathLike) for s in source):
        return run(list(source), config, reference=reference)
    return run_live(source, config, reference=reference)


def audit_many(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    config: AuditConfig | None = None,
    *,
    client: Any = None,
    reference: str | os.PathLike[str] | None = None,
) -> Iterator[ModelReport]:
    """Audit many saved models and yield each model's report, in input order, as soon as
    it is done: nothing of a model is kept once the caller moves on, so a registry of
    thousands of files runs in flat memory.

    Args:
        paths: files, folders, globs or URLs (folders and prefixes are searched).
        config: AuditConfig | None; suppressions and the baseline apply to each report.
        client: a `distributed.Client`: each file is audited as one task on its Dask
            cluster (the workers open the files themselves: give URLs or paths on a
            shared file system). Without one, files are audited here, with
            `config.jobs` worker processes when it is over 1.
        reference: a model file or URL whose tensors each model's are compared with.

    Returns:
        An iterator of `ModelReport`s (`findings`, `summary`, `path`).

    Raises:
        auditor.errors.UsageError: now, for a config naming unknown rules, bad options,
            an unreadable baseline or a path that cannot be listed; while iterating, for
            a reference model that cannot be read.
    """
    from auditor.engine.runner import stream

    return stream(
        [paths] if isinstance(paths, str | os.PathLike) else list(paths),
        config,
        client=client,
        reference=reference,
    )
