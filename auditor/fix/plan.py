"""What fixing regularization changes, decided on the model representation (no keras).

One plan serves both fixers: `auditor.fix.live` applies it to a running model,
`auditor.fix.rewrite` to a saved file's config. A plan is made of settings, each a config key
that governs one or more weights (`kernel_regularizer` governs a Dense kernel, all four
MultiHeadAttention projection kernels, or an LSTM cell's kernel), so a change is made
exactly where Keras reads and writes it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from auditor.graph.decay import declaring_layer
from auditor.graph.declared import Regularizer
from auditor.graph.model import ModelGraph, Role, WeightRef

__all__ = [
    "CATEGORIES",
    "DEFAULT_EXCLUDE",
    "Change",
    "FixResult",
    "Skip",
    "make_plan",
    "target_regularizer",
]

#: Weight categories a fix can include or exclude, and the roles each covers.
CATEGORIES: Mapping[str, frozenset[Role]] = {
    "kernel": frozenset({Role.KERNEL}),
    "depthwise": frozenset({Role.DEPTHWISE_KERNEL}),
    "pointwise": frozenset({Role.POINTWISE_KERNEL}),
    "recurrent": frozenset({Role.RECURRENT_KERNEL}),
    "bias": frozenset({Role.BIAS}),
    "normalization": frozenset({Role.GAMMA, Role.BETA}),
    "embeddings": frozenset({Role.EMBEDDINGS}),
    "alpha": frozenset({Role.ALPHA}),
}

#: What weight decay usually leaves alone (MobileNets, "Bag of Tricks").
DEFAULT_EXCLUDE = ("depthwise", "normalization", "bias", "embeddings")


@dataclass(frozen=True, slots=True)
class Change:
    """One regularizer setting rewritten.

    Attributes:
        layer_path: str, the layer whose config holds the setting.
        setting: str, the setting's name (`kernel_regularizer`).
        key: str, its config key path (or the attribute name, for a live attribute).
        weights: paths of the weights it governs (empty for a setting no weight reads).
        before: str | None, the regularizer before (`L2(0.01)`), None for none.
        after: str | None, the regularizer after, None for removed.
    """

    layer_path: str
    setting: str
    key: str
    weights: tuple[str, ...]
    before: str | None
    after: str | None

    def describe(self) -> str:
        where = self.layer_path or "<model>"
        return f"{where}: {self.setting} {self.before or 'None'} -> {self.after or 'None'}"


@dataclass(frozen=True, slots=True)
class Skip:
    """A setting or layer the fix left alone, and why."""

    layer_path: str
    setting: str | None
    weights: tuple[str, ...]
    reason: str

    def describe(self) -> str:
        where = self.layer_path or "<model>"
        return f"{where}: {self.setting + ' ' if self.setting else ''}left alone ({self.reason})"


@dataclass(frozen=True, slots=True)
class FixResult:
    """What a fix did.

    Attributes:
        changes: the settings rewritten.
        skipped: the settings and layers left alone, with reasons.
        retraced: the train/test functions rebuilt so the change takes effect (live).
    """

    changes: tuple[Change, ...] = ()
    skipped: tuple[Skip, ...] = ()
    retraced: tuple[str, ...] = ()

    def summary(self) -> str:
        """A few lines for people: what changed, what was left alone."""
        lines = [f"{len(self.changes)} setting(s) changed, {len(self.skipped)} left alone"]
        lines += [f"  changed  {c.describe()}" for c in self.changes]
        lines += [f"  skipped  {s.describe()}" for s in self.skipped]
        return "\n".join(lines)


def target_regularizer(l2: float, l1: float) -> Regularizer:
    """The regularizer a fix sets, checked.

    Raises:
        ValueError: for negative or non-finite coefficients, or both zero.
    """
    for name, value in (("l2", l2), ("l1", l1)):
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise ValueError(f"expected a finite coefficient >= 0. Received: {name}={value!r}")
    if l1 == 0 and l2 == 0:
        raise ValueError(
            "l1 and l2 are both 0, which regularizes nothing; use remove_regularization() "
            "to remove regularizers. Received: l1=0, l2=0"
        )
    if l1 == 0:
        return Regularizer(class_name="L2", l2=float(l2))
    if l2 == 0:
        return Regularizer(class_name="L1", l1=float(l1))
    return Regularizer(class_name="L1L2", l1=float(l1), l2=float(l2))


def check_categories(exclude: Iterable[str]) -> frozenset[str]:
    """The excluded categories, validated.

    Raises:
        ValueError: for a name that is not a category.
    """
    names = [exclude] if isinstance(exclude, str) else list(exclude)
    unknown = [name for name in names if name not in CATEGORIES]
    if unknown:
        raise ValueError(
            f"unknown weight category {unknown[0]!r}; expected some of "
            f"{', '.join(CATEGORIES)}. Received: exclude={names}"
        )
    return frozenset(names)


def make_plan(
    model: ModelGraph, target: Regularizer | None, exclude: Iterable[str]
) -> tuple[list[Change], list[Skip]]:
    """The settings to change so every weight outside `exclude` carries `target`.

    `target=None` removes regularizers instead (from every category outside `exclude`).
    Settings no variable reads (REG011) are always cleared. Frozen weights are skipped
    when adding: Keras 3 never regularizes them.
    """
    excluded = check_categories(exclude)
    roles = frozenset().union(*(r for name, r in CATEGORIES.items() if name not in excluded))
    by_key = {node.config_key: node for node in model.root.walk() if node.config_key}
    groups: dict[str, list[WeightRef]] = {}
    for weight in model.weights():
        if weight.regularizer_key and weight.role in roles:
            groups.setdefault(weight.regularizer_key, []).append(weight)
    changes: list[Change] = []
    skipped: list[Skip] = []
    for key, weights in groups.items():
        declaring = declaring_layer(key, by_key)
        owner = declaring.path if declaring is not None else weights[0].layer_path
        setting = key.rsplit(".", 1)[-1]
        paths = tuple(w.path for w in weights)
        if target is not None and not any(w.trainable for w in weights):
            skipped.append(
                Skip(owner, setting, paths, "frozen: Keras 3 never regularizes frozen weights")
            )
            continue
        before = weights[0].regularizer
        current = [w.regularizer for w in weights]
        if model.live:
            current += [w.active_regularizer for w in weights]
        if all(_same(r, target) for r in current):
            continue
        spelled = before.describe() if before else None
        if model.live and not all(_same(w.active_regularizer, before) for w in weights):
            spelled = f"{spelled} (not on the variable)" if before else "None (variable only)"
        changes.append(
            Change(
                layer_path=owner,
                setting=setting,
                key=key,
                weights=paths,
                before=spelled,
                after=target.describe() if target else None,
            )
        )
    for node in model.root.walk():
        for entry in node.unused_regularizers:
            changes.append(
                Change(
                    layer_path=node.path,
                    setting=entry.setting,
                    key=entry.key,
                    weights=(),
                    before=entry.regularizer.describe(),
                    after=None,
                )
            )
        if node.opaque is not None:
            skipped.append(Skip(node.path, None, (), f"opaque: {node.opaque}"))
    return changes, skipped


def _same(a: Regularizer | None, b: Regularizer | None) -> bool:
    """Equal penalties (`L2(1e-4)` is `L1L2(0, 1e-4)`; float32 rounding ignored)."""
    if a is None or b is None:
        return a is b
    if not (a.known and b.known):
        return a == b
    return math.isclose(a.l1, b.l1, rel_tol=1e-6) and math.isclose(a.l2, b.l2, rel_tol=1e-6)
