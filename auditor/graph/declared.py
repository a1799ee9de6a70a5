"""Regularizers and initializers as a model's config declares them: parsed as data, never
instantiated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from auditor.numbers import DECLARED_DIGITS, number

__all__ = ["Initializer", "Regularizer", "UnusedRegularizer"]


# Regularizer class names keras-audit understands, lower-cased.
_L1_NAMES = frozenset({"l1"})
_L2_NAMES = frozenset({"l2"})
_L1L2_NAMES = frozenset({"l1l2", "l1_l2"})


@dataclass(frozen=True, slots=True)
class Regularizer:
    """A declared weight regularizer, parsed from its serialized form (never instantiated).

    Attributes:
        class_name: str, the class name as written (`"L2"`, `"L1L2"`, `"my_pkg>Custom"`).
        l1: float, the L1 coefficient (0.0 when absent).
        l2: float, the L2 coefficient (0.0 when absent).
        module: str | None, the `module` field of the Keras 3 form.
        registered_name: str | None, the `registered_name` field of the Keras 3 form.
        config: the raw `config` mapping, kept for evidence.
    """

    class_name: str
    l1: float = 0.0
    l2: float = 0.0
    module: str | None = None
    registered_name: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def known(self) -> bool:
        """True for the L1 / L2 / L1L2 family, whose penalty keras-audit can compute."""
        return self.class_name.lower() in _L1_NAMES | _L2_NAMES | _L1L2_NAMES

    @property
    def is_penalty(self) -> bool:
        """True when this regularizer puts a non-zero L1 or L2 penalty on the weight."""
        return self.known and (self.l1 > 0.0 or self.l2 > 0.0)

    @property
    def is_inert(self) -> bool:
        """True for a known regularizer whose coefficients are all zero (a no-op)."""
        return self.known and self.l1 == 0.0 and self.l2 == 0.0

    def describe(self) -> str:
        """A compact Keras-style spelling, e.g. `L2(0.0001)` or `L1L2(l1=1e-05, l2=0.0001)`."""
        name = self.class_name.lower()
        l1, l2 = number(self.l1, DECLARED_DIGITS), number(self.l2, DECLARED_DIGITS)
        if name in _L2_NAMES:
            return f"L2({l2})"
        if name in _L1_NAMES:
            return f"L1({l1})"
        if name in _L1L2_NAMES:
            return f"L1L2(l1={l1}, l2={l2})"
        return self.registered_name or self.class_name

    def penalty(self, sum_squares: float, sum_abs: float | None) -> float:
        """The Keras penalty value `l1*sum(|w|) + l2*sum(w**2)` for given tensor sums.

        Raises:
            ValueError: when the regularizer has an L1 part and `sum_abs` is None.
        """
        if not self.known:
            return 0.0
        if self.l1 and sum_abs is None:
            raise ValueError(f"{self.describe()} needs sum(|w|). Received: sum_abs=None")
        return (self.l1 * sum_abs if self.l1 and sum_abs is not None else 0.0) + (
            self.l2 * sum_squares
        )


@dataclass(frozen=True, slots=True)
class Initializer:
    """A declared initializer, parsed from its serialized form (never instantiated)."""

    class_name: str
    config: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def describe(self) -> str:
        """The class name, e.g. `GlorotUniform`."""
        return self.class_name

    @property
    def snake_name(self) -> str:
        """The name in Keras's string form: `lecun_normal` for `LecunNormal` (a class)
        or `lecun_normal` (a string, as a config may name it)."""
        return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", self.class_name).lower()


@dataclass(frozen=True, slots=True)
class UnusedRegularizer:
    """A regularizer set on a layer that none of the layer's variables consults.

    Attributes:
        key: str, the config key path (`config.layers[2].config.kernel_regularizer`), or,
            for an attribute, its name (`kernel_regularizer`).
        regularizer: Regularizer, what is set there.
        attribute: bool, True for a `*_regularizer` attribute of a live layer object that
            its config does not carry (live mode only).
    """

    key: str
    regularizer: Regularizer
    attribute: bool = False

    @property
    def setting(self) -> str:
        """The setting's own name (`kernel_regularizer`)."""
        return self.key.rsplit(".", 1)[-1]
