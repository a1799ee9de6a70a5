"""Contiguous, unfiltered datasets are read with `preadv` straight from the file (a legacy
`.h5`, or the STORED weights member of a `.keras` archive); everything else goes through
h5py. Both paths must give the same values, chunk by chunk, whatever the layout."""

from __future__ import annotations

import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from auditor.limits import Limits
from auditor.loaders.guard import H5Tensor, SafeZip, file_window, scan_h5

_RNG = np.random.default_rng(7)
_DATASETS: dict[str, tuple[np.ndarray, dict]] = {
    "dense/kernel": (_RNG.standard_normal((37, 11)).astype(np.float32), {}),
    "conv/kernel": (_RNG.standard_normal((3, 3, 4, 8)).astype(np.float64), {}),
    "half/kernel": (_RNG.standard_normal((9, 5)).astype(np.float16), {}),
    "int/table": (_RNG.integers(-128, 127, (17, 3)).astype(np.int8), {}),
    "scalar/step": (np.array(42, dtype=np.int64), {}),
    "empty/bias": (np.zeros((0,), dtype=np.float32), {}),
    "chunked/kernel": (
        _RNG.standard_normal((40, 6)).astype(np.float32),
        {"chunks": (7, 6), "compression": "gzip"},
    ),
    "bf16/kernel": (_RNG.integers(0, 2**16, (12, 4)).astype(np.uint16), {}),
}
_DIRECT = {"dense/kernel", "conv/kernel", "half/kernel", "int/table", "scalar/step", "bf16/kernel"}


def _write_h5(path: Path, userblock: int = 0) -> None:
    with h5py.File(path, "w", userblock_size=userblock) as f:
        for name, (values, options) in _DATASETS.items():
            f.create_dataset(name, data=values, **options)
        f["bf16/kernel"].attrs["dtype"] = "bfloat16"


def _expected(name: str) -> np.ndarray:
    values = _DATASETS[name][0]
    if name == "bf16/kernel":
        return (values.astype(np.uint32) << 16).view(np.float32)
    return values


def _check(f: h5py.File, window) -> None:
    scan = scan_h5(f, Limits())
    assert not scan.issues
    for name in _DATASETS:
        tensor = H5Tensor(scan.datasets[name], window)
        assert (tensor._direct is not None) is (name in _DIRECT), name
        for max_bytes in (1 << 20, 48):  # whole, then a few rows at a time
            parts = list(tensor.iter_chunks(max_bytes))
            got = np.concatenate([p.reshape(-1) for p in parts]) if parts else np.zeros(0)
            np.testing.assert_array_equal(got, _expected(name).reshape(-1), err_msg=name)
            assert all(p.dtype == _expected(name).dtype for p in parts), name


@pytest.mark.parametrize("userblock", [0, 512])
def test_legacy_h5_direct_reads_equal_h5py(tmp_path, userblock):
    path = tmp_path / "weights.h5"
    _write_h5(path, userblock)
    with h5py.File(path, "r") as f:
        window = file_window(f)
        assert window is not None and window.start == 0
        _check(f, window)


def test_keras_member_direct_reads_equal_h5py(tmp_path):
    inner = tmp_path / "model.weights.h5"
    _write_h5(inner)
    archive = tmp_path / "model.keras"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as z:
        z.writestr("config.json", "{}")
        z.write(inner, "model.weights.h5")
    with archive.open("rb") as raw:
        safe = SafeZip(raw, archive.stat().st_size, Limits())
        window = safe.window("model.weights.h5")
        assert window is not None and window.start > 0
        with safe.open_view("model.weights.h5") as view, h5py.File(view, "r") as f:
            _check(f, window)


def test_a_file_object_has_no_direct_window(tmp_path):
    """Without a descriptor of its own (h5py over a Python file object), nothing is read
    directly: the window must come from the archive."""
    path = tmp_path / "weights.h5"
    _write_h5(path)
    with path.open("rb") as raw, h5py.File(raw, "r") as f:
        assert file_window(f) is None


def test_a_large_tensor_is_read_ahead_on_a_thread_that_ends_with_the_caller(tmp_path, monkeypatch):
    """Chunks after the first are read on a worker thread while the caller works on the
    current one; a caller that stops early leaves no thread behind."""
    import threading

    from auditor.loaders import guard

    readers: list[str] = []
    real = guard._pread_into

    def recording(fd, buffer, offset):
        readers.append(threading.current_thread().name)
        real(fd, buffer, offset)

    monkeypatch.setattr(guard, "_pread_into", recording)
    path = tmp_path / "weights.h5"
    _write_h5(path)
    with h5py.File(path, "r") as f:
        tensor = H5Tensor(scan_h5(f, Limits()).datasets["dense/kernel"], file_window(f))
        rows = 48 // (11 * 4)  # one row per chunk: 37 chunks
        assert len(list(tensor.iter_chunks(48))) == 37 // rows
        assert readers and all(name.startswith("keras-audit-read") for name in readers)
        chunks = tensor.iter_chunks(48)
        next(chunks)
        chunks.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("keras-audit-read")]


def test_group_names_are_read_only_when_asked(tmp_path):
    """The Keras 3 weights file names its layers in a `name` attribute on each group; the
    legacy loader does not need it, so its scan leaves the attribute unread."""
    path = tmp_path / "weights.h5"
    _write_h5(path)
    with h5py.File(path, "a") as f:
        f["dense"].attrs["name"] = "dense_1"
        f["conv"].attrs["name"] = b"conv_1"
    with h5py.File(path, "r") as f:
        assert scan_h5(f, Limits()).group_attrs == {}
        named = scan_h5(f, Limits(), group_names=True)
    assert named.group_attrs == {"dense": {"name": "dense_1"}, "conv": {"name": "conv_1"}}
    assert named.groups == {"dense", "conv", "half", "int", "scalar", "empty", "chunked", "bf16"}


@pytest.mark.parametrize(
    ("chunks", "compression", "max_bytes", "rows"),
    [
        ((40, 6), "gzip", 48, [40, 40, 20]),  # a chunk larger than a slice: one per slice
        ((3, 6), "gzip", 240, [9] * 11 + [1]),  # 10 rows fit: the 9 rows of 3 whole chunks
        ((100, 2), "gzip", 48, [100]),  # column chunks span every row: all rows at once
        ((40, 6), None, 48, [2] * 50),  # chunked, not compressed: nothing to decompress
        (None, None, 48, [2] * 50),  # contiguous: slices of max_bytes
    ],
)
def test_slices_hold_whole_compressed_chunks(tmp_path, chunks, compression, max_bytes, rows):
    """A compressed chunk cut across two slices would be read and decompressed for each,
    so the slices of a compressed dataset are whole chunks along the first axis."""
    values = _RNG.standard_normal((100, 6)).astype(np.float32)  # 24 bytes a row
    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("w", data=values, chunks=chunks, compression=compression)
    with h5py.File(path, "r") as f:
        tensor = H5Tensor(scan_h5(f, Limits()).datasets["w"], file_window(f))
        parts = list(tensor.iter_chunks(max_bytes))
    assert [len(part) for part in parts] == rows
    np.testing.assert_array_equal(np.concatenate(parts), values)


def test_chunks_too_large_to_keep_whole_are_read_in_bounded_slices(tmp_path, monkeypatch):
    """Chunks spanning more rows than `WHOLE_CHUNK_BYTES` holds (a few columns of a huge
    tensor) are read in `max_bytes` slices again: slower, but memory stays bounded."""
    from auditor.loaders import guard

    values = _RNG.standard_normal((100, 6)).astype(np.float32)  # 24 bytes a row
    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("w", data=values, chunks=(100, 2), compression="gzip")
    monkeypatch.setattr(guard, "WHOLE_CHUNK_BYTES", 99 * 24)  # one row short of a chunk
    with h5py.File(path, "r") as f:
        parts = list(H5Tensor(scan_h5(f, Limits()).datasets["w"], file_window(f)).iter_chunks(48))
    assert [len(part) for part in parts] == [2] * 50
    np.testing.assert_array_equal(np.concatenate(parts), values)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_a_bfloat16_tag_on_wider_values_is_ignored(tmp_path, dtype):
    """Keras stores bfloat16 values in 2 bytes; the `dtype` tag on wider values cannot be
    bfloat16 (Keras could not load them as such), so they are read as stored."""
    values = np.arange(12, dtype=dtype).reshape(4, 3)
    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("w", data=values).attrs["dtype"] = "bfloat16"
    with h5py.File(path, "r") as f:
        tensor = H5Tensor(scan_h5(f, Limits()).datasets["w"], file_window(f))
        parts = list(tensor.iter_chunks(1 << 20))
    assert tensor.dtype == np.dtype(dtype).name
    np.testing.assert_array_equal(np.concatenate(parts), values)
