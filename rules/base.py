"""The Rule base class: metadata as class attributes, docs in the docstring, findings out.

A rule is one class in one module of `rules/`. Its metadata are `ClassVar`s (validated by
`auditor.engine.registry` without instantiating it); its docstring is its documentation, in ruff's
Markdown sections; its thresholds are a pydantic `Options` model. The runner calls
`check(model, ctx)`, which by default dispatches `check_layer` over the layers whose class
is in `applies_to` and then calls `check_model`.

Example:
    ```python
    class HugeDense(Rule):
        '''## What it does ...'''  # all sections, see rules/depthwise_decay.py

        code = "XYZ901"
        name = "huge-dense"
        severity = Severity.INFO
        applies_to = ("Dense",)

        class Options(RuleOptions):
            max_units: int = 4096

        def check_layer(self, layer, model, ctx):
            units = layer.config.get("units", 0)
            if units > ctx.options.max_units:
                yield self.finding(ctx, f"Dense layer is huge. Received: units={units}",
                                   layer=layer)
    ```
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, JsonValue

from auditor.graph.model import LayerNode, ModelGraph, WeightRef
from auditor.results.findings import Confidence, Finding, Location, Severity

if TYPE_CHECKING:
    from auditor.tensors.stats import TensorStats

__all__ = [
    "DOC_SECTIONS",
    "Requirement",
    "Rule",
    "RuleContext",
    "RuleOptions",
]

DOC_SECTIONS = ("What it does", "Why is this bad?", "Example", "Options", "References")
Requirement = str  # "weights" | "live" | "compile" | "reference" | "config" | "graph"
REQUIREMENTS = frozenset({"weights", "live", "compile", "reference", "config", "graph"})


class RuleOptions(BaseModel):
    """Base of every rule's `Options`: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What a rule may use besides the model.

    Attributes:
        options: the rule's validated `Options`.
        severity: Severity | None, a configured override for every finding of the rule.
        stats: weight path -> TensorStats, for the weights whose tensors were read (with
            their initializer fit and, given a reference model, their comparison).
        expect_pretrained: bool, the `--expect-pretrained` fine-tuning gate.
        reference: ModelGraph | None, the `--reference` model (WGT002).
    """

    options: Any
    severity: Severity | None = None
    stats: Mapping[str, TensorStats] = field(default_factory=dict)
    expect_pretrained: bool = False
    reference: ModelGraph | None = None


class Rule:
    """Base class of every rule. Subclasses set the metadata and override a check hook."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    confidence: ClassVar[Confidence | None] = None
    requires: ClassVar[frozenset[Requirement]] = frozenset()
    applies_to: ClassVar[tuple[str, ...]] = ()
    #: True only for rules that judge files which could not be read (AUD001).
    judges_unreadable: ClassVar[bool] = False

    class Options(RuleOptions):
        """No options: a rule with thresholds declares its own, a subclass of RuleOptions."""

    def check(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        """All findings for a model: `check_layer` per matching layer, then `check_model`."""
        wanted = set(self.applies_to)
        for layer in model.layers():
            if not wanted or layer.class_name in wanted:
                yield from self.check_layer(layer, model, ctx)
        yield from self.check_model(model, ctx)

    def check_layer(
        self, layer: LayerNode, model: ModelGraph, ctx: RuleContext
    ) -> Iterator[Finding]:
        """Findings for one layer. Default: none."""
        return iter(())

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        """Findings for the model as a whole. Default: none."""
        return iter(())

    def finding(
        self,
        ctx: RuleContext,
        message: str,
        *,
        layer: LayerNode | None = None,
        weight: WeightRef | None = None,
        layer_path: str | None = None,
        layer_class: str | None = None,
        config_key: str | None = None,
        fix: str | None = None,
        details: Mapping[str, JsonValue] | None = None,
        severity: Severity | None = None,
        confidence: Confidence | None = None,
    ) -> Finding:
        """Build a complete, immutable finding of this rule.

        Args:
            ctx: RuleContext, for the configured severity override.
            message: str, what is wrong, echoing the offending value.
            layer: LayerNode | None, the layer the finding is about.
            weight: WeightRef | None, the weight it is about (its config key is used
                unless `config_key` is given).
            layer_path, layer_class: override what `layer` gives (model-level findings).
            config_key: str | None, the offending setting's key path.
            fix: str | None, how to fix it, separate from the message.
            details: evidence, JSON-serializable.
            severity: Severity | None, for rules whose findings vary in severity.
            confidence: Confidence | None, defaults to the rule's.
        """
        if weight is not None and config_key is None:
            config_key = weight.regularizer_key
        path = layer_path if layer_path is not None else (layer.path if layer else "")
        cls = layer_class if layer_class is not None else (layer.class_name if layer else None)
        return Finding(
            code=self.code,
            name=self.name,
            severity=ctx.severity or severity or self.severity,
            confidence=confidence or self.confidence,
            message=message,
            fix=fix,
            location=Location(
                layer_path=path,
                layer_class=cls,
                weight=weight.name if weight is not None else None,
                stored_name=weight.stored_name if weight is not None else None,
                config_key=config_key,
            ),
            details=dict(details or {}),
        )

    @classmethod
    def docs(cls) -> str:
        """The rule's Markdown documentation (its docstring, dedented)."""
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def doc_sections(cls) -> dict[str, str]:
        """The docstring split into its `## Section` bodies."""
        sections: dict[str, str] = {}
        for match in re.finditer(r"^## (.+?)\n(.*?)(?=^## |\Z)", cls.docs(), re.S | re.M):
            sections[match.group(1).strip()] = match.group(2).strip()
        return sections

    @classmethod
    def summary(cls) -> str:
        """One sentence: the first paragraph of `## What it does`."""
        text = cls.doc_sections().get("What it does", "")
        return " ".join(text.split("\n\n", 1)[0].split())

    @classmethod
    def option_defaults(cls) -> dict[str, Any]:
        """The defaults of the rule's options, for `audit rules --format json`."""
        return cls.Options().model_dump(mode="json")
