"""`audit rules`, `audit rule CODE` and `audit schema`: what keras-audit checks, and the
shape of what it reports."""

from __future__ import annotations

import json
from collections.abc import Sequence

from auditor.cli.common import EXIT_CLEAN, Parser, formats, mode, rule_infos, usage, write

__all__ = ["rule_command", "rules_command", "schema_command"]


def rules_command(argv: Sequence[str]) -> int:
    """`audit rules`: the catalog, as text, JSON or the Markdown reference."""
    from auditor.engine.registry import load_registry

    parser = Parser(prog="audit rules", description="List the rule catalog.")
    parser.add_argument(
        "--format",
        choices=("text", "json", "markdown"),
        default="text",
        help="markdown: the rules reference (docs/rules.md)",
    )
    args = parser.parse_args(argv)
    registry = load_registry()
    rows = [
        {
            "code": rule.code,
            "name": rule.name,
            "severity": rule.severity.value,
            "mode": mode(rule.requires),
            "formats": formats(rule.requires),
            "enabled": True,
            "summary": rule.summary(),
            "options": rule.option_defaults(),
        }
        for rule in registry.rules
    ]
    if args.format == "json":
        write(json.dumps(rows, indent=2) + "\n", None)
        return EXIT_CLEAN
    if args.format == "markdown":
        from auditor.reports.docs import rules_reference

        write(rules_reference(list(rule_infos().values())), None)
        return EXIT_CLEAN
    write(
        (
            f"{row['code']}  {row['name']:<30} {row['severity']:<8} {row['mode']:<6} "
            f"{row['formats']:<24} {row['summary']}\n"
            for row in rows
        ),
        None,
    )
    return EXIT_CLEAN


def rule_command(argv: Sequence[str]) -> int:
    """`audit rule CODE|SLUG`: one rule's documentation."""
    from auditor.engine.registry import load_registry

    parser = Parser(prog="audit rule", description="Print a rule's documentation.")
    parser.add_argument("rule", metavar="CODE|SLUG")
    args = parser.parse_args(argv)
    try:
        found = load_registry().get(args.rule)
    except ValueError as exc:
        usage(str(exc))
    from auditor.reports import DOCS_URL, anchor

    header = (
        f"# {found.code} {found.name} ({found.severity.value})\n\n"
        f"Formats: {formats(found.requires)}.\n\n"
    )
    link = DOCS_URL.format(anchor=anchor(found.code, found.name))
    write(header + found.docs() + f"\n\nOnline: {link}\n", None)
    return EXIT_CLEAN


def schema_command(argv: Sequence[str]) -> int:
    """`audit schema`: the JSON schema of the report."""
    Parser(prog="audit schema", description="Print the report's JSON schema.").parse_args(argv)
    from auditor.reports.json import schema_text

    write(schema_text(), None)
    return EXIT_CLEAN
