"""Meta-tests over every registered rule (ruff's check_docs_formatted, in spirit)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import pytest

from auditor import rules
from auditor.engine.registry import Registry, RegistryError, load_registry
from auditor.results.findings import Severity
from auditor.rules.base import DOC_SECTIONS, Rule, RuleOptions

ROOT = Path(__file__).resolve().parent.parent


def kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def snake(name: str) -> str:
    return kebab(name).replace("-", "_")


@pytest.mark.parametrize("rule", rules.BUILTIN_RULES, ids=lambda r: r.code)
def test_rule_metadata_and_docs(rule):
    assert rule.name == kebab(rule.__name__)
    assert rule.__module__ == f"auditor.rules.{snake(rule.__name__)}"
    sections = rule.doc_sections()
    assert list(sections)[: len(DOC_SECTIONS)] == list(DOC_SECTIONS)
    assert "Use instead:" in sections["Example"]
    assert (ROOT / "tests" / "rules" / f"test_{snake(rule.__name__)}.py").exists()


def test_every_rule_module_is_registered():
    """Each public module of rules/ but `base` (the Rule base class) is one built-in rule."""
    modules = {p.stem for p in (ROOT / "rules").glob("*.py") if not p.stem.startswith("_")}
    modules.discard("base")
    assert modules == {snake(r.__name__) for r in rules.BUILTIN_RULES}


def test_codes_and_slugs_are_unique():
    registry = load_registry(plugins=False)
    assert len({r.code for r in registry.rules}) == len(rules.BUILTIN_RULES)
    assert registry.get("REG004") is registry.get("depthwise-decay") is rules.DepthwiseDecay
    assert registry.select(["REG00"]) >= {"REG003", "REG009"}


def _rule(code="XYZ001", name="some-rule", doc=None):
    body = (
        doc
        if doc is not None
        else "\n".join(
            f"## {s}\n" + ("x\n\nUse instead:\ny" if s == "Example" else "x") for s in DOC_SECTIONS
        )
    )

    class SomeRule(Rule):
        __doc__ = body
        severity: ClassVar[Severity] = Severity.INFO

        class Options(RuleOptions):
            pass

    SomeRule.code, SomeRule.name = code, name
    return SomeRule


def test_duplicate_codes_are_a_hard_error():
    with pytest.raises(RegistryError, match="duplicate rule 'XYZ001'"):
        Registry([_rule(), _rule(name="other-rule")])


def test_missing_doc_section_is_a_hard_error():
    with pytest.raises(RegistryError, match=r"lacks the sections: .*References"):
        Registry([_rule(doc="## What it does\nx\n## Why is this bad?\ny")])


def test_malformed_code_and_reserved_prefix_are_errors():
    with pytest.raises(RegistryError, match="malformed code"):
        Registry([_rule(code="x1")])
    with pytest.raises(RegistryError, match="reserved prefix"):
        Registry([], plugins=[_rule(code="REG901")])


def test_unknown_identifier_suggests_close_matches():
    with pytest.raises(ValueError, match="Did you mean depthwise-decay"):
        load_registry(plugins=False).get("depthwise-decy")


def test_a_custom_rule_runs_through_the_engine():
    from auditor.engine.config import AuditConfig
    from auditor.engine.runner import run

    class WideDense(_rule(code="XYZ002", name="wide-dense")):
        applies_to: ClassVar[tuple[str, ...]] = ("Dense",)

        def check_layer(self, layer, model, ctx):
            if layer.config.get("units", 0) >= 512:
                yield self.finding(
                    ctx, f"wide. Received: units={layer.config['units']}", layer=layer
                )

    WideDense.__doc__ = _rule().__doc__
    registry = Registry(rules.BUILTIN_RULES, plugins=[WideDense])
    report = run(
        [ROOT / "examples" / "models" / "bare_l2.keras"],
        AuditConfig(select=["XYZ"]),
        registry=registry,
    )
    assert [(f.code, f.location.layer_path) for f in report.findings] == [
        ("XYZ002", "bare_l2/wide1"),
        ("XYZ002", "bare_l2/wide2"),
    ]
