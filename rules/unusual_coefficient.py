"""REG009 unusual-coefficient."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import ClassVar

from pydantic import Field, model_validator

from auditor.graph.decay import declared_regularizers
from auditor.graph.declared import Regularizer
from auditor.graph.model import ModelGraph, Role
from auditor.numbers import number
from auditor.results.findings import Finding, Severity
from auditor.rules.base import Rule, RuleContext, RuleOptions

_KERAS_DEFAULT = 0.01  # L1() / L2() / the bare strings "l1" and "l2"


class UnusualCoefficient(Rule):
    """## What it does
    Checks the coefficient of every declared L1/L2 regularizer: outside `[min, max)`, the
    bare-string default `L2(0.01)`, inert regularizers (`L1L2(0, 0)`, `L2(0.0)`), and L1 on
    dense/conv kernels where L2 was likely meant (info). One finding per declared
    regularizer (MultiHeadAttention's projections share one).

    ## Why is this bad?
    `kernel_regularizer="l2"` means `L2(0.01)`, ten to a thousand times the usual 1e-4 to
    1e-5 (TF-slim's MobileNet uses 4e-5): the penalty then dominates training. The string
    `"l1l2"` gives `L1L2(0, 0)`, a regularizer that penalizes nothing while the config
    looks regularized. L1 on kernels drives weights to exactly zero, a sparsity prior
    rarely intended as "weight decay".

    ## Example
    ```python
    keras.layers.Dense(64, kernel_regularizer="l2")  # L2(0.01)
    ```

    Use instead:
    ```python
    keras.layers.Dense(64, kernel_regularizer=keras.regularizers.L2(1e-4))
    ```

    ## Options
    - `min` (float, default 1e-6): smallest usual coefficient.
    - `max` (float, default 1e-2): upper end, exclusive: 0.01 itself is flagged.
    - `l1_on_kernels` (bool, default true): report L1-only regularizers on kernels (info).

    ## References
    - Keras `regularizers.py`: `L1()` / `L2()` default to 0.01; `L1L2()` to (0, 0)
    - TF-slim `mobilenet_v1_arg_scope(weight_decay=0.00004)`
    """

    code: ClassVar[str] = "REG009"
    name: ClassVar[str] = "unusual-coefficient"
    severity: ClassVar[Severity] = Severity.WARNING
    requires: ClassVar[frozenset[str]] = frozenset({"config"})

    class Options(RuleOptions):
        """Thresholds of REG009."""

        min: float = Field(default=1e-6, gt=0.0)
        max: float = Field(default=1e-2, gt=0.0)
        l1_on_kernels: bool = True

        @model_validator(mode="after")
        def _ordered(self) -> UnusualCoefficient.Options:
            if self.min >= self.max:
                raise ValueError(f"min must be below max. Received: min={self.min}, max={self.max}")
            return self

    def check_model(self, model: ModelGraph, ctx: RuleContext) -> Iterator[Finding]:
        for owner, key, weight, weights in declared_regularizers(model):
            reg = weight.regularizer
            assert reg is not None
            problem = self._judge(reg, weight.role, ctx)
            if problem is None:
                continue
            message, fix, severity = problem
            setting = key.rsplit(".", 1)[-1]
            yield self.finding(
                ctx,
                f"`{owner.display_path}` {setting}: {message} Received: {setting}={reg.describe()}",
                layer=owner,
                weight=weight if len(weights) == 1 else None,
                config_key=key,
                fix=fix,
                severity=severity,
                details={
                    "l1": _json(reg.l1),
                    "l2": _json(reg.l2),
                    "weights": [w.path for w in weights],
                },
            )

    def _judge(
        self, reg: Regularizer, role: Role, ctx: RuleContext
    ) -> tuple[str, str, Severity | None] | None:
        if not reg.known:
            return None
        opts = ctx.options
        coefficients = [c for c in (reg.l1, reg.l2) if c != 0.0]
        if any(not math.isfinite(c) or c < 0 for c in coefficients):
            return (
                "the coefficient is not a finite non-negative number.",
                "Use a finite coefficient such as 1e-4.",
                None,
            )
        if reg.is_inert:
            return (
                "the regularizer is inert: every coefficient is 0, so it penalizes "
                "nothing (the string 'l1l2' gives L1L2(0, 0)).",
                "Give it a coefficient, e.g. `keras.regularizers.L2(1e-4)`, or remove it.",
                None,
            )
        if any(math.isclose(c, _KERAS_DEFAULT, rel_tol=1e-6) for c in coefficients):
            return (
                "0.01 is the default of the bare string 'l2'/'l1' (and of L2()/L1()), "
                "10-1000x the usual 1e-5 to 1e-4.",
                "Pass an explicit coefficient, e.g. `keras.regularizers.L2(1e-4)`.",
                None,
            )
        outside = [c for c in coefficients if not opts.min <= c < opts.max]
        if outside:
            return (
                f"the coefficient {number(outside[0])} is outside the usual range "
                f"[{number(opts.min)}, {number(opts.max)}).",
                "Use a coefficient in the usual range (1e-5 to 1e-3 for L2), or widen "
                "`min`/`max` for this rule.",
                None,
            )
        if opts.l1_on_kernels and role is Role.KERNEL and reg.l1 > 0 and reg.l2 == 0:
            return (
                "L1 on a dense/conv kernel drives weights to exactly zero (a sparsity "
                "prior); L2 was likely meant.",
                "Use `keras.regularizers.L2(...)` unless sparsity is the goal.",
                Severity.INFO,
            )
        return None


def _json(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)
