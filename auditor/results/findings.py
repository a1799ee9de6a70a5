"""Findings and reports: frozen pydantic models, the single source of every output format.

The JSON schema shipped as `reports/schema.json` is generated from `Report`
(`audit schema`); renderers read these objects and nothing else.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from auditor.results.display import Displayed

__all__ = [
    "FAIL_ON",
    "SCHEMA_VERSION",
    "SOURCE_FORMATS",
    "Confidence",
    "FailOn",
    "Finding",
    "InitializationFit",
    "InventoryDropout",
    "InventoryLayer",
    "InventoryWeight",
    "Location",
    "ModelReport",
    "ModelSummary",
    "NotApplicable",
    "Report",
    "ReportModel",
    "ReportSummary",
    "RuleError",
    "Severity",
    "Source",
    "StaleBaselineEntry",
    "Suppression",
    "ToolInfo",
    "UnusedSuppression",
    "WeightStatistics",
    "failing_rank",
]

SCHEMA_VERSION = 1
#: What makes a run fail: findings at or above a severity, or `never`.
FailOn = Literal["error", "warning", "info", "never"]
FAIL_ON: tuple[str, ...] = get_args(FailOn)

#: What a model was read from: a `.keras` archive (or its unzipped folder), a legacy
#: `.h5`, weights only, a tf.keras 2 SavedModel, a SavedModel from `export()`, a
#: keras_hub preset, a live model.
SourceFormat = Literal[
    "keras", "h5", "weights", "savedmodel", "export", "preset", "live", "unknown"
]
SOURCE_FORMATS: tuple[str, ...] = get_args(SourceFormat)


class Severity(StrEnum):
    """How bad a finding is. Ordered: info < warning < error."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """0 for info, 1 for warning, 2 for error."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


class Confidence(StrEnum):
    """How sure a heuristic rule is of a finding."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ReportModel(BaseModel):
    """The base of every report model (the audit's, `audit compare`'s, `audit history`'s):
    immutable once built, and no field it does not declare."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Location(ReportModel):
    """Where a finding is: the layer path from the root (`""` = the whole model), the
    layer's class, the weight (Keras variable name), the name a legacy HDF5 file stores
    that weight under when it differs from its Keras path, and the config key path."""

    layer_path: str = ""
    layer_class: str | None = None
    weight: str | None = None
    stored_name: str | None = None
    config_key: str | None = None


class Suppression(ReportModel):
    """Why a finding does not count towards the exit code."""

    kind: Literal["config", "baseline"]
    reason: str | None = None


class Finding(ReportModel):
    """One problem found by one rule. Complete and immutable when a rule yields it."""

    code: str = Field(pattern=r"^[A-Z]{2,5}\d{3}$")
    name: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    severity: Severity
    confidence: Confidence | None = None
    message: str = Field(min_length=1)
    fix: str | None = None
    location: Location = Location()
    details: dict[str, JsonValue] = Field(default_factory=dict)
    suppressed: Suppression | None = None


class RuleError(ReportModel):
    """A rule that crashed on this model; the other rules still ran."""

    code: str
    message: str


class NotApplicable(ReportModel):
    """A selected rule that cannot judge this source, and why."""

    code: str
    reason: str


class Source(ReportModel):
    """The audited model: file or live object."""

    path: str
    format: SourceFormat
    keras_version: str | None = None
    backend: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    model_name: str | None = None
    model_class: str | None = None


class InitializationFit(ReportModel):
    """A tensor against its declared initializer: the verdict and its evidence."""

    initializer: str
    law: str
    verdict: Literal["initial", "trained", "unknown"]
    confidence: Literal["high", "medium", "low"]
    evidence: str
    mismatches: int = 0
    outside: int = 0
    ks: float | None = None
    ks_p: float | None = None
    sample: int = 0
    gram_error: float | None = None


class WeightStatistics(ReportModel):
    """Statistics of one stored tensor, computed in one streaming read.

    `histogram` has equal bins over [`min`, `max`] (of a fixed-seed sample when `sampled`);
    `channel_norm_histogram` equal bins over [`channel_norm_min`, `channel_norm_max`] of
    the per-output-channel L2 norms (channel = last axis).
    """

    count: int
    l2_norm: float
    l1_norm: float | None = None  # computed for weights with an L1 penalty only
    mean: float
    std: float
    min: float
    max: float
    zeros: int
    nan: int
    inf: int
    histogram: list[int] = Field(default_factory=list)
    sampled: bool = False
    channels: int | None = None
    channel_norm_min: float | None = None
    channel_norm_median: float | None = None
    channel_norm_max: float | None = None
    channel_norm_histogram: list[int] = Field(default_factory=list)
    init: InitializationFit | None = None
    reference_max_abs_diff: float | None = None


class InventoryWeight(ReportModel):
    """One weight as the coverage map shows it."""

    path: str
    name: str
    role: str
    shape: list[int] | None
    dtype: str | None
    parameters: int
    trainable: bool
    regularizer: str | None = None
    l1: float = 0.0
    l2: float = 0.0
    optimizer_decay: Literal["decayed", "excluded", "none", "unknown-exclusions"] = "none"
    initializer: str | None = None
    stats: WeightStatistics | None = None


class InventoryDropout(ReportModel):
    """A dropout or noise layer as the coverage map shows it: what it drops, and where."""

    rate: float | None = Field(
        default=None, description="The fraction dropped (a noise layer's: None)."
    )
    stddev: float | None = Field(default=None, description="GaussianNoise's standard deviation.")
    mask: Literal["elementwise", "samples", "shared"] = Field(
        default="elementwise",
        description="How the mask is drawn: per value, per sample (stochastic depth), or "
        "shared across some axes (SpatialDropout's whole channels, or a noise_shape with "
        "ones).",
    )
    after: str | None = Field(default=None, description="The layer whose output it takes.")
    normalization: str | None = Field(
        default=None,
        description="The BatchNormalization its output reaches (through at most four "
        "layers that carry a change of variance on), if any.",
    )
    at_inference: bool = Field(
        default=False, description="Called with training=True: active at inference too."
    )


class InventoryLayer(ReportModel):
    """One layer (or nested model, or owned sub-layer) with its weights."""

    path: str
    name: str
    class_name: str
    trainable: bool
    is_model: bool = False
    opaque: str | None = None
    activity_regularizer: str | None = None  # the penalty on the layer's output
    dropout: InventoryDropout | None = None  # a dropout or noise layer's setting
    weights: list[InventoryWeight] = Field(default_factory=list)


class ModelSummary(ReportModel):
    """Size of the model and the count of its findings."""

    layers: int = 0
    weights: int = 0
    parameters: int = 0
    trainable_parameters: int = 0
    errors: int = 0
    warnings: int = 0
    infos: int = 0
    suppressed: int = 0
    bytes_read: int | None = Field(
        default=None,
        description="Bytes the audit read: fetched by range requests for a URL; for a "
        "local file, what the audit's read calls returned (hashing included). None when "
        "not measured.",
    )
    requests: int | None = Field(
        default=None,
        description="Range requests made for a URL; read calls for a local file.",
    )


class ModelReport(Displayed, ReportModel):
    """Everything keras-audit has to say about one model."""

    source: Source
    summary: ModelSummary
    findings: list[Finding] = Field(default_factory=list)
    inventory: list[InventoryLayer] = Field(default_factory=list)
    rules_run: list[str] = Field(default_factory=list)
    rules_not_applicable: list[NotApplicable] = Field(default_factory=list)
    errors: list[RuleError] = Field(default_factory=list)


class ToolInfo(ReportModel):
    """The tool that produced the report."""

    name: str = "keras-audit"
    version: str


class ReportSummary(ReportModel):
    """Totals over every model of a run."""

    models: int
    findings: int
    errors: int
    warnings: int
    infos: int
    suppressed: int
    rule_errors: int
    duration_seconds: float


class UnusedSuppression(ReportModel):
    """A configured suppression that matched no finding, or expired."""

    code: str
    path: str
    layer: str
    reason: str
    expired: bool = False


class StaleBaselineEntry(ReportModel):
    """A baseline entry with fewer findings now than recorded: fixed, fully or in part."""

    code: str
    model: str
    layer: str
    recorded: int
    found: int


class Report(Displayed, ReportModel):
    """The result of one `audit` run over one or more models.

    `unused_suppressions` and `stale_baseline` keep the gate honest: suppressions that no
    longer match anything, and baseline entries whose findings were fixed.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    tool: ToolInfo
    models: list[ModelReport]
    summary: ReportSummary
    unused_suppressions: list[UnusedSuppression] = Field(default_factory=list)
    stale_baseline: list[StaleBaselineEntry] = Field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        """Every finding of every model, in report order."""
        return [finding for model in self.models for finding in model.findings]

    def exit_code(self, fail_on: Severity | str = Severity.WARNING) -> int:
        """0 when no unsuppressed finding is at or above `fail_on`, else 1.

        Counted from `summary`, so a report that keeps none of its models (the CLI's,
        when every output was written model by model) gives the same code.

        Args:
            fail_on: Severity | str, `error`, `warning`, `info`, or `never`.

        Returns:
            int, 0 or 1 (usage errors, exit 2, are the CLI's business).

        Raises:
            ValueError: for an unknown `fail_on`.
        """
        threshold = failing_rank(fail_on)
        if threshold is None:
            return 0
        s = self.summary
        counts = {Severity.ERROR: s.errors, Severity.WARNING: s.warnings, Severity.INFO: s.infos}
        return 1 if any(n for sev, n in counts.items() if sev.rank >= threshold) else 0

    def failing(self, fail_on: Severity | str = Severity.WARNING) -> list[Finding]:
        """The unsuppressed findings at or above `fail_on` (none for `never`).

        Raises:
            ValueError: for an unknown `fail_on`.
        """
        threshold = failing_rank(fail_on)
        if threshold is None:
            return []
        return [f for f in self.findings if f.suppressed is None and f.severity.rank >= threshold]

    def to_json(self, indent: int | None = 2) -> str:
        """The report as JSON, valid against `reports/schema.json`."""
        return self.model_dump_json(indent=indent)


def failing_rank(fail_on: Severity | str) -> int | None:
    """The lowest `Severity.rank` that fails a run at `fail_on`, None for `never`.

    Raises:
        ValueError: for an unknown `fail_on`.
    """
    if fail_on not in FAIL_ON:
        raise ValueError(
            f"fail_on must be one of {', '.join(FAIL_ON)}. Received: fail_on={fail_on!r}"
        )
    return None if fail_on == "never" else Severity(fail_on).rank
