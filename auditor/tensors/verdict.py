"""Is a tensor still at its initialization? The verdict on its statistics, and why.

The evidence comes from `auditor.tensors.stats`, which measures each tensor against the
law of its declared initializer (`auditor.tensors.initializers`) in its one read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from auditor.numbers import number, percent

if TYPE_CHECKING:
    from auditor.tensors.stats import TensorStats

__all__ = ["KS_ALPHA", "SIGMAS", "Judgement", "Verdict", "judge"]


class Verdict(StrEnum):
    """What the evidence says about a tensor."""

    INITIAL = "initial"  # indistinguishable from its initializer
    TRAINED = "trained"  # provably or significantly moved away from it
    UNKNOWN = "unknown"  # no reference (custom or unrecognized initializer)


@dataclass(frozen=True, slots=True)
class Judgement:
    """A verdict on one tensor, how sure it is, and the evidence in words."""

    verdict: Verdict
    confidence: str  # "high" | "medium" | "low"
    evidence: str


#: Default thresholds: a fresh tensor fails the KS test with probability KS_ALPHA, so it
#: is kept small; SIGMAS standard errors bound the std and mean.
KS_ALPHA = 1e-4
SIGMAS = 6.0


def judge(stats: TensorStats, *, ks_alpha: float = KS_ALPHA, sigmas: float = SIGMAS) -> Judgement:
    """Is the tensor still at its initialization?

    The evidence, strongest first: any value off an exact (constant) initializer or beyond
    a bounded law's support proves the tensor moved; so does an orthogonal init whose Gram
    matrix is no longer the identity. Otherwise the std and mean are compared with the
    law's (within `sigmas` standard errors) and the sample with its CDF (KS, `ks_alpha`).
    Small tensors get lower confidence: they carry little evidence either way.
    """
    fit = stats.init
    if fit is None:
        return Judgement(Verdict.UNKNOWN, "low", "no known initializer to compare with")
    ref = fit.reference
    n = stats.count - stats.nan - stats.inf
    if stats.nan or stats.inf:
        return Judgement(Verdict.TRAINED, "high", "non-finite values cannot be initial")
    if n == 0:
        return Judgement(Verdict.UNKNOWN, "low", "empty tensor")
    if ref.exact:
        if fit.mismatches:
            return Judgement(
                Verdict.TRAINED,
                "high",
                f"{fit.mismatches} of {n} values differ from {ref.name} ({ref.description})",
            )
        confidence = "high" if n >= 16 else "medium" if n >= 4 else "low"
        return Judgement(Verdict.INITIAL, confidence, f"every value is exactly {ref.description}")
    if ref.bounded and fit.outside:
        return Judgement(
            Verdict.TRAINED,
            "high",
            f"{fit.outside} of {n} values lie outside [{number(ref.low)}, {number(ref.high)}], the "
            f"support of {ref.name}",
        )
    if fit.gram_error is not None and fit.gram_error > 1e-3:
        return Judgement(
            Verdict.TRAINED,
            "high",
            f"no longer orthogonal (max |W W^T - I| = {number(fit.gram_error, 3)})",
        )
    sure = "high" if n >= 1000 else "medium" if n >= 100 else "low"
    if ref.std > 0:
        se = math.sqrt(max(ref.excess_kurtosis + 2.0, 0.1) / (4.0 * n))
        drift = stats.std / ref.std - 1.0
        if abs(drift) > sigmas * se:
            return Judgement(
                Verdict.TRAINED,
                sure,
                f"std {number(stats.std)} where {ref.name} gives {number(ref.std)} "
                f"({percent(drift, signed=True)})",
            )
        if abs(stats.mean - ref.mean) > sigmas * ref.std / math.sqrt(n):
            return Judgement(
                Verdict.TRAINED,
                sure,
                f"mean {number(stats.mean)} where {ref.name} gives {number(ref.mean)}",
            )
    if fit.ks_p is not None and fit.ks_p < ks_alpha:
        return Judgement(
            Verdict.TRAINED,
            sure,
            f"KS test against {ref.description}: D={number(fit.ks, 3)}, p={number(fit.ks_p, 2)}",
        )
    tests = "within its support, " if ref.bounded else ""
    if fit.gram_error is not None:
        tests = "orthogonal, "
    ks = f", KS p={number(fit.ks_p, 2)}" if fit.ks_p is not None else ""
    return Judgement(
        Verdict.INITIAL,
        sure,
        f"{tests}moments match {ref.name} ({ref.description}){ks}",
    )
