"""Byte ranges of one remote object fetched ahead of the reads that need them
(`range_file.RangeFile`): kept sorted by where they start, served one after another when
a read crosses from one into the next, and bounded in bytes (the oldest dropped first).
Not thread-safe: the file that owns them holds its lock around every call."""

from __future__ import annotations

import bisect
from collections import deque

__all__ = ["Spans"]

#: Spans looked at, back from the nearest, for one that holds a position: ranges fetched
#: in different rounds may overlap.
_OVERLAPS = 16


class Spans:
    """Fetched byte ranges, `max_bytes` of them at most."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._starts: list[int] = []  # sorted; parallel to _data
        self._data: list[bytes] = []
        self._order: deque[int] = deque()  # starts, oldest first
        self._bytes = 0

    def __bool__(self) -> bool:
        return bool(self._starts)

    def at(self, start: int, end: int) -> tuple[int, bytes] | None:
        """The kept span that holds `[start, end)` whole, if any."""
        index = bisect.bisect_right(self._starts, start) - 1
        for at in range(index, max(index - _OVERLAPS, -1), -1):
            span_start, data = self._starts[at], self._data[at]
            if span_start + len(data) >= end:
                return span_start, data
        return None

    def held_to(self, start: int, end: int) -> int:
        """Where, from `start`, the spans stop holding the bytes up to `end`."""
        while start < end:
            span = self.at(start, start + 1)
            if span is None:
                break
            start = min(end, span[0] + len(span[1]))
        return start

    def gather(self, view: memoryview, position: int) -> bool:
        """Fill `view` with the bytes from `position`, one span after another; False,
        with `view` partly filled, when the spans do not hold them all."""
        done = 0
        while done < len(view):
            at = position + done
            span = self.at(at, at + 1)
            if span is None:
                return False
            start, data = span
            piece = memoryview(data)[at - start : at - start + len(view) - done]
            view[done : done + len(piece)] = piece
            done += len(piece)
        return True

    def keep(self, start: int, data: bytes) -> None:
        """Keep a fetched span: the spans it holds whole are dropped, and the oldest
        past the bound."""
        end = start + len(data)
        if self.at(start, end) is not None:
            return
        index = bisect.bisect_left(self._starts, start)
        while index < len(self._starts) and self._starts[index] + len(self._data[index]) <= end:
            self._drop(index)
        self._starts.insert(index, start)
        self._data.insert(index, data)
        self._order.append(start)
        self._bytes += len(data)
        while self._bytes > self._max_bytes and self._order:
            oldest = self._order.popleft()
            at = bisect.bisect_left(self._starts, oldest)
            if at < len(self._starts) and self._starts[at] == oldest:
                self._drop(at)

    def _drop(self, index: int) -> None:
        self._bytes -= len(self._data[index])
        del self._starts[index], self._data[index]
