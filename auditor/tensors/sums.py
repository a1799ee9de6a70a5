"""Running sums over the slices of one tensor: moments, extremes, non-finite counts and
the per-channel sums of squares, folded in as the slices stream by.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["HISTOGRAM_BINS", "Sums", "channel_squares", "histogram"]

HISTOGRAM_BINS = 32
_HALF_RANGE = float(np.finfo(np.float64).max) / 4  # bounds past it: histogram in halves


def histogram(values: np.ndarray, low: float, high: float) -> list[int]:
    """Counts in `HISTOGRAM_BINS` equal bins over [low, high] (the last bin closed), as
    `np.histogram` counts them, without its per-call overhead."""
    data = np.asarray(values, dtype=np.float64)
    if max(abs(low), abs(high)) > _HALF_RANGE:
        # The span could pass the largest float64 (a file's values: anything). Halved,
        # every value and bound stays exact (a power of two), and so do the counts.
        data, low, high = data / 2, low / 2, high / 2
    if high <= low:
        high = low + 1.0 if low == 0 else low + abs(low) * 1e-6
    scaled = (data - low) * (HISTOGRAM_BINS / (high - low))
    index = scaled.astype(np.int64)  # values lie in [low, high]: only `high` needs folding
    np.minimum(index, HISTOGRAM_BINS - 1, out=index)
    np.maximum(index, 0, out=index)
    return np.bincount(index, minlength=HISTOGRAM_BINS).tolist()


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


_ROW_BLOCK = 4096  # rows per float32 einsum: short runs keep per-channel sums accurate

#: A float32 sum of squares below this may have lost terms: squares under 1.2e-38 are
#: subnormal and those under 1.4e-45 vanish (a weight of 1e-25 squares to 0). Columns
#: whose float32 sum is under it are summed again in float64, where 1e-25 squares to 1e-50.
_UNDERFLOW = 1e-20


def channel_squares(rows: np.ndarray) -> np.ndarray:
    """Per-column sums of squares, in float64, from blocks of at most `_ROW_BLOCK` rows.

    Float32 rows are summed in float32 (half the bytes of float64 through the multiply),
    and the columns that come out under `_UNDERFLOW` are summed again in float64: a dead
    channel of 1e-25 and a live one of 1e-20 stay apart instead of both reading 0.
    """
    if rows.shape[0] <= _ROW_BLOCK:
        out = np.einsum("ij,ij->j", rows, rows).astype(np.float64)
    else:
        out = np.zeros(rows.shape[1], dtype=np.float64)
        for start in range(0, rows.shape[0], _ROW_BLOCK):
            block = rows[start : start + _ROW_BLOCK]
            out += np.einsum("ij,ij->j", block, block)
    if rows.dtype != np.float64:
        small = np.flatnonzero(out < _UNDERFLOW)
        if small.size:  # all-zero columns (zero kernels, pruned units) sum to 0 as they are
            columns = rows if small.size == rows.shape[1] else rows[:, small]
            if columns.any():
                exact = columns.astype(np.float64)
                out[small] = np.einsum("ij,ij->j", exact, exact)
    return out


_BLOCK_BYTES = 4 * 1024 * 1024  # rows folded together (a whole tensor read in one piece)


def _summable(values: np.ndarray) -> np.ndarray:
    """Floats of at least 32 bits: integers and booleans as float64, half floats as float32
    (converted a block at a time, so a wide integer type never doubles a whole chunk)."""
    if values.dtype.kind != "f" or values.itemsize < 4:
        return values.astype(np.float64 if values.dtype.kind in "iub" else np.float32)
    return values


class Sums:
    """Running sums over the chunks of one tensor.

    Args:
        channels: int, the length of the last axis (0 for scalars).
        absolute: bool, sum |w| too.
        zeros: bool, count exact zeros too.
    """

    def __init__(self, channels: int, *, absolute: bool = True, zeros: bool = True) -> None:
        self.absolute = absolute
        self.count_zeros = zeros
        self.channel_sq = np.zeros(channels, dtype=np.float64) if channels else None
        self.count = self.finite = self.zeros = self.nan = self.inf = 0
        self.total = self.total_sq = self.total_abs = 0.0
        self.low, self.high = math.inf, -math.inf

    def add(self, rows: np.ndarray, offset: int) -> None:
        """Fold in a 2-D chunk whose columns are channels `offset`, `offset + 1`, ...

        Sums run in the chunk's own float precision (float32 for float32 weights: NumPy's
        pairwise summation keeps them accurate) and accumulate across chunks in float64;
        a chunk whose float32 sums overflow or meet NaN/Inf is redone in float64. Rows are
        folded in blocks of about `_BLOCK_BYTES`, so that the passes after the first over
        a block read it from the cache rather than from memory (chunks are that small
        already; a tensor read whole is not).
        """
        if self.channel_sq is None:  # no channels kept: any run of values is a block
            flat = rows.reshape(-1)
            step = max(1, _BLOCK_BYTES // 8)
            for start in range(0, flat.size, step):
                self._add_block(_summable(flat[start : start + step]).reshape(1, -1), 0)
            return
        step = max(1, _BLOCK_BYTES // max(1, rows.shape[1] * 8))
        for start in range(0, rows.shape[0], step):
            self._add_block(_summable(rows[start : start + step]), offset)

    def _add_block(self, rows: np.ndarray, offset: int) -> None:
        size = rows.size
        self.count += size
        if self.count_zeros:
            self.zeros += int(np.count_nonzero(rows == 0))
        total = float(np.add.reduce(rows, axis=None))
        channel_sq = channel_squares(rows)
        if math.isfinite(total) and math.isfinite(float(channel_sq.sum())):
            clean, n_finite = rows, size
            self.low = min(self.low, float(rows.min()))
            self.high = max(self.high, float(rows.max()))
        else:  # slow path: float64, with NaN and inf masked out of every sum
            mask = np.isfinite(rows)
            n_finite = int(mask.sum())
            nan = int(np.isnan(rows).sum())
            self.nan += nan
            self.inf += size - n_finite - nan
            clean = np.where(mask, rows, 0).astype(np.float64)
            total = float(np.add.reduce(clean, axis=None))
            channel_sq = channel_squares(clean)
            if n_finite:
                finite_values = rows[mask]
                self.low = min(self.low, float(finite_values.min()))
                self.high = max(self.high, float(finite_values.max()))
        self.finite += n_finite
        self.total += total
        self.total_sq += float(channel_sq.sum())
        if self.absolute:
            self.total_abs += float(np.add.reduce(np.abs(clean), axis=None))
        if self.channel_sq is not None:
            self.channel_sq[offset : offset + rows.shape[1]] += channel_sq

    def fields(self) -> dict[str, Any]:
        """What the sums give of a `TensorStats`: counts, sums, moments, extremes and the
        per-channel norms."""
        finite = self.finite
        mean = self.total / finite if finite else math.nan
        variance = max(self.total_sq / finite - mean * mean, 0.0) if finite else math.nan
        return {
            "count": self.count,
            "sum_squares": self.total_sq,
            "sum_abs": self.total_abs if self.absolute else None,
            "mean": mean,
            "std": math.sqrt(variance) if finite else math.nan,
            "min": self.low if finite else math.nan,
            "max": self.high if finite else math.nan,
            "zeros": self.zeros if self.count_zeros else None,
            "nan": self.nan,
            "inf": self.inf,
            "channel_norms": _frozen(np.sqrt(self.channel_sq))
            if self.channel_sq is not None
            else None,
        }

    def channel_summary(self) -> dict[str, Any]:
        """The `TensorStats` fields that summarize the channel norms for the inventory:
        their (min, median, max) and histogram."""
        if self.channel_sq is None:
            return {}
        norms = np.sort(np.sqrt(self.channel_sq[np.isfinite(self.channel_sq)]))
        if not norms.size:
            return {}
        n = norms.size
        low, high = float(norms[0]), float(norms[-1])
        median = float((norms[(n - 1) // 2] + norms[n // 2]) / 2)
        return {
            "channel_summary": (low, median, high),
            "channel_histogram": tuple(histogram(norms, low, high)) if n > 1 else (),
        }
