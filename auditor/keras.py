"""The in-script pre-training gate: a Keras callback that audits the model before `fit()`.

Example:
    ```python
    from auditor.keras import AuditCallback

    model.fit(x, y, callbacks=[AuditCallback(fail_on="error")])
    ```

At `on_train_begin` the callback audits the live model and its compiled optimizer (the
same audit as `auditor.audit(model)`), logs every finding on the `keras_audit` logger, and
stops training by raising `AuditFailed` when a finding is at or above `fail_on`. The
report stays available as `callback.report`.

`RegularizationMonitor` (from `auditor.training.monitor`) splits the training loss into data loss
and penalty and follows weight norms; see its docstring.

Importing this module imports keras.
"""

from __future__ import annotations

import logging
from typing import Any

import keras

from auditor.engine.config import AuditConfig
from auditor.results.findings import Finding, Report, Severity, failing_rank
from auditor.training.monitor import RegularizationMonitor

__all__ = ["AuditCallback", "AuditFailed", "RegularizationMonitor"]

logger = logging.getLogger("keras_audit")

_LEVELS = {Severity.ERROR: logging.ERROR, Severity.WARNING: logging.WARNING}


class AuditFailed(RuntimeError):
    """Training was stopped because the audit found problems at or above `fail_on`.

    Attributes:
        report: Report, the whole audit.
        findings: the findings that stopped training.
    """

    def __init__(self, report: Report, findings: list[Finding], fail_on: str) -> None:
        self.report = report
        self.findings = findings
        lines = [
            f"  {f.code} {f.name} `{f.location.layer_path or '<model>'}`: {f.message}"
            for f in findings
        ]
        super().__init__(
            f"keras-audit stopped training: {len(findings)} finding(s) at or above "
            f"fail_on={fail_on!r}:\n" + "\n".join(lines)
        )


class AuditCallback(keras.callbacks.Callback):
    """Audit the model and its optimizer when training begins; stop on serious findings.

    Args:
        fail_on: str, `error` (default), `warning`, `info`, or `never` (only log).
        config: AuditConfig | None, rule selection, severities and options.
    """

    def __init__(self, fail_on: str = "error", config: AuditConfig | None = None) -> None:
        super().__init__()
        failing_rank(fail_on)  # raises ValueError, naming the choices, for a bad value
        self.fail_on = fail_on
        self.config = config
        self.report: Report | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        from auditor.engine.runner import run_live

        report = run_live(self.model, self.config)
        self.report = report
        for finding in report.findings:
            if finding.suppressed is None:
                logger.log(
                    _LEVELS.get(finding.severity, logging.INFO),
                    "%s %s `%s`: %s",
                    finding.code,
                    finding.name,
                    finding.location.layer_path or "<model>",
                    finding.message,
                )
        failing = report.failing(self.fail_on)
        if failing:
            raise AuditFailed(report, failing, self.fail_on)
