"""JUnit XML: a testsuite per model, a testcase per evaluated rule, a failure per finding.

Rules that could not judge a model are skipped testcases (with the reason); a crashed rule
is an error. Suppressed findings are not failures; they are listed in `system-out`.

`render_model` and `render_document` produce the same text in pieces. A model's part is
its testsuite, indented as it sits in the document, with its counts, as one line of JSON;
the document reads the parts twice, first for the totals on `<testsuites>`, then for the
suites.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator

from auditor.reports import DEFAULT_OPTIONS, Pieces, RenderOptions
from auditor.reports.safe import visible
from auditor.results.findings import Finding, ModelReport, Report

__all__ = ["render", "render_document", "render_model"]

_COUNTS = ("tests", "failures", "errors", "skipped")
_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'


def render(report: Report, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
    """The report as a JUnit XML document."""
    return Pieces(render_model, render_document).render(report, options=options)


def render_model(
    model: ModelReport, index: int, *, options: RenderOptions = DEFAULT_OPTIONS
) -> str:
    """One model's testsuite (indented one level, as inside `<testsuites>`) and its
    counts, as one line of JSON."""
    suite = _suite(model, options)
    ET.indent(suite, level=1)
    part = {key: int(suite.get(key, "0")) for key in _COUNTS}
    part["xml"] = ET.tostring(suite, encoding="unicode")
    return json.dumps(part, separators=(",", ":")) + "\n"


def render_document(
    report: Report, parts: Iterable[str], *, options: RenderOptions = DEFAULT_OPTIONS
) -> Iterator[str]:
    """`render(report)` in pieces, from `parts` (from `render_model`, in report order; read
    twice, one part at a time); reads only the report's totals."""
    totals = dict.fromkeys(_COUNTS, 0)
    suites = 0
    for part in parts:
        counts = json.loads(part)
        for key in _COUNTS:
            totals[key] += counts[key]
        suites += 1
    root = ET.Element("testsuites", name="keras-audit")
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{report.summary.duration_seconds:.3f}")
    if not suites:
        yield _HEADER + ET.tostring(root, encoding="unicode") + "\n"
        return
    ET.SubElement(root, "suites")  # where the suites go, for the tags around them
    ET.indent(root)
    head, marker, tail = ET.tostring(root, encoding="unicode").partition("<suites />")
    if not marker:  # pragma: no cover - the element above serializes so
        raise AssertionError("the JUnit outline has no place for the suites")
    yield _HEADER + head
    separator = ""
    for part in parts:
        yield separator + json.loads(part)["xml"]
        separator = "\n  "
    yield tail + "\n"


def _suite(model: ModelReport, options: RenderOptions) -> ET.Element:
    path = visible(model.source.path)
    suite = ET.Element("testsuite", name=path)
    by_code: dict[str, list[Finding]] = {}
    for finding in model.findings:
        by_code.setdefault(finding.code, []).append(finding)
    errors = {error.code: error.message for error in model.errors}
    failures = 0
    for code in [*model.rules_run, *(c for c in by_code if c not in model.rules_run)]:
        case = ET.SubElement(
            suite, "testcase", classname=f"keras-audit.{path}", name=_name(code, options)
        )
        if code in errors:
            ET.SubElement(
                case, "error", message=f"rule {code} crashed", type="RuleError"
            ).text = visible(errors[code])
        suppressed = []
        for finding in by_code.get(code, []):
            if finding.suppressed is not None:
                suppressed.append(_describe(finding))
                continue
            failures += 1
            failure = ET.SubElement(
                case, "failure", message=_headline(finding), type=finding.severity.value
            )
            failure.text = _describe(finding)
        if suppressed:
            ET.SubElement(case, "system-out").text = "suppressed:\n" + "\n".join(suppressed)
    for skipped in model.rules_not_applicable:
        case = ET.SubElement(
            suite, "testcase", classname=f"keras-audit.{path}", name=_name(skipped.code, options)
        )
        ET.SubElement(case, "skipped", message=skipped.reason)
    suite.set("tests", str(len(model.rules_run) + len(model.rules_not_applicable)))
    suite.set("failures", str(failures))
    suite.set("errors", str(len(model.errors)))
    suite.set("skipped", str(len(model.rules_not_applicable)))
    return suite


def _name(code: str, options: RenderOptions) -> str:
    info = options.rules.get(code)
    return f"{code} {info.name}" if info else code


def _headline(finding: Finding) -> str:
    return visible(f"{finding.location.layer_path or '<model>'}: {finding.message}")


def _describe(finding: Finding) -> str:
    """The finding on lines of its own; what came from the file is `visible` (XML 1.0
    cannot hold most control characters at all)."""
    loc = finding.location
    lines = [
        f"{finding.severity.value} {finding.code} {finding.name}",
        f"layer: {loc.layer_path or '<model>'}"
        + (f" ({loc.layer_class})" if loc.layer_class else "")
        + (f", weight {loc.weight}" if loc.weight else ""),
        finding.message,
    ]
    if finding.fix:
        lines.append(f"fix: {finding.fix}")
    if loc.config_key:
        lines.append(f"config: {loc.config_key}")
    return "\n".join(visible(line) for line in lines)
