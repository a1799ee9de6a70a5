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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["AuditConfig", "Finding", "Report", "Severity", "__version__", "audit"]

if TYPE_CHECKING:
    from auditor.config import AuditConfig
    from auditor.findings import Finding, Report, Severity

_LAZY = {
    "AuditConfig": "auditor.config",
    "Finding": "auditor.findings",
    "Report": "auditor.findings",
    "Severity": "auditor.findings",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'auditor' has no attribute {name!r}")


def audit(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    config: AuditConfig | None = None,
) -> Report:
    """Audit one or more saved models and return the report.

    Args:
        source: a `.keras` / `.h5` file, a folder (searched recursively), or a list of them.
        config: AuditConfig | None, rule selection, severities, options and limits.

    Returns:
        Report, with `findings`, `exit_code(fail_on=...)` and `to_json()`.

    Raises:
        TypeError: for a source that is neither a path nor a list of paths.
        auditor.errors.UsageError: for a config naming unknown rules or bad options.
    """
    from auditor.engine import run

    if isinstance(source, str | os.PathLike):
        return run([source], config)
    if isinstance(source, Sequence) and all(isinstance(s, str | os.PathLike) for s in source):
        return run(list(source), config)
    raise TypeError(
        "audit() takes a model file path, a folder, or a list of them. "
        f"Received: source of type {type(source).__name__}"
    )
