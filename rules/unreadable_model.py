"""AUD001 unreadable-model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.model import IssueKind, ModelGraph
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext

_PARTIAL = frozenset({IssueKind.UNREADABLE, IssueKind.UNSUPPORTED_DATA, IssueKind.INCOMPLETE})


class UnreadableModel(Rule):
    """## What it does
    Reports files that keras-audit could not audit (not a Keras model, truncated or
    corrupt, over a cap, over the per-file time limit) and parts of files it could not
    read (unsupported dtypes, unknown HDF5 filters, unreadable metadata), and audits that
    could not finish (a rule crashed on the file). One sentence per problem; the run goes
    on with the other files. Content that attacks the reader is
    reported by the SEC rules as well (SEC003 external references, SEC004 malformed
    archives).

    ## Why is this bad?
    An audit that silently skips what it could not read reports a clean model that was
    never checked. In a CI gate an unreadable model must fail loudly, and content that
    points outside the file (a known Keras attack surface) must never be followed.

    ## Example
    ```python
    open("model.keras", "wb").write(b"not a model")  # or an interrupted download
    ```

    Use instead:
    ```python
    model.save("model.keras")  # a complete file written by Keras
    ```

    ## Options
    None. The caps themselves are `AuditConfig.limits`.

    ## References
    - CVE-2026-0897 (GHSA-xfhx-r7ww-5995): an HDF5 "shape bomb", a dataset declaring a
      huge shape
    - CVE-2026-1669 (GHSA-3m4q-jmj6-r34q): HDF5 external storage and external links that
      read other local files into tensors
    - Keras 3.15 `saving_lib`: zip-bomb and shape-bomb caps on `config.json` and
      `model.weights.h5`
    """

    code: ClassVar[str] = "AUD001"
    name: ClassVar[str] = "unreadable-model"
    severity: ClassVar[Severity] = Severity.ERROR
    judges_unreadable: ClassVar[bool] = True

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        for issue in model.issues:
            if not issue.fatal and issue.kind not in _PARTIAL:
                continue  # a non-fatal security issue is SEC003's or SEC004's alone
            if issue.fatal:
                message = f"Cannot audit this file: {issue.message}."
                fix = "Check that the file is a complete model written by `model.save()`."
            elif issue.kind is IssueKind.INCOMPLETE:
                message = (
                    f"The audit of this file is incomplete: {issue.message}. What that rule "
                    "checks was not checked, so the file is not known to be safe."
                )
                fix = "Run `audit --debug FILE` for the traceback, and report it."
            else:
                message = f"Part of this file was not read: {issue.message}."
                fix = "Re-save the model with `model.save()` from a trusted environment."
            yield self.finding(
                ctx,
                message,
                layer_path="",
                config_key=issue.where or None,
                fix=fix,
                details={"kind": issue.kind.value, "where": issue.where, "fatal": issue.fatal},
            )
