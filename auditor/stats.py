"""Per-tensor statistics, computed in one streaming read of each tensor.

Rules never read tensors: the engine calls `compute()` once per weight and hands the
results to every rule through `RuleContext.stats`. In that one read it also measures the
tensor against its initial distribution (`auditor.initializers.Reference`: exact-constant
mismatches, excursions beyond a bounded law's support, a Kolmogorov-Smirnov statistic on a
fixed-seed sample, the Gram matrix of an orthogonal init) and, with `--reference`, against
the same tensor of a reference model. Memory stays bounded by the chunk size (a tensor
judged as a whole: up to `WHOLE_TENSOR_BYTES`; a compressed HDF5 chunk larger than the
chunk size: that chunk's rows, up to `h5tensor.WHOLE_CHUNK_BYTES`), plus a sample of at most
`SAMPLE_SIZE` values, whatever the size of the tensor.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auditor.initializers import Kind, Reference
from auditor.model import TensorSource
from auditor.readahead import ReadAhead, tensor_bytes

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "HISTOGRAM_BINS",
    "SAMPLE_SIZE",
    "WHOLE_TENSOR_BYTES",
    "Comparison",
    "InitFit",
    "TensorStats",
    "channel_squares",
    "compute",
    "histogram",
    "read_size",
]

# The read size. Small enough that a chunk just read is still in the CPU's last-level
# cache when its statistics are computed, and that its buffer is reused rather than mapped
# afresh: on a 1-billion-parameter file, 4 MiB chunks took 0.6 s where 32 MiB took 1.4 s.
DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024
# A tensor measured as a whole (the Gram matrix of an orthogonal init) is read in one piece
# up to this size; larger ones stream in chunks and get no Gram measurement.
WHOLE_TENSOR_BYTES = 32 * 1024 * 1024
SAMPLE_SIZE = 8_192  # values kept for the KS test and the histogram
HISTOGRAM_BINS = 32
_SAMPLE_SEED = 20_191_115
_BOUND_TOLERANCE = 1e-6  # float32 rounding of a law's support
_HALF_RANGE = float(np.finfo(np.float64).max) / 4  # bounds past it: histogram in halves


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


@dataclass(frozen=True, slots=True)
class TensorStats:
    """Statistics of one tensor. Sums are over finite values only.

    Attributes:
        count: int, number of values.
        sum_squares: float, sum of w**2 (the L2 penalty's sum).
        sum_abs: float | None, sum of |w| (the L1 penalty's sum); None when it was not
            asked for (it costs a pass of its own, and only L1 penalties need it).
        mean, std, min, max: floats over finite values (NaN when there are none).
        zeros: int | None, exact zeros; None when not asked for (only the inventory shows
            it, and it costs a pass of its own).
        nan, inf: ints, non-finite values.
        channel_norms: per-output-channel L2 norms (channel = last axis), a float64 array
            (not to be written to), or None for scalars. Left out of `==`.
        channel_summary: (min, median, max) of the finite channel norms, or None.
        channel_histogram: counts of the channel norms in `HISTOGRAM_BINS` equal bins over
            [min, max] (empty for fewer than two channels).
        histogram: counts in `HISTOGRAM_BINS` equal bins over [min, max] of the sample.
        sampled: bool, True when the histogram and KS test saw a sample, not every value.
        init: InitFit | None, the fit to the declared initializer (None: no reference).
        comparison: Comparison | None, against the reference model's tensor.
    """

    count: int
    sum_squares: float
    sum_abs: float | None
    mean: float
    std: float
    min: float
    max: float
    zeros: int | None
    nan: int
    inf: int
    channel_norms: np.ndarray | None = field(compare=False)
    channel_summary: tuple[float, float, float] | None = None
    channel_histogram: tuple[int, ...] = ()
    histogram: tuple[int, ...] = ()
    sampled: bool = False
    init: InitFit | None = None
    comparison: Comparison | None = None

    @property
    def l2_norm(self) -> float:
        return math.sqrt(self.sum_squares)


def compute(
    tensor: TensorSource,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    *,
    reference: Reference | None = None,
    against: TensorSource | None = None,
    sample_size: int = SAMPLE_SIZE,
    absolute: bool = True,
    inventory: bool = True,
    ahead: ReadAhead | None = None,
) -> TensorStats:
    """Read a tensor once, in bounded chunks, and return its statistics.

    Sums accumulate in float64 without a float64 copy of the chunk; the per-channel sums of
    squares come from one `einsum` pass and give the total. Non-finite values are rare, so
    they are only looked for when a sum comes out non-finite.

    Args:
        tensor: TensorSource.
        chunk_bytes: int, the read size (a tensor whose initial law needs it whole is read
            whole, up to `WHOLE_TENSOR_BYTES`).
        reference: Reference | None, the initial law to measure the tensor against.
        against: TensorSource | None, the same tensor in a reference model (same shape),
            read in step with this one.
        sample_size: int, values kept for the KS test and the histogram.
        absolute: bool, compute `sum_abs` (for L1 penalties).
        inventory: bool, compute what only the per-weight inventory shows and no rule
            uses: `zeros`, `histogram`, `channel_histogram` and `channel_summary`.
        ahead: ReadAhead | None, the model's read-ahead, which the tensor was planned
            into with `read_size(tensor, reference, chunk_bytes)`; None: the tensor reads
            its own chunks. Nothing here keeps a chunk, or a view of one, once it asks for
            the next (every statistic folds or copies what it needs), so the read-ahead
            may reuse its buffers (`ReadAhead(reuse_bytes=...)`).
    """
    shape = tensor.shape
    count = math.prod(shape)
    channels = shape[-1] if len(shape) >= 1 else 0
    chunk_bytes = read_size(tensor, reference, chunk_bytes)
    acc = _Accumulator(channels, absolute=absolute, zeros=inventory)
    sample = _Sampler(count, sample_size)
    fit = _FitAccumulator(reference, shape) if reference is not None else None
    diff = _DiffAccumulator(against, chunk_bytes) if against is not None else None
    flat = 0  # values read so far: a chunk's offset in the flattened tensor
    chunks = (
        ahead.chunks(tensor, chunk_bytes) if ahead is not None else tensor.iter_chunks(chunk_bytes)
    )
    # A file's values may be anything. Float32 sums that overflow, or meet inf - inf, are
    # redone in float64 with the non-finite values masked out (`_Accumulator`); a Gram
    # matrix, a difference or a standardized value past the float64 range is infinite,
    # as it should be. None of it is worth a NumPy warning.
    with np.errstate(over="ignore", invalid="ignore"):
        for chunk in chunks:
            values = np.asarray(chunk)
            if values.dtype.kind == "b" or (values.dtype.kind in "iu" and values.itemsize < 8):
                values = values.astype(np.int64)  # np.abs(int8(-128)) would overflow
            if not values.size:
                continue
            if len(shape) == 1:
                acc.add(values.reshape(1, -1), flat)
            else:
                acc.add(values.reshape(-1, channels) if channels else values.reshape(1, -1), 0)
            sample.add(values, flat)
            if fit is not None:
                fit.add(values, flat, whole=values.size == count, seen=(acc.low, acc.high))
            if diff is not None:
                diff.add(values)
            flat += values.size
        values = sample.values()
        return acc.result(
            histogram=_histogram(values, acc.low, acc.high) if inventory else (),
            sampled=sample.sampled,
            init=fit.result(values) if fit is not None else None,
            comparison=diff.result() if diff is not None else None,
            summarize=inventory,
        )


def read_size(
    tensor: TensorSource, reference: Reference | None, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> int:
    """The slice size `compute()` reads a tensor in: `chunk_bytes`, or the whole tensor up
    to `WHOLE_TENSOR_BYTES` when its initial law is judged on the whole (orthogonal)."""
    if reference is not None and reference.kind is Kind.ORTHOGONAL:
        nbytes = tensor_bytes(tensor)
        if chunk_bytes < nbytes <= WHOLE_TENSOR_BYTES:
            return nbytes
    return chunk_bytes


def _histogram(values: np.ndarray, low: float, high: float) -> tuple[int, ...]:
    finite = values[np.isfinite(values)]
    if not finite.size or not (math.isfinite(low) and math.isfinite(high)):
        return ()
    return tuple(histogram(finite, low, high))


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


class _Sampler:
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


class _FitAccumulator:
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


class _DiffAccumulator:
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


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _finite_squares(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.dot(finite, finite))


_ROW_BLOCK = 4096  # rows per float32 einsum: short runs keep per-channel sums accurate


def channel_squares(rows: np.ndarray) -> np.ndarray:
    """Per-column sums of squares, in float64, from blocks of at most `_ROW_BLOCK` rows."""
    if rows.shape[0] <= _ROW_BLOCK:
        return np.einsum("ij,ij->j", rows, rows).astype(np.float64)
    out = np.zeros(rows.shape[1], dtype=np.float64)
    for start in range(0, rows.shape[0], _ROW_BLOCK):
        block = rows[start : start + _ROW_BLOCK]
        out += np.einsum("ij,ij->j", block, block)
    return out


_BLOCK_BYTES = 4 * 1024 * 1024  # rows folded together (a whole tensor read in one piece)


class _Accumulator:
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
        if rows.dtype.kind != "f" or rows.itemsize < 4:
            rows = rows.astype(np.float64 if rows.dtype.kind in "iub" else np.float32)
        step = max(1, _BLOCK_BYTES // max(1, rows.shape[1] * rows.itemsize))
        for start in range(0, rows.shape[0], step):
            self._add_block(rows[start : start + step], offset)

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

    def result(self, *, summarize: bool = True, **measured: Any) -> TensorStats:
        """The statistics, with the fields measured elsewhere (`measured`); `summarize`
        adds the channel norms' summary and histogram."""
        finite = self.finite
        mean = self.total / finite if finite else math.nan
        variance = max(self.total_sq / finite - mean * mean, 0.0) if finite else math.nan
        return TensorStats(
            count=self.count,
            sum_squares=self.total_sq,
            sum_abs=self.total_abs if self.absolute else None,
            mean=mean,
            std=math.sqrt(variance) if finite else math.nan,
            min=self.low if finite else math.nan,
            max=self.high if finite else math.nan,
            zeros=self.zeros if self.count_zeros else None,
            nan=self.nan,
            inf=self.inf,
            channel_norms=_frozen(np.sqrt(self.channel_sq))
            if self.channel_sq is not None
            else None,
            **(self._channel_summary() if summarize else {}),
            **measured,
        )

    def _channel_summary(self) -> dict[str, Any]:
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
