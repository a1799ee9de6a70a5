"""Renderers: one pure function per output format, `render(report, *, options) -> str`.

`RENDERERS` maps format names to renderers; there are no if-chains over format strings.
Renderers read the Report, plus the rule metadata lookup passed in the options, and never
recompute anything. They import nothing from the engine.

Every format can also be rendered in pieces (`pieces(fmt)`): each model's part as soon as
the model is audited, then the document around the parts once the totals are known.
`render` is exactly those pieces joined, and the document reads only the report's totals,
so a run keeps nothing of a model once its parts are written.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from auditor.numbers import number, size_text
from auditor.results.findings import Finding, ModelReport, Report, Severity
from auditor.text import is_url

__all__ = [
    "DEFAULT_OPTIONS",
    "DOCS_URL",
    "FORMATS",
    "NEEDS",
    "RENDERERS",
    "Format",
    "Pieces",
    "RenderOptions",
    "Renderer",
    "RuleInfo",
    "anchor",
    "needs",
    "pieces",
    "source_label",
    "worst_finding",
]

#: Where each rule's documentation lives (docs/rules.md, one section per rule).
DOCS_URL = "https://github.com/keras-audit/keras-audit/blob/main/docs/rules.md#{anchor}"


def anchor(code: str, name: str) -> str:
    """The Markdown heading anchor of a rule in docs/rules.md (`reg004-depthwise-decay`)."""
    return f"{code}-{name}".lower()


def worst_finding(model: ModelReport) -> Finding | None:
    """The first finding of the highest severity, unsuppressed ones first; None if none."""
    rank = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    return min(
        model.findings,
        key=lambda f: (f.suppressed is not None, rank[f.severity]),
        default=None,
    )


def source_label(model: ModelReport) -> str:
    """`keras, Keras 3.15.1, 2,826 parameters`: what a model is, for headings; for a URL
    also what the audit fetched (`read 41 KB of 1.0 GB`)."""
    src = model.source
    summary = model.summary
    remote = is_url(src.path) and summary.bytes_read is not None and src.size_bytes
    parts = (
        src.format,
        f"Keras {src.keras_version}" if src.keras_version else "",
        f"{number(summary.parameters)} parameters" if summary.parameters else "",
        f"read {size_text(summary.bytes_read or 0)} of {size_text(src.size_bytes or 0)}"
        if remote
        else "",
    )
    return ", ".join(part for part in parts if part)


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What a renderer may know about a rule (SARIF descriptors, HTML help, docs).

    Attributes:
        code, name: the rule's code and slug.
        severity: str, its default severity.
        summary: str, one sentence.
        docs: str, the full Markdown documentation.
        mode: str, `file`, `file+w` or `live`.
        formats: str, the source formats it judges: `all`, or their names
            (`savedmodel,export`).
    """

    code: str
    name: str
    severity: str
    summary: str
    docs: str
    mode: str = "file"
    formats: str = "all"

    @property
    def help_uri(self) -> str:
        return DOCS_URL.format(anchor=anchor(self.code, self.name))


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """Presentation choices and rule metadata that are not part of the report.

    Attributes:
        color: bool, emit ANSI colour (text only).
        verbose: bool, include fixes and evidence (text), and list every finding a
            line-by-line format would fold (text, Markdown, GitHub; `reports.folding`).
        rules: code -> RuleInfo, for the formats that describe rules (SARIF, HTML).
    """

    color: bool = False
    verbose: bool = False
    rules: Mapping[str, RuleInfo] = field(default_factory=dict)


Renderer = Callable[..., str]
DEFAULT_OPTIONS = RenderOptions()


def _lazy(module: str) -> Renderer:
    """A renderer that imports its module on first use (jinja2 only when HTML is asked)."""

    def render(report: Report, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
        renderer: Renderer = importlib.import_module(module).render
        return renderer(report, options=options)

    render.__name__ = f"render_{module.rsplit('.', 1)[-1]}"
    return render


#: What a format may need besides the findings, each costly to gather: the per-weight
#: `inventory` (statistics and histograms cost CPU), each file's `digest` (the SHA-256 of a
#: huge file costs more than reading its tensors), and the `rules`' metadata and docs
#: (`RenderOptions.rules`). A run gathers only what the formats it writes need.
NEEDS = ("inventory", "digest", "rules")


@dataclass(frozen=True, slots=True)
class Format:
    """An output format: the module that renders it, and what it needs (`NEEDS`).

    The module has `render(report, *, options)` for the whole report, and `render_model`
    / `render_document` for writing it model by model (`pieces`).
    """

    module: str
    needs: frozenset[str] = frozenset()


#: The output formats, in the order the command line lists them.
FORMATS: dict[str, Format] = {
    "text": Format("auditor.reports.text"),
    "json": Format("auditor.reports.json", frozenset({"inventory", "digest"})),
    "html": Format("auditor.reports.html", frozenset({"inventory", "digest", "rules"})),
    "sarif": Format("auditor.reports.sarif", frozenset({"digest", "rules"})),
    "junit": Format("auditor.reports.junit", frozenset({"rules"})),
    "github": Format("auditor.reports.github"),  # its job summary is `markdown`
    "markdown": Format("auditor.reports.markdown", frozenset({"rules"})),
}

RENDERERS: dict[str, Renderer] = {name: _lazy(f.module) for name, f in FORMATS.items()}


def needs(formats: Iterable[str]) -> frozenset[str]:
    """What writing `formats` needs, of `NEEDS`."""
    return frozenset().union(*(FORMATS[fmt].needs for fmt in formats))


@dataclass(frozen=True, slots=True)
class Pieces:
    """A format rendered model by model.

    Attributes:
        model: `model(model_report, index, *, options) -> str`, one model's part; `index`
            is its position in the report, from 1.
        document: `document(report, parts, *, options[, rows]) -> Iterator[str]`, the whole
            text around `parts` (the models' parts in report order, an iterable that may
            be read more than once). It reads the report's totals (`summary`, `tool`, the
            gates' lists), never `report.models`, so `report` may hold none of its models.
        row: `row(model_report, index, *, options) -> str`, one model's line of an
            overview at the top of the document, for formats that have one; the document
            then also takes `rows`, the models' rows in the same order.
    """

    model: Callable[..., str]
    document: Callable[..., Iterator[str]]
    row: Callable[..., str] | None = None

    def render(self, report: Report, *, options: RenderOptions = DEFAULT_OPTIONS) -> str:
        """The pieces joined: what the format's `render` returns."""
        parts = [self.model(m, i, options=options) for i, m in enumerate(report.models, 1)]
        if self.row is None:
            return "".join(self.document(report, parts, options=options))
        rows = [self.row(m, i, options=options) for i, m in enumerate(report.models, 1)]
        return "".join(self.document(report, parts, rows=rows, options=options))


def pieces(fmt: str) -> Pieces:
    """The per-model renderer of a format in `FORMATS`.

    Raises:
        KeyError: for a format without one.
    """
    module = importlib.import_module(FORMATS[fmt].module)
    row = getattr(module, "render_row", None)
    return Pieces(model=module.render_model, document=module.render_document, row=row)
