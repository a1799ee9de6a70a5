"""Contiguous, unfiltered datasets are read with `preadv` straight from the file (a legacy
`.h5`, the STORED weights member of a `.keras` archive, or a deflated one once inflated
into a temporary file); everything else goes through h5py. Both paths must give the same values, chunk by chunk, whatever the layout."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from auditor.errors import ModelLoadError
from auditor.limits import Limits
from auditor.loaders.h5tensor import H5Tensor, file_window
from auditor.loaders.safe_hdf5 import group_text, scan_h5
from auditor.loaders.safe_zip import SafeZip

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


def test_planned_reads_fill_a_lent_buffer_when_the_slice_fits(tmp_path):
    """A read given a byte buffer that holds its slice reads into it and returns a view of
    it (bfloat16 values, widened, are a new array); one given a smaller buffer, or none,
    reads into a fresh array. The values are the same either way."""
    path = tmp_path / "weights.h5"
    _write_h5(path)
    with h5py.File(path, "r") as f:
        scan, window = scan_h5(f, Limits()), file_window(f)
        for name in sorted(_DIRECT):
            tensor = H5Tensor(scan.datasets[name], window)
            for max_bytes in (1 << 20, 48):
                reads = tensor.planned_reads(max_bytes)
                assert reads, name
                for size, shared in ((1 << 20, name != "bf16/kernel"), (1, False)):
                    buffer = np.zeros(size, dtype=np.uint8)
                    parts = [read(buffer) for read in reads[:1]] + [r(None) for r in reads[1:]]
                    got = np.concatenate([p.reshape(-1) for p in parts])
                    np.testing.assert_array_equal(got, _expected(name).reshape(-1), name)
                    assert np.shares_memory(parts[0], buffer) is shared, (name, size)


@pytest.mark.parametrize("userblock", [0, 512])
def test_legacy_h5_direct_reads_equal_h5py(tmp_path, userblock):
    path = tmp_path / "weights.h5"
    _write_h5(path, userblock)
    with h5py.File(path, "r") as f:
        window = file_window(f)
        assert window is not None and window.start == 0
        _check(f, window)


def _archive(tmp_path: Path, compression: int) -> Path:
    inner = tmp_path / "model.weights.h5"
    _write_h5(inner)
    archive = tmp_path / "model.keras"
    with zipfile.ZipFile(archive, "w", compression) as z:
        z.writestr("config.json", "{}")
        z.write(inner, "model.weights.h5")
    return archive


def test_keras_member_direct_reads_equal_h5py(tmp_path):
    archive = _archive(tmp_path, zipfile.ZIP_STORED)
    with archive.open("rb") as raw:
        safe = SafeZip(raw, archive.stat().st_size, Limits())
        view = safe.open_view("model.weights.h5")
        assert view.window.fd == raw.fileno() and view.window.start > 0
        with view.file, h5py.File(view.file, "r") as f:
            _check(f, view.window)


def test_a_deflated_member_is_inflated_into_a_temporary_file_and_read_directly(
    tmp_path, monkeypatch
):
    """Keras never compresses, but a re-zipped `.keras` is deflated: its weights member is
    inflated piece by piece into an anonymous file (not into memory), and its tensors are
    read directly from that file, with the same values as through h5py."""
    from auditor.loaders import safe_zip

    monkeypatch.setattr(safe_zip, "INFLATE_STEP", 1000)  # many pieces, and a last short one
    spill_dir = tmp_path / "tmp"
    spill_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill_dir))
    archive = _archive(tmp_path, zipfile.ZIP_DEFLATED)
    inflated = (tmp_path / "model.weights.h5").read_bytes()
    with archive.open("rb") as raw:
        safe = SafeZip(raw, archive.stat().st_size, Limits())
        view = safe.open_view("model.weights.h5")
        assert view.window.fd != raw.fileno()
        assert (view.window.start, view.window.size) == (0, len(inflated))
        assert os.pread(view.window.fd, len(inflated) + 1, 0) == inflated
        assert not list(spill_dir.iterdir())  # anonymous: nothing left behind if killed
        with view.file, h5py.File(view.file, "r") as f:
            _check(f, view.window)


def _corrupt(archive: Path, member: str, where: float) -> int:
    """Flip a byte of a member's compressed data, `where` of the way in; the new size."""
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo(member)
    start = info.header_offset + 30 + len(info.filename)
    data[start + int(info.compress_size * where)] ^= 0xFF
    archive.write_bytes(bytes(data))
    return len(data)


# At the start the deflate stream itself breaks (zlib.error, not an OSError); halfway
# through it inflates to other bytes, which the CRC check at the end catches.
@pytest.mark.parametrize("where", [0.0, 0.5], ids=["stream", "crc"])
def test_a_corrupt_deflated_member_is_a_load_error(tmp_path, where):
    archive = _archive(tmp_path, zipfile.ZIP_DEFLATED)
    size = _corrupt(archive, "model.weights.h5", where)
    with archive.open("rb") as raw:
        safe = SafeZip(raw, size, Limits())
        with pytest.raises(ModelLoadError, match=r"'model\.weights\.h5' could not be inflated"):
            safe.open_view("model.weights.h5")


def test_a_corrupt_deflated_json_member_is_a_load_error(tmp_path):
    archive = tmp_path / "model.keras"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", '{"class_name": "Functional", "config": {}}' * 50)
    size = _corrupt(archive, "config.json", 0.0)
    with archive.open("rb") as raw:
        safe = SafeZip(raw, size, Limits())
        with pytest.raises(ModelLoadError, match=r"'config\.json' is corrupt \(Error -3"):
            safe.read("config.json", 1 << 20)


def test_a_deflated_member_over_the_inflation_cap_is_refused_before_inflating(tmp_path):
    archive = _archive(tmp_path, zipfile.ZIP_DEFLATED)
    size = (tmp_path / "model.weights.h5").stat().st_size
    with archive.open("rb") as raw:
        safe = SafeZip(raw, archive.stat().st_size, Limits(max_inflated_bytes=size - 1))
        with pytest.raises(ModelLoadError, match=f"declares {size:,} bytes, over the"):
            safe.open_view("model.weights.h5")


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

    from auditor.loaders import h5tensor

    readers: list[str] = []
    real = h5tensor.pread_into

    def recording(fd, buffer, offset):
        readers.append(threading.current_thread().name)
        real(fd, buffer, offset)

    monkeypatch.setattr(h5tensor, "pread_into", recording)
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


def test_a_group_attribute_is_read_as_text(tmp_path):
    """Keras 3 writes each layer's name on its `vars` group, as str or bytes; anything
    else, or nothing, reads as None."""
    path = tmp_path / "weights.h5"
    _write_h5(path)
    with h5py.File(path, "a") as f:
        f["dense"].attrs["name"] = "dense_1"
        f["conv"].attrs["name"] = b"conv_1"
        f["half"].attrs["name"] = 3
    with h5py.File(path, "r") as f:
        assert group_text(f, "dense", "name") == "dense_1"
        assert group_text(f, "conv", "name") == "conv_1"
        assert group_text(f, "half", "name") is None
        assert group_text(f, "int", "name") is None
        assert group_text(f, "no/such/group", "name") is None


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
    from auditor.loaders import h5tensor

    values = _RNG.standard_normal((100, 6)).astype(np.float32)  # 24 bytes a row
    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("w", data=values, chunks=(100, 2), compression="gzip")
    monkeypatch.setattr(h5tensor, "WHOLE_CHUNK_BYTES", 99 * 24)  # one row short of a chunk
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


def test_a_file_behind_a_user_block_is_read_as_the_same_model(tmp_path):
    """libhdf5 finds the superblock after a user block, and so must the direct reads: the
    same tensors, the same statistics, the same findings."""
    from auditor.engine.config import AuditConfig
    from auditor.engine.runner import run
    from tests.hostile_corpus import EXAMPLES, with_user_block

    original = EXAMPLES / "reset_weights.h5"
    blocked = with_user_block(original, tmp_path / "blocked.h5", b"not the model" * 100)
    first, second = run([original, blocked], AuditConfig()).models
    stats = [
        [(w.path, w.stats) for layer in m.inventory for w in layer.weights] for m in (first, second)
    ]
    assert stats[0] == stats[1] and stats[0]
    assert [f.message for f in first.findings] == [f.message for f in second.findings]
