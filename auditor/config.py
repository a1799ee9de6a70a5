"""`AuditConfig`: what to check and how strictly, passed explicitly to the engine."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from auditor.findings import Severity
from auditor.loaders.guard import Limits

__all__ = ["AuditConfig", "FailOn"]

FailOn = Literal["error", "warning", "info", "never"]


class AuditConfig(BaseModel):
    """Rule selection, severities, per-rule options and input limits.

    Attributes:
        select: rule codes, prefixes or slugs to run (default: every rule).
        ignore: rules not to run (applied after `select` and `extend_select`).
        extend_select: rules to add to `select`.
        fail_on: the lowest severity that makes the exit code 1.
        severity: per-rule severity overrides, keyed by code or slug.
        rules: per-rule options, keyed by code or slug, validated against the rule's
            `Options` model.
        expect_pretrained: the fine-tuning gate: weights at initialization are errors.
        limits: caps applied when reading files.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    select: list[str] = Field(default_factory=lambda: ["ALL"])
    ignore: list[str] = Field(default_factory=list)
    extend_select: list[str] = Field(default_factory=list)
    fail_on: FailOn = "warning"
    severity: dict[str, Severity] = Field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = Field(default_factory=dict)
    expect_pretrained: bool = False
    limits: Limits = Field(default_factory=Limits)
