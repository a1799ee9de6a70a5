"""The rule catalog: built-in rules, third-party rules from entry points, hard validation.

Built-ins come from the explicit tuple `rules.BUILTIN_RULES`; third-party packages add
rules through the `keras_audit.rules` entry-point group (each entry point names a `Rule`
subclass or an iterable of them), loaded only when a registry is built. A duplicate code or
slug, a malformed code, a missing doc section or an invalid severity is an error, not a
warning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from auditor.results.findings import Severity
from auditor.rules.base import DOC_SECTIONS, REQUIREMENTS, Rule, RuleOptions

__all__ = ["ENTRY_POINT_GROUP", "REDIRECTS", "Registry", "RegistryError", "load_registry"]

ENTRY_POINT_GROUP = "keras_audit.rules"
CODE_PATTERN = re.compile(r"^[A-Z]{2,5}\d{3}$")
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# Retired or renamed codes -> their replacement. Codes are never reused.
REDIRECTS: dict[str, str] = {}
# Built-in families; third-party rules must use other prefixes.
RESERVED_PREFIXES = ("REG", "WD", "WGT", "DRP", "SEC", "AUD")


class RegistryError(RuntimeError):
    """A rule is malformed or collides with another."""


def validate(rule: Any, *, builtin: bool = True) -> None:
    """Check one rule class's metadata and docs.

    Raises:
        RegistryError: naming the rule and what is wrong.
    """
    label = getattr(rule, "__name__", repr(rule))
    if not (isinstance(rule, type) and issubclass(rule, Rule)):
        raise RegistryError(f"{label} is not a subclass of auditor.rules.base.Rule")
    for attr in ("code", "name", "severity"):
        if not hasattr(rule, attr):
            raise RegistryError(f"rule {label} has no `{attr}` class attribute")
    if not CODE_PATTERN.match(rule.code):
        raise RegistryError(
            f"rule {label} has a malformed code. Expected 2-5 capitals and 3 digits, "
            f"e.g. REG004. Received: code={rule.code!r}"
        )
    if not builtin and rule.code.startswith(RESERVED_PREFIXES):
        raise RegistryError(
            f"third-party rule {label} uses a reserved prefix ({', '.join(RESERVED_PREFIXES)}). "
            f"Received: code={rule.code!r}"
        )
    if rule.code in REDIRECTS:
        raise RegistryError(f"rule {label} reuses the retired code {rule.code}")
    if not SLUG_PATTERN.match(rule.name):
        raise RegistryError(
            f"rule {label} has a malformed slug. Expected kebab-case. Received: name={rule.name!r}"
        )
    if not isinstance(rule.severity, Severity):
        raise RegistryError(
            f"rule {label} severity must be a Severity. Received: severity={rule.severity!r}"
        )
    unknown = set(rule.requires) - REQUIREMENTS
    if unknown:
        raise RegistryError(
            f"rule {label} requires unknown capabilities {sorted(unknown)}; "
            f"expected a subset of {sorted(REQUIREMENTS)}"
        )
    if not (isinstance(rule.Options, type) and issubclass(rule.Options, RuleOptions)):
        raise RegistryError(f"rule {label}.Options must subclass auditor.rules.base.RuleOptions")
    sections = rule.doc_sections()
    missing = [s for s in DOC_SECTIONS if s not in sections]
    if missing:
        raise RegistryError(f"rule {label} docstring lacks the sections: {', '.join(missing)}")
    if "Use instead:" not in sections["Example"]:
        raise RegistryError(f"rule {label} `## Example` section lacks a `Use instead:` part")


class Registry:
    """An immutable, validated set of rules with lookup by code, slug or prefix."""

    def __init__(self, builtin: Sequence[type[Rule]], plugins: Sequence[type[Rule]] = ()) -> None:
        self._rules: dict[str, type[Rule]] = {}
        self._by_slug: dict[str, type[Rule]] = {}
        for rule, is_builtin in [(r, True) for r in builtin] + [(r, False) for r in plugins]:
            validate(rule, builtin=is_builtin)
            for key, table in ((rule.code, self._rules), (rule.name, self._by_slug)):
                if key in table:
                    raise RegistryError(
                        f"duplicate rule {key!r}: {table[key].__name__} and {rule.__name__}"
                    )
                table[key] = rule

    @property
    def rules(self) -> tuple[type[Rule], ...]:
        """Every rule, sorted by code."""
        return tuple(self._rules[code] for code in sorted(self._rules))

    def get(self, identifier: str | type[Rule]) -> type[Rule]:
        """A rule by code (`REG004`), slug (`depthwise-decay`) or class.

        Raises:
            ValueError: for an unknown identifier, listing close matches.
        """
        if isinstance(identifier, type):
            if identifier in self._rules.values():
                return identifier
            raise ValueError(f"rule class {identifier.__name__} is not registered")
        key = REDIRECTS.get(identifier.upper(), identifier)
        rule = self._rules.get(key.upper()) or self._by_slug.get(key.lower())
        if rule is None:
            raise ValueError(self._unknown(identifier))
        return rule

    def select(self, selectors: Iterable[str]) -> set[str]:
        """Codes matched by codes, code prefixes (`REG`, `REG00`) or slugs; `ALL` = all.

        Raises:
            ValueError: for a selector that matches no rule.
        """
        codes: set[str] = set()
        for raw in selectors:
            selector = raw.strip()
            if selector.upper() == "ALL":
                codes.update(self._rules)
                continue
            matched = {c for c in self._rules if c.startswith(selector.upper())}
            if not matched and selector.lower() in self._by_slug:
                matched = {self._by_slug[selector.lower()].code}
            if not matched and selector.upper() in REDIRECTS:
                matched = {REDIRECTS[selector.upper()]}
            if not matched:
                raise ValueError(self._unknown(selector))
            codes.update(matched)
        return codes

    def _unknown(self, identifier: str) -> str:
        import difflib  # only for this message

        names = [*self._rules, *self._by_slug]
        close = difflib.get_close_matches(identifier, names, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        return (
            f"unknown rule. Expected a code (REG004), a code prefix (REG) or a slug "
            f"(depthwise-decay). Received: {identifier!r}.{hint}"
        )


def _plugin_rules() -> list[type[Rule]]:
    from importlib.metadata import entry_points  # costs ~10 ms; only needed here

    found: list[type[Rule]] = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
        except Exception as exc:  # a broken plugin must say so, not vanish
            raise RegistryError(f"cannot load rule plugin {entry.value!r}: {exc}") from exc
        found.extend(loaded if isinstance(loaded, list | tuple) else [loaded])
    return found


def load_registry(*, plugins: bool = True) -> Registry:
    """The built-in rules plus, unless `plugins=False`, the entry-point rules."""
    from auditor.rules import BUILTIN_RULES

    return Registry(BUILTIN_RULES, _plugin_rules() if plugins else ())
