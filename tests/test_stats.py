"""auditor.tensors.stats against a plain float64 numpy reference, across dtypes and chunking."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from auditor.tensors import sums
from auditor.tensors.initializers import Kind, Reference, normal_cdf
from auditor.tensors.sampling import SAMPLE_SIZE
from auditor.tensors.stats import DEFAULT_CHUNK_BYTES, WHOLE_TENSOR_BYTES, compute
from auditor.tensors.sums import HISTOGRAM_BINS


class ArrayTensor:
    """A TensorSource over an in-memory array, counting how often it is read."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.reads = 0

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape

    @property
    def dtype(self) -> str:
        return str(self.values.dtype)

    def iter_chunks(self, max_bytes: int) -> Iterator[np.ndarray]:
        self.reads += 1
        if self.values.ndim == 0:
            yield self.values
            return
        row = max(1, self.values[0].nbytes)
        step = max(1, max_bytes // row)
        for start in range(0, self.values.shape[0], step):
            yield self.values[start : start + step]


def reference(values: np.ndarray) -> dict:
    v = values.astype(np.float64)
    finite = v[np.isfinite(v)]
    clean = np.where(np.isfinite(v), v, 0.0)
    return {
        "count": v.size,
        "sum_squares": float((finite**2).sum()),
        "sum_abs": float(np.abs(finite).sum()),
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "min": float(finite.min()),
        "max": float(finite.max()),
        "zeros": int((v == 0).sum()),
        "nan": int(np.isnan(v).sum()),
        "inf": int(np.isinf(v).sum()),
        "channel_norms": np.sqrt((clean**2).reshape(-1, v.shape[-1]).sum(0)) if v.ndim else None,
    }


RNG = np.random.default_rng(3)
CASES = {
    "float32-conv": RNG.normal(size=(3, 3, 8, 16)).astype("f4"),
    "float16": RNG.normal(size=(64, 4)).astype("f2"),
    "int8-quantized": np.array([[-128, 127], [0, -5]], dtype="i1"),
    "bool": np.array([[True, False], [True, True]]),
    "with-nan-and-inf": np.array([[1.0, np.nan], [np.inf, -2.0], [0.0, -np.inf]], dtype="f4"),
    "vector": RNG.uniform(-1, 1, size=1000).astype("f4"),
    # squares under float32's smallest subnormal (1e-25), subnormal (1e-20), normal
    "float32-tiny": (RNG.normal(size=(40, 5)) * [1e-25, 1e-20, 0, 1e-19, 1]).astype("f4"),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize(
    "chunk_bytes, block_bytes",
    [(16, sums._BLOCK_BYTES), (1 << 20, sums._BLOCK_BYTES), (1 << 20, 8)],
    ids=["tiny-chunks", "one-chunk", "one-chunk-small-blocks"],
)
def test_statistics_match_numpy(name, chunk_bytes, block_bytes, monkeypatch):
    """Whatever the chunks the tensor is read in, and the blocks of rows a chunk is folded
    in (blocks of one row put the NaN and inf rows in blocks of their own)."""
    monkeypatch.setattr(sums, "_BLOCK_BYTES", block_bytes)
    values = CASES[name]
    tensor = ArrayTensor(values)
    stats = compute(tensor, chunk_bytes=chunk_bytes)
    expected = reference(values)
    assert tensor.reads == 1
    for key in ("count", "zeros", "nan", "inf"):
        assert getattr(stats, key) == expected[key], key
    for key in ("min", "max"):
        assert getattr(stats, key) == expected[key], key
    # float32 weights are summed in float32 (pairwise) within a chunk, float64 across chunks
    for key in ("sum_squares", "sum_abs", "mean"):
        assert getattr(stats, key) == pytest.approx(expected[key], rel=1e-6, abs=1e-7), key
    assert stats.std == pytest.approx(expected["std"], rel=1e-6, abs=1e-9)
    np.testing.assert_allclose(stats.channel_norms, expected["channel_norms"], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("block_bytes", [sums._BLOCK_BYTES, 8])
def test_past_the_channel_cap_the_sums_are_the_same_without_channel_norms(
    name, block_bytes, monkeypatch
):
    """A tensor with more than MAX_CHANNELS channels (a billion-value bias, a row of a
    hundred million) is summed as flat blocks, with no per-channel array of its width."""
    from auditor.tensors import stats as stats_module

    monkeypatch.setattr(stats_module, "MAX_CHANNELS", 1)
    monkeypatch.setattr(sums, "_BLOCK_BYTES", block_bytes)
    values = CASES[name]
    stats = compute(ArrayTensor(values), chunk_bytes=1 << 20)
    expected = reference(values)
    wide = values.ndim >= 1 and values.shape[-1] > 1
    assert (stats.channel_norms is None) == wide
    for key in ("count", "zeros", "nan", "inf", "min", "max"):
        assert getattr(stats, key) == expected[key], key
    for key in ("sum_squares", "sum_abs", "mean"):
        assert getattr(stats, key) == pytest.approx(expected[key], rel=1e-6, abs=1e-7), key


def test_long_thin_tensors_keep_their_precision():
    """Millions of rows in one chunk: per-channel sums are blocked, not one long float32 run."""
    values = np.random.default_rng(9).normal(1.0, 0.1, size=(3_000_000, 2)).astype("f4")
    stats = compute(ArrayTensor(values), chunk_bytes=64 << 20)
    expected = reference(values)
    np.testing.assert_allclose(stats.channel_norms, expected["channel_norms"], rtol=1e-6)
    assert stats.sum_squares == pytest.approx(expected["sum_squares"], rel=1e-6)


def test_scalar_tensor():
    stats = compute(ArrayTensor(np.array(5, dtype="i8")))
    assert (stats.count, stats.sum_squares, stats.channel_norms) == (1, 25.0, None)


def test_all_nan_tensor_has_no_finite_statistics():
    stats = compute(ArrayTensor(np.full((2, 2), np.nan, dtype="f4")))
    assert stats.nan == 4 and stats.sum_squares == 0.0
    assert np.isnan(stats.mean) and np.isnan(stats.min)


# --- initializer fit, histogram, sampling, reference comparison ---------------------


UNIFORM = Reference(Kind.UNIFORM, "U", "U(-1, 1)", low=-1.0, high=1.0, std=1 / np.sqrt(3))


def test_normal_cdf_matches_erf():
    import math

    z = np.linspace(-6, 6, 1001)
    exact = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in z])
    assert np.abs(normal_cdf(z) - exact).max() < 2e-7


@pytest.mark.parametrize("chunk", [64, 1 << 20])
def test_histogram_counts_every_value_of_a_small_tensor(chunk):
    values = np.random.default_rng(0).uniform(-1, 1, (40, 30)).astype("f4")
    stats = compute(ArrayTensor(values), chunk_bytes=chunk)
    assert len(stats.histogram) == HISTOGRAM_BINS and sum(stats.histogram) == values.size
    assert stats.sampled is False
    expected, _ = np.histogram(values, bins=HISTOGRAM_BINS, range=(values.min(), values.max()))
    assert list(stats.histogram) == expected.tolist()


def test_large_tensors_are_sampled_with_a_fixed_seed():
    values = np.random.default_rng(1).uniform(-1, 1, (300, 200)).astype("f4")
    first = compute(ArrayTensor(values), chunk_bytes=4096, reference=UNIFORM)
    again = compute(ArrayTensor(values), chunk_bytes=1 << 20, reference=UNIFORM)
    assert first.sampled and sum(first.histogram) == SAMPLE_SIZE == first.init.sample
    assert first.histogram == again.histogram and first.init.ks == again.init.ks


def test_fit_counts_excursions_and_mismatches():
    rng = np.random.default_rng(2)
    fresh = rng.uniform(-1, 1, (100, 50)).astype("f4")
    moved = fresh.copy()
    moved[3, 4], moved[50, 7] = 1.01, -1.2
    assert compute(ArrayTensor(fresh), reference=UNIFORM).init.outside == 0
    assert compute(ArrayTensor(moved), chunk_bytes=2048, reference=UNIFORM).init.outside == 2
    zeros = Reference(Kind.CONSTANT, "Zeros", "0")
    bias = np.zeros(64, "f4")
    bias[[5, 9]] = 1e-7
    assert compute(ArrayTensor(bias), chunk_bytes=64, reference=zeros).init.mismatches == 2


def test_ks_separates_the_law_from_a_shifted_one():
    rng = np.random.default_rng(3)
    same = compute(ArrayTensor(rng.uniform(-1, 1, 20000).astype("f4")), reference=UNIFORM)
    shrunk = compute(ArrayTensor(rng.uniform(-0.9, 0.9, 20000).astype("f4")), reference=UNIFORM)
    assert same.init.ks_p > 0.01
    assert shrunk.init.ks_p < 1e-6


def test_comparison_with_a_reference_tensor_read_in_step():
    rng = np.random.default_rng(4)
    base = rng.normal(size=(64, 33)).astype("f4")
    other = base.copy()
    other[10, 3] += 0.25
    other[60, 0] = np.nan
    reference = ArrayTensor(other)
    stats = compute(ArrayTensor(base), chunk_bytes=1000, against=reference)
    assert stats.comparison.differing == 2
    assert stats.comparison.max_abs_diff == np.inf  # a NaN against a number
    assert reference.reads == 1
    same = compute(ArrayTensor(base), chunk_bytes=1000, against=ArrayTensor(base.copy()))
    assert same.comparison.differing == 0 and same.comparison.max_abs_diff == 0.0


def test_leaving_out_the_inventory_fields_changes_no_other_statistic():
    values = np.random.default_rng(4).uniform(-1, 1, (300, 64)).astype("f4")
    values[3, :5] = 0
    full = compute(ArrayTensor(values), chunk_bytes=8192, reference=UNIFORM)
    lean = compute(ArrayTensor(values), chunk_bytes=8192, reference=UNIFORM, inventory=False)
    assert full.histogram and full.channel_histogram and full.channel_summary is not None
    assert full.zeros == 5
    assert lean.histogram == () and lean.channel_histogram == ()
    assert lean.channel_summary is None and lean.zeros is None
    inventory_only = {"histogram": (), "channel_histogram": (), "channel_summary": None}
    assert dataclasses.replace(full, zeros=None, **inventory_only) == lean


def test_the_ks_statistic_of_a_float32_sample_is_computed_in_float64():
    """The sample is kept (and sorted) as float32; the law's CDF must still be evaluated
    in float64, as for a float64 copy of the same values."""
    values = np.random.default_rng(5).uniform(-1, 1, 30000).astype("f4")
    narrow = compute(ArrayTensor(values), reference=UNIFORM).init
    wide = compute(ArrayTensor(values.astype("f8")), reference=UNIFORM).init
    assert narrow.sample == wide.sample == SAMPLE_SIZE
    assert narrow.ks == wide.ks and narrow.ks_p == wide.ks_p


@pytest.mark.parametrize("z", [-7.5, -2.0, -1e-9, 0.0, 1e-9, 0.3, 2.0, 7.5])
def test_the_scalar_normal_cdf_is_the_vectorized_one(z):
    from auditor.tensors.initializers import _phi

    assert _phi(z) == pytest.approx(float(normal_cdf(np.array(z))), abs=1e-15)


@pytest.mark.parametrize("count", [SAMPLE_SIZE + 1, 3 * SAMPLE_SIZE + 5, 128 * SAMPLE_SIZE, 2**33])
def test_the_sample_takes_one_position_in_each_stratum(count):
    from auditor.tensors.sampling import _sample_index

    index = _sample_index(count, SAMPLE_SIZE)
    strata = np.arange(SAMPLE_SIZE + 1, dtype=np.int64) * count // SAMPLE_SIZE
    assert index.size == SAMPLE_SIZE and not index.flags.writeable
    assert np.all(index >= strata[:-1]) and np.all(index < strata[1:])
    assert np.array_equal(index, _sample_index.__wrapped__(count, SAMPLE_SIZE))


def _splitmix64(seed: int, n: int) -> list[float]:
    """The reference generator, one value at a time in plain integers."""
    mask, state, out = (1 << 64) - 1, seed, []
    for _ in range(n):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        out.append(((z ^ (z >> 31)) >> 11) * 2.0**-53)
    return out


def test_the_sample_jitter_is_the_splitmix64_sequence():
    from auditor.tensors.sampling import _uniform

    values = _uniform(SAMPLE_SIZE, 20_191_115)
    assert values.tolist()[:300] == _splitmix64(20_191_115, 300)
    assert values.min() >= 0.0 and values.max() < 1.0
    assert abs(values.mean() - 0.5) < 0.01  # 8,192 uniform values: sd of the mean 0.003


def test_sampling_does_not_import_numpy_random():
    """`numpy.random` costs 10-15 ms of start-up; the sample needs none of it."""
    code = """
import sys
import numpy as np
from auditor.tensors.stats import compute

class Tensor:  # this test module itself uses numpy.random, so not its ArrayTensor
    shape, dtype = (300, 64), "float32"

    def iter_chunks(self, max_bytes):
        yield np.ones(self.shape, dtype=self.dtype)

assert compute(Tensor()).sampled
sys.exit("numpy.random" in sys.modules)
"""
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_sample_does_not_alias_with_the_channels():
    """A stride of exactly the channel count would sample one channel only."""
    from auditor.tensors.sampling import _sample_index

    channels = 128
    index = _sample_index(SAMPLE_SIZE * channels, SAMPLE_SIZE)
    assert len(np.unique(index % channels)) == channels


def test_an_orthogonal_tensor_up_to_the_whole_read_limit_gets_its_gram_measurement():
    """The read size is small (cache-friendly); a tensor whose init is judged on its Gram
    matrix is still read in one piece, up to WHOLE_TENSOR_BYTES."""
    orthogonal = Reference(Kind.ORTHOGONAL, "Orthogonal", "orthogonal, gain 1")
    size = 1536
    matrix = np.eye(size, dtype="f4")[np.random.default_rng(6).permutation(size)]
    assert DEFAULT_CHUNK_BYTES < matrix.nbytes <= WHOLE_TENSOR_BYTES
    tensor = ArrayTensor(matrix)
    fit = compute(tensor, reference=orthogonal).init
    assert tensor.reads == 1 and fit.gram_error == 0.0
    matrix[0, 0] += 0.5
    assert compute(ArrayTensor(matrix), reference=orthogonal).init.gram_error == 0.5
    tall = np.zeros((WHOLE_TENSOR_BYTES // (4 * 8) + 1, 8), dtype="f4")
    assert compute(ArrayTensor(tall), reference=orthogonal).init.gram_error is None


_HOSTILE_REFERENCES = [
    None,
    UNIFORM,
    Reference(Kind.CONSTANT, "Zeros", "0"),
    Reference(Kind.NORMAL, "RandomNormal", "N(0, 0.05)", std=0.05, sigma=0.05),
    Reference(
        Kind.TRUNCATED_NORMAL, "TruncatedNormal", "TN", low=-0.1, high=0.1, std=0.044, sigma=0.05
    ),
    Reference(Kind.ORTHOGONAL, "Orthogonal", "orthogonal, gain 1"),
]


@pytest.mark.parametrize("dtype", ["f2", "f4", "f8"])
@pytest.mark.parametrize("fill", ["both infinities", "nan and inf", "largest finite", "all nan"])
@pytest.mark.parametrize("reference", _HOSTILE_REFERENCES, ids=lambda r: r and r.name)
def test_hostile_values_give_statistics_and_no_numpy_warning(dtype, fill, reference):
    """A file's values are the attacker's: infinities of both signs, NaN, or finite values
    whose float32 sums overflow. They are counted, never printed about: a NumPy
    RuntimeWarning on stderr is not an output the CLI has."""
    values = np.random.default_rng(3).standard_normal((40, 12)).astype(dtype)
    big = np.finfo(dtype).max
    if fill == "both infinities":
        values[0, :3], values[5, 7] = np.inf, -np.inf
    elif fill == "nan and inf":
        values[1, 1], values[2, 2] = np.nan, np.inf
    elif fill == "largest finite":
        values[::2] = big
        values[1::2] = -big
        values[3, :] = big
    else:
        values[...] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for chunk in (64, 1 << 20):
            stats = compute(ArrayTensor(values), chunk_bytes=chunk, reference=reference)
            against = compute(
                ArrayTensor(values), chunk_bytes=chunk, against=ArrayTensor(np.zeros_like(values))
            )
    finite = np.isfinite(values.astype(np.float64))
    assert stats.count == values.size and against.count == values.size
    assert stats.nan == int(np.isnan(values).sum())
    assert stats.inf == int(np.isinf(values).sum())
    if finite.any():
        assert stats.max == float(values[finite].max())
