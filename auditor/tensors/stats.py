"""Per-tensor statistics, computed in one streaming read of each tensor.

Rules never read tensors: the engine calls `compute()` once per weight and hands the
results to every rule through `RuleContext.stats`. In that one read it also measures the
tensor against its initial distribution (`auditor.tensors.initializers.Reference`: exact-constant
mismatches, excursions beyond a bounded law's support, a Kolmogorov-Smirnov statistic on a
fixed-seed sample, the Gram matrix of an orthogonal init) and, with `--reference`, against
the same tensor of a reference model. Memory stays bounded by the chunk size (a tensor
judged as a whole: up to `WHOLE_TENSOR_BYTES`; a compressed HDF5 chunk larger than the
chunk size: that chunk's rows, up to `h5tensor.WHOLE_CHUNK_BYTES`), plus a sample of at most
`SAMPLE_SIZE` values, whatever the size of the tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from auditor.graph.model import TensorSource
from auditor.tensors.comparison import Comparison, Differ, InitFit, InitFitter
from auditor.tensors.initializers import Kind, Reference
from auditor.tensors.readahead import ReadAhead, tensor_bytes
from auditor.tensors.sampling import SAMPLE_SIZE, Sampler
from auditor.tensors.sums import Sums, histogram

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "MAX_CHANNELS",
    "WHOLE_TENSOR_BYTES",
    "TensorStats",
    "compute",
    "read_size",
]

# The read size. Small enough that a chunk just read is still in the CPU's last-level
# cache when its statistics are computed, and that its buffer is reused rather than mapped
# afresh: on a 1-billion-parameter file, 4 MiB chunks took 0.6 s where 32 MiB took 1.4 s.
DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024
#: The most output channels (last-axis entries) whose norms are kept: 32 MiB of float64
#: sums, and as much again to summarize them. A tensor with more (a 1-D tensor of a billion
#: values, a kernel whose rows hold a hundred million) gets no per-channel norms, and
#: WGT004 cannot judge its units; a real model's widest layer has a few hundred thousand.
MAX_CHANNELS = 1 << 22
# A tensor measured as a whole (the Gram matrix of an orthogonal init) is read in one piece
# up to this size; larger ones stream in chunks and get no Gram measurement.
WHOLE_TENSOR_BYTES = 32 * 1024 * 1024


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
            (not to be written to), or None for scalars and for tensors of more than
            `MAX_CHANNELS` channels. Left out of `==`.
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
    if channels > MAX_CHANNELS:
        channels = 0  # no per-channel norms: see MAX_CHANNELS
    chunk_bytes = read_size(tensor, reference, chunk_bytes)
    acc = Sums(channels, absolute=absolute, zeros=inventory)
    sample = Sampler(count, sample_size)
    fit = InitFitter(reference, shape) if reference is not None else None
    diff = Differ(against, chunk_bytes) if against is not None else None
    flat = 0  # values read so far: a chunk's offset in the flattened tensor
    chunks = (
        ahead.chunks(tensor, chunk_bytes) if ahead is not None else tensor.iter_chunks(chunk_bytes)
    )
    # A file's values may be anything. Float32 sums that overflow, or meet inf - inf, are
    # redone in float64 with the non-finite values masked out (`Sums`); a Gram
    # matrix, a difference or a standardized value past the float64 range is infinite,
    # as it should be. None of it is worth a NumPy warning.
    with np.errstate(over="ignore", invalid="ignore"):
        for chunk in chunks:
            values = np.asarray(chunk)  # integers are summed as float64, a block at a time
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
        return TensorStats(
            **acc.fields(),
            **(acc.channel_summary() if inventory else {}),
            histogram=_histogram(values, acc.low, acc.high) if inventory else (),
            sampled=sample.sampled,
            init=fit.result(values) if fit is not None else None,
            comparison=diff.result() if diff is not None else None,
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
