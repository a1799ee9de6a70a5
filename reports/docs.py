"""The rules reference (docs/rules.md), generated from the rule docstrings.

`audit rules --format markdown > docs/rules.md` writes it; a test fails when the checked-in
file is not current. Each rule is a `## CODE slug` section, so its anchor is
`reports.anchor(code, slug)`, the target of SARIF `helpUri`, the HTML report's links and
`audit rule`'s pointer.
"""

from __future__ import annotations

import re

from auditor.reports import RuleInfo, anchor

__all__ = ["rules_reference"]

_MODES = {
    "file": "judged from a saved file's config (and the same on a live model)",
    "file+w": "needs the weight tensors",
    "live": "needs a live `keras.Model` (`auditor.audit(model)`)",
}


def rules_reference(rules: list[RuleInfo]) -> str:
    """docs/rules.md: an index table, then every rule's documentation."""
    lines = [
        "# keras-audit rules",
        "",
        "Generated from the rule docstrings by `audit rules --format markdown`; do not edit.",
        "`audit rule CODE` prints one of them in a terminal. Severities are defaults: "
        "configure them per rule (`[tool.keras-audit.severity]`). Formats are the sources a "
        "rule judges: `keras` (a `.keras` archive or its folder), `h5` (a legacy full "
        "model), `weights` (weights only, sharded too), `savedmodel` (tf.keras 2), `export` "
        "(a SavedModel without Keras metadata), `live`; `all` is every one.",
        "",
        "| code | name | severity | mode | formats | summary |",
        "|---|---|---|---|---|---|",
    ]
    for rule in rules:
        summary = rule.summary.replace("|", "\\|")
        lines.append(
            f"| [{rule.code}](#{anchor(rule.code, rule.name)}) | {rule.name} | "
            f"{rule.severity} | {rule.mode} | {rule.formats} | {summary} |"
        )
    for rule in rules:
        body = re.sub(r"^## ", "### ", rule.docs, flags=re.M)
        lines += [
            "",
            f"## {rule.code} {rule.name}",
            "",
            f"Severity: **{rule.severity}**. Mode: {rule.mode}, {_MODES.get(rule.mode, '')}. "
            f"Formats: {rule.formats}.",
            "",
            body,
        ]
    return "\n".join(lines) + "\n"
