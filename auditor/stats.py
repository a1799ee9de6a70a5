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
    """Read a tensor once, in bounded chunks, and return its statistics.

    Sums accumulate in float64 without a float64 copy of the chunk; the per-channel sums of
    squares come from one `einsum` pass and give the total. Non-finite values are rare, so
    they are only looked for when a sum comes out non-finite.
    """
    shape = tensor.shape
    channels = shape[-1] if len(shape) >= 1 else 0
    acc = _Accumulator(channels)
    offset = 0  # a 1-D tensor's chunks are slices of its channels
    for chunk in tensor.iter_chunks(chunk_bytes):
        values = np.asarray(chunk)
        if values.dtype.kind == "b" or (values.dtype.kind in "iu" and values.itemsize < 8):
            values = values.astype(np.int64)  # np.abs(int8(-128)) would overflow
        if not values.size:
            continue
        if len(shape) == 1:
            acc.add(values.reshape(1, -1), offset)
            offset += values.size
        else:
            acc.add(values.reshape(-1, channels) if channels else values.reshape(1, -1), 0)
    return acc.result()


class _Accumulator:
    """Running sums over the chunks of one tensor."""

    def __init__(self, channels: int) -> None:
        self.channel_sq = np.zeros(channels, dtype=np.float64) if channels else None
        self.count = self.finite = self.zeros = self.nan = self.inf = 0
        self.total = self.total_sq = self.total_abs = 0.0
        self.low, self.high = math.inf, -math.inf

    def add(self, rows: np.ndarray, offset: int) -> None:
        """Fold in a 2-D chunk whose columns are channels `offset`, `offset + 1`, ..."""
        size = rows.size
        self.count += size
        self.zeros += size - int(np.count_nonzero(rows))
        total = float(np.add.reduce(rows, axis=None, dtype=np.float64))
        channel_sq = np.einsum("ij,ij->j", rows, rows, dtype=np.float64)
        if math.isfinite(total) and math.isfinite(float(channel_sq.sum())):
            clean, n_finite = rows, size
        else:  # slow path: mask NaN and inf out of every sum
            mask = np.isfinite(rows)
            n_finite = int(mask.sum())
            nan = int(np.isnan(rows).sum())
            self.nan += nan
            self.inf += size - n_finite - nan
            clean = np.where(mask, rows, 0)
            total = float(np.add.reduce(clean, axis=None, dtype=np.float64))
            channel_sq = np.einsum("ij,ij->j", clean, clean, dtype=np.float64)
            if n_finite:
                finite_values = rows[mask]
                self.low = min(self.low, float(finite_values.min()))
                self.high = max(self.high, float(finite_values.max()))
        if n_finite == size:
            self.low = min(self.low, float(rows.min()))
            self.high = max(self.high, float(rows.max()))
        self.finite += n_finite
        self.total += total
        self.total_sq += float(channel_sq.sum())
        self.total_abs += float(np.add.reduce(np.abs(clean), axis=None, dtype=np.float64))
        if self.channel_sq is not None:
            self.channel_sq[offset : offset + rows.shape[1]] += channel_sq

    def result(self) -> TensorStats:
        finite = self.finite
        mean = self.total / finite if finite else math.nan
        variance = max(self.total_sq / finite - mean * mean, 0.0) if finite else math.nan
        return TensorStats(
            count=self.count,
            sum_squares=self.total_sq,
            sum_abs=self.total_abs,
            mean=mean,
            std=math.sqrt(variance) if finite else math.nan,
            min=self.low if finite else math.nan,
            max=self.high if finite else math.nan,
            zeros=self.zeros,
            nan=self.nan,
            inf=self.inf,
            channel_norms=tuple(np.sqrt(self.channel_sq).tolist())
            if self.channel_sq is not None
            else None,
        )
