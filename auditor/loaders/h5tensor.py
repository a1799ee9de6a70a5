"""Tensors of a checked HDF5 file, read lazily in bounded slices.

A dataset that passed every check of `auditor.loaders.safe_hdf5` (`StoredDataset`) becomes an
`H5Tensor`. One stored as a contiguous, unfiltered run of bytes inside the file is read
straight from libhdf5's own descriptor with `preadv`, and those reads may run on a thread
(`auditor.tensors.readahead`); anything else goes through h5py.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator
from typing import Any

import h5py
import numpy as np

from auditor.limits import MiB
from auditor.loaders.safe_hdf5 import StoredDataset
from auditor.loaders.safe_zip import Window
from auditor.loaders.seekable import Positional
from auditor.tensors.readahead import Read, read_in_order

__all__ = [
    "WHOLE_CHUNK_BYTES",
    "H5Tensor",
    "array_in",
    "bfloat16_values",
    "file_window",
    "pread_into",
    "remote_window",
]


def file_window(f: h5py.File) -> Window | None:
    """The whole of an HDF5 file opened by path, as a `Window` on libhdf5's own descriptor
    (so the bytes read directly are those of the file h5py parsed), or None when the file
    is not read through the plain POSIX driver."""
    try:
        if f.driver != "sec2":
            return None
        fd = f.id.get_vfd_handle()
        return Window(fd, 0, os.fstat(fd).st_size)
    except (OSError, RuntimeError, ValueError, TypeError):
        return None


def remote_window(remote: Any) -> Window | None:
    """The window of an HDF5 file at a URL that h5py reads from `remote` (a `RangeFile`),
    whole: none of it is read directly, its tensors' reads are planned on it."""
    return Window(-1, 0, remote.size, remote) if remote is not None else None


def _direct_start(stored: StoredDataset, window: Window | None) -> tuple[int, int] | None:
    """(fd, absolute offset) of a dataset that may be read as raw bytes, else None."""
    nbytes = math.prod(stored.shape) * stored.dtype.itemsize
    offset = stored.offset
    if window is None or window.fd < 0 or nbytes == 0 or offset is None:
        return None
    if offset < 0 or offset + nbytes > window.size:
        return None  # not allocated, or not wholly inside the file: h5py decides
    return window.fd, window.start + offset


def _remote_range(stored: StoredDataset, window: Window | None) -> tuple[Any, int, int] | None:
    """(the remote file, start, end) of a contiguous dataset of an HDF5 file at a URL."""
    remote = window.remote if window is not None else None
    nbytes = math.prod(stored.shape) * stored.dtype.itemsize
    offset = stored.offset
    if remote is None or offset is None or nbytes == 0 or not hasattr(remote, "plan_read"):
        return None
    if offset < 0 or offset + nbytes > window.size:  # type: ignore[union-attr]
        return None
    return remote, offset, offset + nbytes


def pread_into(source: Positional, buffer: memoryview, offset: int) -> None:
    """Fill `buffer` with the bytes of `source` from `offset`.

    Raises:
        OSError: when the file ends first.
    """
    if not isinstance(source, int):
        source.read_at(buffer, offset)
        return
    fd, done = source, 0
    while done < len(buffer):
        got = os.preadv(fd, [buffer[done:]], offset + done)
        if got <= 0:
            raise OSError(f"unexpected end of file at byte {offset + done:,}")
        done += got


#: The most one slice of a compressed tensor may hold to keep its chunks whole. Past it
#: (chunks spanning more rows than this holds, such as chunks of a few columns of a huge
#: tensor), slices are `max_bytes` again: each chunk is then decompressed more than once,
#: but memory stays bounded.
WHOLE_CHUNK_BYTES = 256 * MiB


class H5Tensor:
    """A checked HDF5 dataset, read lazily in bounded slices along its first axis (at most
    about `max_bytes`, or one compressed chunk's rows when those are more, up to
    `WHOLE_CHUNK_BYTES`).

    With a `window`, a contiguous, unfiltered dataset lying wholly inside it is read
    straight from the file with `preadv` into a fresh array (bytes as stored, same dtype),
    which skips h5py's Python layers, and its reads may run on a thread
    (`planned_reads`, for `auditor.tensors.readahead`); anything else goes through h5py.
    """

    __slots__ = ("_direct", "_remote", "_stored")

    def __init__(self, stored: StoredDataset, window: Window | None = None) -> None:
        self._stored = stored
        self._direct = _direct_start(stored, window)
        self._remote = _remote_range(stored, window)

    def announce(self) -> None:
        """Tell a remote file that this tensor will be read (in the order of the calls),
        so that it fetches the next few side by side (`RangeFile.plan_read`)."""
        if self._remote is not None:
            remote, start, end = self._remote
            remote.plan_read(start, end)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._stored.shape

    @property
    def dtype(self) -> str:
        return "bfloat16" if self._stored.bfloat16 else str(self._stored.dtype)

    def iter_chunks(self, max_bytes: int) -> Iterator[np.ndarray]:
        step = self._step(max_bytes)
        if step is None:
            yield self._whole()
        elif self._direct is not None:  # the next slice read on a thread meanwhile
            yield from read_in_order(self._slices(step))
        else:
            # Through h5py: chunked or filtered data, where decompression is most of the
            # time. h5py does release the GIL while it reads, but reading ahead measured
            # no faster (ConvNeXtLarge rewritten with gzip: 4.6 s without, 4.7-5.0 s with).
            yield from self._through_h5py(step)

    def _through_h5py(self, step: int) -> Iterator[np.ndarray]:
        """Slices of `step` rows, read through h5py from the dataset opened once for them."""
        shape = self._stored.shape
        dataset = h5py.Dataset(self._stored.open())
        for start in range(0, shape[0], step):
            rows = np.empty((min(step, shape[0] - start), *shape[1:]), self._stored.dtype)
            rows[...] = dataset[start : start + rows.shape[0]]
            yield self._convert(rows)

    def planned_reads(self, max_bytes: int) -> list[Read] | None:
        """The reads `iter_chunks(max_bytes)` makes, in order, as calls that may run on
        another thread and read into a buffer they are given (`auditor.tensors.readahead`): for a
        tensor read straight from the file; None for one read through h5py."""
        if self._direct is None:
            return None
        step = self._step(max_bytes)
        return [self._whole] if step is None else self._slices(step)

    def _row_bytes(self) -> int:
        shape = self._stored.shape
        return math.prod(shape[1:]) * self._stored.dtype.itemsize if shape else 0

    def _step(self, max_bytes: int) -> int | None:
        """Rows per slice, or None when the tensor is read whole (a scalar, or at most
        `max_bytes`). A compressed dataset's slices hold whole chunks (up to
        `WHOLE_CHUNK_BYTES`): a chunk cut across two slices would be read and decompressed
        for each (a 64 MB tensor stored as one gzip chunk: 16 times)."""
        stored, row_bytes = self._stored, self._row_bytes()
        if stored.shape == () or stored.shape[0] * row_bytes <= max_bytes:
            return None
        step = max(1, max_bytes // max(1, row_bytes))
        if stored.chunk_rows is not None and stored.chunk_rows * row_bytes <= WHOLE_CHUNK_BYTES:
            step = max(stored.chunk_rows, step // stored.chunk_rows * stored.chunk_rows)
        return step

    def _slices(self, step: int) -> list[Read]:
        return [
            functools.partial(self._rows, start, step)
            for start in range(0, self._stored.shape[0], step)
        ]

    def _whole(self, buffer: np.ndarray | None = None) -> np.ndarray:
        values = self._array(self._stored.shape, buffer)
        if values.size:
            self._read(values, 0)
        return self._convert(values)

    def _rows(self, start: int, step: int, buffer: np.ndarray | None = None) -> np.ndarray:
        shape = self._stored.shape
        rows = self._array((min(step, shape[0] - start), *shape[1:]), buffer)
        self._read(rows, start)
        return self._convert(rows)

    def _array(self, shape: tuple[int, ...], buffer: np.ndarray | None) -> np.ndarray:
        return array_in(buffer, shape, self._stored.dtype)

    def _read(self, out: np.ndarray, first_row: int) -> None:
        """Fill `out` with the rows from `first_row` on: straight from the file, or (the
        whole tensor) through libhdf5."""
        if self._direct is not None:
            fd, offset = self._direct
            pread_into(fd, memoryview(out).cast("B"), offset + first_row * self._row_bytes())
        else:
            self._stored.open().read(h5py.h5s.ALL, h5py.h5s.ALL, out)

    def _convert(self, values: np.ndarray) -> np.ndarray:
        return bfloat16_values(values) if self._stored.bfloat16 else values


def array_in(buffer: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Where to read `shape` values of `dtype`: a view of the byte `buffer` when it holds
    them (a read-ahead buffer, `auditor.tensors.readahead`), else a fresh array."""
    nbytes = math.prod(shape) * dtype.itemsize
    if buffer is None or buffer.nbytes < nbytes:
        return np.empty(shape, dtype=dtype)
    return buffer[:nbytes].view(dtype).reshape(shape)


def bfloat16_values(stored: np.ndarray) -> np.ndarray:
    """bfloat16 values stored as 16-bit words, as float32 (the high half of each)."""
    return (stored.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
