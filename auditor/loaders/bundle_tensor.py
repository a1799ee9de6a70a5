"""A tensor of a TensorFlow tensor bundle (`tensor_bundle`), read from its data file (an
open descriptor, or a remote object read by range) in bounded slices, its CRC-32C checked
over the bytes as read."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np

from auditor.loaders import crc32c
from auditor.loaders.h5tensor import array_in, bfloat16_values, pread_into
from auditor.loaders.seekable import Positional
from auditor.loaders.tensor_bundle import BundleEntry
from auditor.tensors.readahead import Read, read_in_order

__all__ = ["BundleTensor"]


class BundleTensor:
    """One tensor of a bundle, read from its open shard in bounded slices along its first
    axis with `preadv` (the slices may be read ahead on a thread), its CRC-32C checked
    over the bytes as read: a tensor whose bytes do not give the stored checksum ends in
    an error at its last slice."""

    __slots__ = ("_entry", "_source")

    def __init__(self, entry: BundleEntry, source: Positional) -> None:
        self._entry = entry
        self._source = source

    @property
    def shape(self) -> tuple[int, ...]:
        return self._entry.shape

    @property
    def dtype(self) -> str:
        return "bfloat16" if self._entry.dtype == "bfloat16" else str(np.dtype(self._entry.dtype))

    def iter_chunks(self, max_bytes: int) -> Iterator[np.ndarray]:
        reads = self.planned_reads(max_bytes)
        if len(reads) == 1:  # read whole: no thread to read ahead on
            yield reads[0](None)
        else:
            yield from read_in_order(reads)

    def planned_reads(self, max_bytes: int) -> list[Read]:
        shape = self._entry.shape
        rows = shape[0] if shape else 1
        row_bytes = self._entry.size // rows if rows else 0
        step = rows if row_bytes == 0 else max(1, min(rows, max_bytes // row_bytes))
        check = _Checksum(self._entry)
        return [
            functools.partial(self._rows, start, min(step, rows - start), row_bytes, check)
            for start in range(0, max(rows, 1), step)
        ]

    def _rows(
        self, start: int, count: int, row_bytes: int, check: _Checksum, buffer: np.ndarray | None
    ) -> np.ndarray:
        raw_dtype = np.dtype("<u2" if self._entry.dtype == "bfloat16" else self._entry.dtype)
        shape = (count, *self._entry.shape[1:]) if self._entry.shape else ()
        nbytes = count * row_bytes if self._entry.shape else self._entry.size
        values = array_in(buffer, shape, raw_dtype)
        if nbytes:
            pread_into(
                self._source, memoryview(values).cast("B"), self._entry.offset + start * row_bytes
            )
        check.add(start * row_bytes, values)
        return bfloat16_values(values) if self._entry.dtype == "bfloat16" else values


class _Checksum:
    """The running CRC-32C of one read of a tensor, slice by slice in order."""

    __slots__ = ("_crc", "_entry", "_next")

    def __init__(self, entry: BundleEntry) -> None:
        self._entry = entry
        self._crc = 0
        self._next = 0

    def add(self, offset: int, values: np.ndarray) -> None:
        if self._entry.crc is None or offset != self._next:
            return  # no checksum stored, or a read out of order: nothing to verify
        self._crc = crc32c.extend(self._crc, values)
        self._next += values.nbytes
        if self._next == self._entry.size and crc32c.mask(self._crc) != self._entry.crc:
            raise ValueError(
                f"its bytes give CRC-32C {self._crc:#010x}; the bundle stores "
                f"{crc32c.unmask(self._entry.crc):#010x}: the data file is corrupt"
            )
