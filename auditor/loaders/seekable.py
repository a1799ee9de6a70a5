"""The position keeping of a read-only, seekable binary file of known length, shared by
the file objects the loaders hand to zipfile and h5py (`safe_zip.OffsetFile`, a window
onto an open file; `remote.RangeFile`, an object read by byte range). A subclass
implements `readinto` from `self._pos`. And what tensors are read from at offsets
(`Positional`): a descriptor, or a reader such as `remote.RangeFile`; and a file at a URL
that fetches ranges ahead of its reads (`RangeSource`)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Protocol

__all__ = ["Positional", "PositionalReader", "RangeSource", "SeekableReader", "range_source"]


class PositionalReader(Protocol):
    """A file read at given offsets, from any thread (`remote.RangeFile`)."""

    def read_at(self, buffer: memoryview, offset: int) -> None:
        """Fill `buffer` with the bytes from `offset`, or raise OSError."""
        ...


#: Where tensors are read from at offsets: an open file's descriptor (`preadv`), or a
#: positional reader.
Positional = int | PositionalReader


class RangeSource(Protocol):
    """A file at a URL (`remote.RangeFile`, or a window onto one): ranges fetched side by
    side ahead of the reads that need them, bytes already fetched, and reads told of
    ahead whose last bytes are not used (served without fetching them)."""

    def prefetch(self, ranges: Iterable[tuple[int, int]]) -> None: ...

    def peek(self, start: int, end: int) -> bytes | None: ...

    def expect(self, start: int, length: int, used: int) -> None:
        """A reader will read `length` bytes at `start` and use the first `used`."""
        ...


def range_source(file: object) -> RangeSource | None:
    """`file` when it is a file at a URL that can fetch ranges ahead, else None."""
    if all(hasattr(file, name) for name in ("prefetch", "peek", "expect")):
        return file  # type: ignore[return-value]
    return None


class SeekableReader(io.RawIOBase):
    """A read-only binary file of `length` bytes whose position `seek` and `tell` keep."""

    def __init__(self, length: int) -> None:
        super().__init__()
        self._length = length
        self._pos = 0

    @property
    def size(self) -> int:
        return self._length

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            new = pos
        elif whence == io.SEEK_CUR:
            new = self._pos + pos
        elif whence == io.SEEK_END:
            new = self._length + pos
        else:
            raise ValueError(f"whence must be 0, 1 or 2. Received: whence={whence}")
        if new < 0:
            raise ValueError(f"negative seek position. Received: {new}")
        self._pos = new
        return new
