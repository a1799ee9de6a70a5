"""Per-tensor statistics, computed in one streaming read of each tensor.

Rules never read tensors: the engine calls `compute()` once per weight and hands the
results to every rule through `RuleContext.stats`. Memory stays bounded by the chunk size,
whatever the size of the tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from auditor.model import TensorSource

__all__ = ["DEFAULT_CHUNK_BYTES", "TensorStats", "compute"]

DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class TensorStats:
    """Statistics of one tensor. Sums are over finite values only.

    Attributes:
        count: int, number of values.
        sum_squares: float, sum of w**2 (the L2 penalty's sum).
        sum_abs: float, sum of |w| (the L1 penalty's sum).
        mean, std, min, max: floats over finite values (NaN when there are none).
        zeros: int, exact zeros.
        nan, inf: ints, non-finite values.
        channel_norms: per-output-channel L2 norms (channel = last axis), or None for
            scalars.
    """

    count: int
    sum_squares: float
    sum_abs: float
    mean: float
    std: float
    min: float
    max: float
    zeros: int
    nan: int
    inf: int
    channel_norms: tuple[float, ...] | None

    @property
    def l2_norm(self) -> float:
        return math.sqrt(self.sum_squares)


def compute(tensor: TensorSource, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> TensorStats:
    """Read a tensor once, in bounded chunks, and return its statistics."""
    shape = tensor.shape
    channels = shape[-1] if len(shape) >= 1 else 0
    channel_sq = np.zeros(channels, dtype=np.float64) if channels else None
    count = finite = zeros = nan = inf = 0
    total = total_sq = total_abs = 0.0
    low, high = math.inf, -math.inf
    for chunk in tensor.iter_chunks(chunk_bytes):
        values = np.asarray(chunk)
        if values.dtype.kind == "b":
            values = values.astype(np.uint8)
        values = values.astype(np.float64, copy=False)
        count += values.size
        mask = np.isfinite(values)
        n_finite = int(mask.sum())
        if n_finite != values.size:
            nan += int(np.isnan(values).sum())
            inf += int(np.isinf(values).sum())
            clean = np.where(mask, values, 0.0)
        else:
            clean = values
        finite += n_finite
        zeros += int(np.count_nonzero(values == 0.0))
        squares = clean * clean
        total += float(clean.sum())
        total_sq += float(squares.sum())
        total_abs += float(np.abs(clean).sum())
        if n_finite:
            finite_values = values[mask] if n_finite != values.size else values
            low = min(low, float(finite_values.min()))
            high = max(high, float(finite_values.max()))
        if channel_sq is not None and values.ndim >= 1 and values.size:
            channel_sq += squares.reshape(-1, channels).sum(axis=0)
    mean = total / finite if finite else math.nan
    variance = max(total_sq / finite - mean * mean, 0.0) if finite else math.nan
    return TensorStats(
        count=count,
        sum_squares=total_sq,
        sum_abs=total_abs,
        mean=mean,
        std=math.sqrt(variance) if finite else math.nan,
        min=low if finite else math.nan,
        max=high if finite else math.nan,
        zeros=zeros,
        nan=nan,
        inf=inf,
        channel_norms=tuple(float(v) for v in np.sqrt(channel_sq))
        if channel_sq is not None
        else None,
    )
