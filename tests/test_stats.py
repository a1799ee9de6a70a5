"""auditor.stats against a plain float64 numpy reference, across dtypes and chunking."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from auditor.stats import compute


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
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("chunk_bytes", [16, 1 << 20], ids=["tiny-chunks", "one-chunk"])
def test_statistics_match_numpy(name, chunk_bytes):
    values = CASES[name]
    tensor = ArrayTensor(values)
    stats = compute(tensor, chunk_bytes=chunk_bytes)
    expected = reference(values)
    assert tensor.reads == 1
    for key in ("count", "zeros", "nan", "inf"):
        assert getattr(stats, key) == expected[key], key
    for key in ("sum_squares", "sum_abs", "mean", "min", "max"):
        assert getattr(stats, key) == pytest.approx(expected[key], rel=1e-9, abs=1e-12), key
    assert stats.std == pytest.approx(expected["std"], rel=1e-6, abs=1e-9)
    np.testing.assert_allclose(stats.channel_norms, expected["channel_norms"], rtol=1e-9)


def test_scalar_tensor():
    stats = compute(ArrayTensor(np.array(5, dtype="i8")))
    assert (stats.count, stats.sum_squares, stats.channel_norms) == (1, 25.0, None)


def test_all_nan_tensor_has_no_finite_statistics():
    stats = compute(ArrayTensor(np.full((2, 2), np.nan, dtype="f4")))
    assert stats.nan == 4 and stats.sum_squares == 0.0
    assert np.isnan(stats.mean) and np.isnan(stats.min)
