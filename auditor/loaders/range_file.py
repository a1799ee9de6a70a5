"""One object at a URL as a file read by byte range: only the bytes a reader asks for
are fetched, through fsspec, and nothing is written to disk.

Small reads (a zip's central directory, a JSON member, libhdf5's metadata) go through a
cache of `BLOCK`-sized blocks, each fetched with one ranged request; a read of many blocks
is fetched whole, with one request, and not cached. A reader that knows what it will read
next hands the ranges to `prefetch`, which fetches them side by side (fsspec's
`cat_ranges`, concurrent on the cloud protocols) and keeps them for the reads that
follow: the HDF5 scan the metadata it chases ahead of libhdf5 (`h5_prefetch`), the audit
the tensors it will read, in its order (`plan_read`), a round of a few MiB at a time (a
larger tensor in pieces fetched side by side). A read is served from the kept ranges
when they hold it, one after another. A reader that will read more at an address than it
uses (libhdf5 at each structure of an HDF5 file) says so with `expect`: the bytes past
the ones used are served as zeros, never fetched. An object of at most `_WHOLE` bytes is
fetched whole by its first read or prefetch. Every request and the bytes it returned are
counted in a `Transfer`, for the report.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from auditor.errors import first_line
from auditor.limits import KiB, MiB
from auditor.loaders.seekable import SeekableReader
from auditor.loaders.spans import Spans
from auditor.text import display_path

__all__ = ["BLOCK", "RangeFile", "Transfer", "reason"]

#: The size of a cached block: libhdf5 reads metadata in pieces of a few KiB scattered
#: over the file, which whole MiB blocks would multiply into megabytes.
BLOCK = 16 * KiB
#: Blocks kept: 4 MiB.
_CACHED_BLOCKS = 256
#: A read of at least this many blocks is fetched as one range, outside the cache.
_DIRECT_BLOCKS = 4
#: Prefetched bytes kept (the oldest ranges go first): two rounds of planned reads and
#: the metadata fetched ahead of the scan.
_SPAN_BYTES = 24 * MiB
#: The planned tensor reads fetched side by side in one round, at most. A larger tensor
#: is fetched alone when it is read, in pieces of half this fetched side by side when it
#: fits in half the prefetched bytes kept (a larger one is read as its reader asks).
_PLAN_BYTES = 8 * MiB
#: Prefetched ranges closer than this are fetched as one: metadata is fetched in small
#: pieces when only it is wanted (bytes count), ...
_GAP = 256
#: ... and in larger ones when the tensors around it will be fetched too: a request
#: costs more than a few KiB of the bytes between (ResNet50, a full audit: 1,199 requests
#: became 377, for 2.5 % more bytes). Tensors planned for a round are fetched with the
#: headers between them.
_TENSORS_GAP = 16 * KiB
_PLAN_GAP = 64 * KiB
#: An object this small is fetched whole by its first read: one request, where its
#: pieces would take several.
_WHOLE = 256 * KiB
#: Reads `expect` notes, at most: libhdf5 reads a few at each HDF5 object.
_EXPECTED = 1 << 20


class Transfer:
    """What reading by ranges cost: requests made and bytes they returned, counted over
    every object of one model (a folder's members share one); and how those objects
    merge the ranges they fetch ahead (`gap`), which depends on whether the audit reads
    `tensors` or only metadata."""

    def __init__(self, tensors: bool = True) -> None:
        self.gap = _TENSORS_GAP if tensors else _GAP
        self.requests = 0
        self.bytes_fetched = 0
        self._lock = threading.Lock()

    def add(self, requests: int, fetched: int) -> None:
        with self._lock:
            self.requests += requests
            self.bytes_fetched += fetched


class RangeFile(SeekableReader):
    """One remote object as a seekable, read-only binary file (see the module docs), and
    a positional reader (`read_at`) that tensors read ahead on a thread may share."""

    def __init__(
        self, fs: Any, path: str, size: int, url: str, transfer: Transfer | None = None
    ) -> None:
        super().__init__(size)
        self._fs = fs
        self._path = path
        self._url = url
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._spans = Spans(_SPAN_BYTES)  # what prefetches fetched, guarded by _lock
        self._planned: list[tuple[int, int]] = []  # tensor reads to come, in order
        self._plan_at: dict[int, int] = {}  # a planned read's start -> its index
        self._plan_lock = threading.Lock()
        self._used: dict[int, tuple[int, int]] = {}  # start -> (bytes read, bytes used)
        self._lock = threading.Lock()
        self.transfer = transfer or Transfer()

    @property
    def requests(self) -> int:
        return self.transfer.requests

    @property
    def bytes_fetched(self) -> int:
        return self.transfer.bytes_fetched

    def readinto(self, buffer: Any) -> int:
        count = self._copy(memoryview(buffer).cast("B"), self._pos)
        self._pos += count
        return count

    def read_at(self, buffer: memoryview, offset: int) -> None:
        """Fill `buffer` with the bytes from `offset` (the position is left alone).

        Raises:
            OSError: when the object ends first, or a request fails.
        """
        if self._copy(buffer, offset) < len(buffer):
            raise OSError(f"unexpected end of {display_path(self._url)} at byte {offset:,}")

    def prefetch(self, ranges: Iterable[tuple[int, int]], gap: int | None = None) -> None:
        """Fetch these `[start, end)` byte ranges now, side by side, and keep them for the
        reads that follow. Ranges are clipped to the object and merged when less than
        `gap` apart (by default the transfer's); those already held are skipped. A hint
        only: a range that fails is fetched again when it is read (and its error raised
        then)."""
        if self._length <= _WHOLE:
            with contextlib.suppress(OSError):  # raised again by the read that needs it
                self._fetch_whole()
            return
        wanted = _merged(
            sorted((max(start, 0), min(end, self._length)) for start, end in ranges),
            self.transfer.gap if gap is None else gap,
        )
        with self._lock:  # what the kept spans hold of each range's head is not fetched
            wanted = [(self._spans.held_to(start, end), end) for start, end in wanted]
        wanted = [
            (start, end) for start, end in wanted if end > start and not self._held(start, end)
        ]
        found = self._cat(wanted)
        with self._lock:
            for (start, end), data in zip(wanted, found, strict=True):
                if data is not None and len(data) == end - start:
                    self._spans.keep(start, data)

    def _cat(self, ranges: list[tuple[int, int]]) -> list[bytes | None]:
        """The bytes of each range, fetched side by side; None for one that failed."""
        if not ranges:
            return []
        try:
            found = self._fs.cat_ranges(
                [self._path] * len(ranges),
                [start for start, _ in ranges],
                [end for _, end in ranges],
                on_error="return",
            )
        except Exception:  # every protocol raises its own errors; the reads will retry
            self.transfer.add(len(ranges), 0)
            return [None] * len(ranges)
        data = [piece if isinstance(piece, bytes) else None for piece in found]
        self.transfer.add(len(ranges), sum(len(piece) for piece in data if piece is not None))
        return data

    def plan_read(self, start: int, end: int) -> None:
        """Note that `[start, end)` will be read, after the reads planned before it. When
        the first byte of a planned read is asked for, it and the planned reads after it
        (up to `_PLAN_BYTES`) are fetched side by side: a round of requests for several
        tensors in place of a request after each."""
        if 0 <= start < end <= self._length and start not in self._plan_at:
            self._plan_at[start] = len(self._planned)
            self._planned.append((start, end))

    def _fetch_planned(self, index: int) -> None:
        """Fetch the planned read `index` and those after it that fit in one round."""
        with self._plan_lock:
            batch: list[tuple[int, int]] = []
            total = 0
            for start, end in self._planned[index:]:
                if end - start > _PLAN_BYTES:  # read alone, when its turn comes
                    if not batch:
                        self._fetch_in_pieces(start, end)
                        return
                    break
                if total + end - start > _PLAN_BYTES:
                    break
                batch.append((start, end))
                total += end - start
            self.prefetch(batch, _PLAN_GAP)

    def _fetch_in_pieces(self, start: int, end: int) -> None:
        """Fetch a large planned read as pieces side by side, kept as one span."""
        if end - start > _SPAN_BYTES // 2:
            return
        step = _PLAN_BYTES // 2
        pieces = [(at, min(at + step, end)) for at in range(start, end, step)]
        found = self._cat(pieces)
        if all(data is not None for data in found):
            joined = b"".join(found)  # type: ignore[arg-type]
            if len(joined) == end - start:
                with self._lock:
                    self._spans.keep(start, joined)

    def expect(self, start: int, length: int, used: int) -> None:
        """Note that a reader will read `length` bytes at `start` and use only the first
        `used` (libhdf5 at an HDF5 structure, `h5_prefetch`): when the kept spans hold
        those, such a read is served from them and zeros after them, with no request."""
        if 0 < used < length and len(self._used) < _EXPECTED:
            self._used[start] = (length, used)

    def peek(self, start: int, end: int) -> bytes | None:
        """The bytes `[start, end)` if prefetches or cached blocks hold them all (no
        request is made), else None."""
        end = min(end, self._length)
        if end <= start:
            return b""
        buffer = bytearray(end - start)
        with self._lock:
            if self._spans.gather(memoryview(buffer), start):
                return bytes(buffer)
            first, last = start // BLOCK, (end - 1) // BLOCK
            blocks = [self._blocks.get(index) for index in range(first, last + 1)]
        if any(block is None for block in blocks):
            return None
        joined = b"".join(blocks)  # type: ignore[arg-type]
        return joined[start - first * BLOCK : end - first * BLOCK]

    def _held(self, start: int, end: int) -> bool:
        """Whether the kept spans or the cached blocks hold `[start, end)` (nothing
        copied)."""
        end = min(end, self._length)
        with self._lock:
            if self._spans.held_to(start, end) >= end:
                return True
            blocks = range(start // BLOCK, (end - 1) // BLOCK + 1)
            return all(index in self._blocks for index in blocks)

    def _copy(self, view: memoryview, position: int) -> int:
        end = min(position + len(view), self._length)
        if end <= position:
            return 0
        count = end - position
        if self._length <= _WHOLE:
            self._fetch_whole()
        planned = self._plan_at.get(position)
        if planned is not None and not self._held(position, end):
            self._fetch_planned(planned)
        if self._spans:
            expected = self._used.get(position)
            with self._lock:
                if self._spans.gather(view[:count], position):
                    return count
                if expected is not None and expected[1] < count <= expected[0]:
                    used = expected[1]
                    if self._spans.gather(view[:used], position):
                        view[used:count] = bytes(count - used)
                        return count
        if count >= _DIRECT_BLOCKS * BLOCK:
            view[:count] = self._fetch(position, end)
            return count
        done = 0
        while done < count:
            index, offset = divmod(position + done, BLOCK)
            piece = self._block(index)[offset : offset + count - done]
            if not piece:
                break
            view[done : done + len(piece)] = piece
            done += len(piece)
        return done

    def _fetch_whole(self) -> None:
        """Fetch a small object whole, once."""
        if self._length and not self._spans:
            whole = self._fetch(0, self._length)
            with self._lock:
                self._spans.keep(0, whole)

    def _block(self, index: int) -> bytes:
        with self._lock:
            block = self._blocks.get(index)
            if block is not None:
                self._blocks.move_to_end(index)
                return block
        start = index * BLOCK
        block = self._fetch(start, min(start + BLOCK, self._length))
        with self._lock:
            self._blocks[index] = block
            if len(self._blocks) > _CACHED_BLOCKS:
                self._blocks.popitem(last=False)
        return block

    def _fetch(self, start: int, end: int) -> bytes:
        try:
            data = self._fs.cat_file(self._path, start=start, end=end)
        except Exception as exc:  # every protocol raises its own errors
            self.transfer.add(1, 0)
            raise OSError(reason(exc, self._url)) from None
        self.transfer.add(1, len(data))
        if len(data) != end - start:
            raise OSError(
                f"{display_path(self._url)} returned {len(data):,} bytes for bytes "
                f"{start:,}-{end:,}: the object changed or is truncated"
            )
        return data


def _merged(ranges: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    """Sorted ranges, those less than `gap` apart (or overlapping) merged."""
    merged: list[tuple[int, int]] = []
    for start, end in ranges:
        if merged and start - merged[-1][1] < gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def reason(exc: BaseException, url: str) -> str:
    """One line: the URL (redacted) and what went wrong, with the HTTP status if any."""
    shown = display_path(url)
    status = _status(exc)
    if isinstance(exc, PermissionError) or status in (401, 403):
        return f"access denied to {shown} ({status or 403})"
    if isinstance(exc, FileNotFoundError) and status in (None, 404):
        return f"no such object: {shown}"
    if isinstance(status, int):
        return f"cannot read {shown} (HTTP {status})"
    return f"cannot read {shown} ({type(exc).__name__}: {first_line(exc)})"


def _status(exc: BaseException) -> int | None:
    """The HTTP status behind an error, searched along its causes (fsspec's HTTP
    filesystem raises FileNotFoundError from the client's error; huggingface_hub's
    errors carry the response)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        response = getattr(seen, "response", None)  # requests' and httpx's HTTP errors
        status = (
            getattr(seen, "status", None)
            or getattr(seen, "code", None)
            or getattr(response, "status_code", None)
        )
        if isinstance(status, int):
            return status
        seen = seen.__cause__ or seen.__context__
    return None
