"""A fixed-seed uniform sample of a tensor's values, taken as the slices stream by (for the
Kolmogorov-Smirnov test and the value histogram).
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["SAMPLE_SIZE", "Sampler"]

SAMPLE_SIZE = 8_192  # values kept for the KS test and the histogram
_SAMPLE_SEED = 20_191_115


@functools.lru_cache(maxsize=64)
def _sample_index(count: int, size: int) -> np.ndarray:
    """Sorted positions of a fixed-seed stratified sample: the flat tensor cut into `size`
    equal strata, one uniformly random position in each (shared by same-sized tensors).

    Random within each stratum, so no stride can alias with the channel layout; one per
    stratum, so the positions come sorted and spread over the whole tensor.
    """
    starts = np.arange(size + 1, dtype=np.int64) * count // size
    widths = np.diff(starts)
    index = starts[:-1] + (_uniform(size, _SAMPLE_SEED) * widths).astype(np.int64)
    index.flags.writeable = False
    return index


def _uniform(size: int, seed: int) -> np.ndarray:
    """`size` fixed-seed uniform floats in [0, 1): the SplitMix64 sequence, vectorized.

    Counter-based, so it needs no generator state, and cheap to import: `numpy.random`
    costs 10-15 ms of every run's start-up, more than the sample it would draw.
    """
    z = np.uint64(seed) + np.arange(1, size + 1, dtype=np.uint64) * np.uint64(_GOLDEN_GAMMA)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


_GOLDEN_GAMMA = 0x9E3779B97F4A7C15  # SplitMix64's increment: 2**64 / the golden ratio


class Sampler:
    """A fixed-seed uniform sample of a tensor's values, taken as the chunks go by."""

    def __init__(self, count: int, size: int) -> None:
        self.sampled = count > size
        self.index = _sample_index(count, size) if self.sampled else None
        self.parts: list[np.ndarray] = []

    def add(self, values: np.ndarray, offset: int) -> None:
        flat = values.reshape(-1)
        if self.index is not None:
            lo, hi = np.searchsorted(self.index, [offset, offset + flat.size])
            flat = flat[self.index[lo:hi] - offset]
        if flat.size:
            self.parts.append(flat.astype(_sample_dtype(flat.dtype)))

    def values(self) -> np.ndarray:
        """The sample, as float32 for float weights of up to 32 bits (exact, and half the
        cost of sorting float64), float64 otherwise."""
        return np.concatenate(self.parts) if self.parts else np.zeros(0)


def _sample_dtype(dtype: np.dtype) -> type:
    return np.float32 if dtype.kind == "f" and dtype.itemsize <= 4 else np.float64
