"""Folding: a rule's per-layer findings in one model shown as one line, in the formats read
line by line (text, Markdown, GitHub annotations). JSON, SARIF, JUnit and HTML keep every
finding, and `verbose` unfolds.

Two cases fold, within one model and one severity:

* a rule that reports the model as a whole and each layer (WGT001: "55 of 55 layers are
  at initialization", then each layer): the model-level finding already says it, so every
  per-layer finding folds into one line under it, when there are at least two;
* a rule that reports one finding per layer for one cause (REG006 on each bias): past
  `FOLD_AT` findings, the first is shown and the rest fold into one line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from auditor.results.findings import Finding, Severity

__all__ = ["FOLD_AT", "Fold", "folded"]

#: Findings of one rule, severity and suppression state in one model, without a
#: model-level finding, beyond which the rest fold.
FOLD_AT = 4
_NAMED = 3  # layers a fold line names


@dataclass(frozen=True, slots=True)
class Fold:
    """Findings shown as one line.

    Attributes:
        code, name, severity: the rule's and its findings'.
        findings: the folded findings, in report order.
        under_summary: True when a model-level finding of the rule says what they say.
    """

    code: str
    name: str
    severity: Severity
    findings: tuple[Finding, ...]
    under_summary: bool

    @property
    def count(self) -> int:
        return len(self.findings)

    def layers(self) -> str:
        """`` `a`, `b`, `c` and 52 more ``: the first few layers, raw (callers escape)."""
        paths = list(dict.fromkeys(f.location.layer_path or "<model>" for f in self.findings))
        shown = ", ".join(f"`{path}`" for path in paths[:_NAMED])
        rest = len(paths) - _NAMED
        return f"{shown} and {rest} more" if rest > 0 else shown

    def summary(self) -> str:
        """One sentence for the line, e.g. `55 per-layer findings on `a`, `b`, `c` and 52
        more, folded under the model-level finding`."""
        what = "per-layer finding" if self.under_summary else "more finding"
        plural = "" if self.count == 1 else "s"
        where = "under the model-level finding" if self.under_summary else "like the one above"
        return f"{self.count} {what}{plural} on {self.layers()}, folded {where}"


def folded(findings: Sequence[Finding], *, verbose: bool = False) -> Iterator[Finding | Fold]:
    """`findings` in their order, with the folds of the module docstring in place of the
    first finding each one folds; every finding when `verbose`."""
    if verbose:
        yield from findings
        return
    groups: dict[tuple[str, Severity, bool], list[Finding]] = {}
    for finding in findings:
        key = (finding.code, finding.severity, finding.suppressed is not None)
        groups.setdefault(key, []).append(finding)
    folds: dict[int, Fold] = {}
    hidden: set[int] = set()
    for group in groups.values():
        per_layer = [f for f in group if f.location.layer_path]
        summary = len(per_layer) < len(group)
        if summary and len(per_layer) >= 2:
            folding = per_layer
        elif not summary and len(group) > FOLD_AT:
            folding = group[1:]
        else:
            continue
        first = folding[0]
        folds[id(first)] = Fold(first.code, first.name, first.severity, tuple(folding), summary)
        hidden.update(id(f) for f in folding)
    for finding in findings:
        if id(finding) in folds:
            yield folds[id(finding)]
        elif id(finding) not in hidden:
            yield finding
