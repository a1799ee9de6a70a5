"""A tensor compared, as its slices stream by, with what it started as (the law of its
initializer) and with what it was (the same tensor of a reference model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from auditor.graph.model import TensorSource
from auditor.tensors.initializers import Kind, Reference

__all__ = ["Comparison", "Differ", "InitFit", "InitFitter"]

_BOUND_TOLERANCE = 1e-6  # float32 rounding of a law's support


@dataclass(frozen=True, slots=True)
class InitFit:
    """How a tensor compares with its initial distribution (measurements, no verdict).

    Attributes:
        reference: Reference, the initial law.
        mismatches: int, values that differ from an exact (constant or pattern) reference.
        outside: int, values beyond a bounded law's support.
        ks: float | None, the Kolmogorov-Smirnov statistic of the sample against the law.
        ks_p: float | None, its asymptotic p-value.
        sample: int, how many values the KS test used.
        gram_error: float | None, max |W W^T / gain^2 - I| of an orthogonal init (None for
            a tensor over `WHOLE_TENSOR_BYTES`, which is not read in one piece).
    """

    reference: Reference
    mismatches: int = 0
    outside: int = 0
    ks: float | None = None
    ks_p: float | None = None
    sample: int = 0
    gram_error: float | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    """How a tensor differs from the same tensor of a reference model.

    Attributes:
        max_abs_diff: float, the largest |a - b| (inf when a side is non-finite there).
        differing: int, positions where the values are not equal.
        sum_squares: float, sum of a**2 over this tensor's finite values, in the same float64
            arithmetic as `reference_sum_squares` (equal tensors give equal sums).
        reference_sum_squares: float, sum of b**2 over the reference's finite values.
        diff_sum_squares: float, sum of (a - b)**2 where both sides are finite.
    """

    max_abs_diff: float
    differing: int
    sum_squares: float = 0.0
    reference_sum_squares: float = 0.0
    diff_sum_squares: float = 0.0


class InitFitter:
    """The measurements against an initial law that need every value."""

    def __init__(self, reference: Reference, shape: tuple[int, ...]) -> None:
        self.reference = reference
        self.shape = shape
        self.mismatches = self.outside = 0
        self.gram_error: float | None = None

    def add(
        self, values: np.ndarray, offset: int, *, whole: bool, seen: tuple[float, float]
    ) -> None:
        """Fold in a chunk; `seen` is the (min, max) of the finite values read so far."""
        ref = self.reference
        flat = values.reshape(-1)
        if ref.exact:
            self.mismatches += int(np.count_nonzero(flat != ref.expected(offset, flat.size)))
        elif ref.bounded:
            slack = _BOUND_TOLERANCE * max(abs(ref.low), abs(ref.high))
            low, high = ref.low - slack, ref.high + slack
            if seen[0] < low or seen[1] > high:  # otherwise nothing can be outside
                below = np.count_nonzero(flat < low)
                self.outside += int(below + np.count_nonzero(flat > high))
        elif ref.kind is Kind.ORTHOGONAL and whole and len(self.shape) >= 2:
            rows = math.prod(self.shape[:-1])
            matrix = flat.reshape(rows, self.shape[-1]).astype(np.float64) / ref.gain
            gram = matrix @ matrix.T if rows <= self.shape[-1] else matrix.T @ matrix
            error = np.abs(gram - np.eye(gram.shape[0])).max()
            self.gram_error = float(error) if np.isfinite(error) else math.inf

    def result(self, sample: np.ndarray) -> InitFit:
        ref = self.reference
        ks = ks_p = None
        finite = sample[np.isfinite(sample)]
        proven = self.outside > 0 or self.mismatches > 0  # moved for sure: no KS needed
        continuous = ref.kind in (Kind.UNIFORM, Kind.NORMAL, Kind.TRUNCATED_NORMAL)
        if continuous and finite.size and not proven:
            ks = _ks_statistic(np.sort(finite).astype(np.float64), ref)
            ks_p = _ks_p_value(ks, finite.size)
        return InitFit(
            reference=ref,
            mismatches=self.mismatches,
            outside=self.outside,
            ks=ks,
            ks_p=ks_p,
            sample=int(finite.size),
            gram_error=self.gram_error,
        )


def _ks_statistic(ordered: np.ndarray, reference: Reference) -> float:
    n = ordered.size
    cdf = reference.cdf(ordered)
    above = np.arange(1, n + 1) / n - cdf
    below = cdf - np.arange(0, n) / n
    return float(max(above.max(), below.max()))


def _ks_p_value(d: float, n: int) -> float:
    """Asymptotic Kolmogorov distribution with Stephens's small-sample correction."""
    root = math.sqrt(n)
    lam = (root + 0.12 + 0.11 / root) * d
    if lam < 0.2:
        return 1.0
    total = float(np.dot(_KS_SIGNS, np.exp(_KS_SQUARES * (-2.0 * lam * lam))))
    return min(1.0, max(0.0, 2.0 * total))


_KS_TERMS = np.arange(1, 101, dtype=np.float64)  # the series' first 100 terms, vectorized
_KS_SIGNS = np.where(_KS_TERMS % 2 == 1, 1.0, -1.0)
_KS_SQUARES = _KS_TERMS * _KS_TERMS


class Differ:
    """Compares chunks with the same positions of another tensor, read in step."""

    def __init__(self, other: TensorSource, chunk_bytes: int) -> None:
        self.chunks = other.iter_chunks(chunk_bytes)
        self.buffer = np.zeros(0)
        self.max_diff = 0.0
        self.differing = 0
        self.own_squares = self.reference_squares = self.diff_squares = 0.0

    def _take(self, size: int) -> np.ndarray:
        parts, have = [self.buffer], self.buffer.size
        while have < size:
            chunk = np.asarray(next(self.chunks)).reshape(-1)
            parts.append(chunk)
            have += chunk.size
        joined = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self.buffer = joined[size:]
        return joined[:size]

    def add(self, values: np.ndarray) -> None:
        mine = values.reshape(-1).astype(np.float64)
        theirs = self._take(mine.size).astype(np.float64)
        self.own_squares += _finite_squares(mine)
        self.reference_squares += _finite_squares(theirs)
        differ = ~((mine == theirs) | (np.isnan(mine) & np.isnan(theirs)))
        count = int(np.count_nonzero(differ))
        if count:
            self.differing += count
            gaps = np.abs(mine[differ] - theirs[differ])
            self.max_diff = max(self.max_diff, float(np.nan_to_num(gaps, nan=np.inf).max()))
            finite_gaps = gaps[np.isfinite(gaps)]
            self.diff_squares += float(np.dot(finite_gaps, finite_gaps))

    def result(self) -> Comparison:
        return Comparison(
            max_abs_diff=self.max_diff,
            differing=self.differing,
            sum_squares=self.own_squares,
            reference_sum_squares=self.reference_squares,
            diff_sum_squares=self.diff_squares,
        )


def _finite_squares(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.dot(finite, finite))
