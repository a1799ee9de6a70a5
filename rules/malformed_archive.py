"""SEC004 malformed-archive."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from auditor.graph.model import IssueKind, ModelGraph
from auditor.results.findings import Finding, Severity
from auditor.rules._security import issue_findings
from auditor.rules.base import Rule, RuleContext

_KINDS = frozenset({IssueKind.UNSAFE_ARCHIVE, IssueKind.MALFORMED, IssueKind.OVER_LIMIT})


class MalformedArchive(Rule):
    """## What it does
    Reports a file built to attack the reader rather than to hold a model: zip member
    names with `..`, absolute or backslash paths, duplicate or encrypted members,
    compression ratios or declared sizes over the caps (zip bombs), JSON nested beyond
    the depth cap, and HDF5 datasets declaring far more data than they store (shape
    bombs). The offending part is never extracted or read.

    ## Why is this bad?
    Keras extracts archives and allocates declared shapes before checking them: a member
    named `../../.bashrc` writes outside the target folder, a 1 kB member that inflates
    to 100 GB fills the disk, a dataset declaring a petabyte exhausts memory. Duplicate
    members make different tools see different models in the same file.

    ## Example
    ```python
    zipfile.ZipFile("model.keras", "a").writestr("../../evil.py", payload)
    ```

    Use instead:
    ```python
    model.save("model.keras")
    ```

    ## Options
    None. The caps are `limits` in the configuration (`[tool.keras-audit.limits]`:
    `max-file-bytes`, `max-json-bytes`, `max-json-depth`, `max-members`,
    `max-compression-ratio`, `max-inflated-bytes`, `max-tensor-bytes`, `max-sparse-ratio`,
    `max-h5-objects`).

    ## References
    - CVE-2026-0897 (HDF5 shape bomb in model loading)
    - CVE-2026-12479 (zip path traversal in `.keras` extraction)
    """

    code: ClassVar[str] = "SEC004"
    name: ClassVar[str] = "malformed-archive"
    severity: ClassVar[Severity] = Severity.ERROR
    judges_unreadable: ClassVar[bool] = True

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        yield from issue_findings(
            self,
            ctx,
            model,
            _KINDS,
            "The file is malformed in a way that attacks readers: {issue}.",
            "Do not load this file; re-save the model with `model.save()` from a trusted "
            "environment.",
        )
