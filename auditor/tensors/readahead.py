"""The tensors of a model read one slice ahead of their statistics, on one thread.

`os.preadv` and NumPy's reductions release the GIL, so on two cores the statistics of one
slice run while the next slice is read. Read ahead within each tensor alone, both sides
wait at every tensor boundary: the first slice of a tensor is read while no statistics
run, and nothing is read while the statistics of its last slice run. `ReadAhead` is told
the order in which the tensors will be read (`plan`) and reads one slice ahead across
those boundaries: while the statistics of a tensor's last slice run, and those of the
small tensors after it, the first slice of the next planned tensor is read.

A tensor takes part when it can say which reads its `iter_chunks` makes, as calls that
may run on another thread (`planned_reads(max_bytes)`, a list of them in order, or None)
and holds at least `min_bytes`. Others, and a planned tensor read out of the planned order
or with another slice size, are read by the caller through `iter_chunks`: handing a small
tensor's read to a thread costs more than it overlaps.

At most three slices are alive at once: the caller's, the next one, and the one after it
being read. The thread is started at the first read ahead and ends with `close()`.

A caller that keeps nothing of a slice once it asks for the next one (no view of it, no
reference) says so with `reuse_bytes`: the slices are then read into two byte buffers,
used in turn, instead of a fresh array each. A fresh array of a few MiB is memory the C
allocator maps from the system and, once it is freed, often gives back, so that each
slice faults its pages in again: ConvNeXtLarge's tensors took about 62,000 page faults
(a quarter of a gigabyte) in a fresh process, 30-40 % of the time its statistics took.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from auditor.graph.model import TensorSource

__all__ = ["MIN_AHEAD_BYTES", "THREAD_PREFIX", "ReadAhead", "read_in_order", "tensor_bytes"]

#: Tensors smaller than this are read by the caller (the thread is for large reads).
MIN_AHEAD_BYTES = 1024 * 1024
THREAD_PREFIX = "keras-audit-read"

#: A planned read: called with a spare byte buffer (or None) that it may read into and
#: return a view of when the buffer is large enough; else it returns a fresh array.
Read = Callable[[np.ndarray | None], np.ndarray]

#: The most buffers one `ReadAhead` lends: the caller's slice and the one read after it.
MAX_BUFFERS = 2


def tensor_bytes(tensor: TensorSource) -> int:
    """The stored size of a tensor in bytes (`bfloat16`: 2 bytes a value; 8 for a dtype
    NumPy does not know, which only errs towards a larger read)."""
    name = tensor.dtype
    try:
        itemsize = 2 if name == "bfloat16" else np.dtype(name).itemsize
    except TypeError:
        itemsize = 8
    return math.prod(tensor.shape) * itemsize


class ReadAhead:
    """Reads the planned tensors' slices in order, one slice ahead of the caller. Used
    from one thread (the caller's); only the reads run on the reading thread.

    Args:
        min_bytes: int, the smallest tensor planned (smaller ones: `plan` returns False).
        reuse_bytes: int, 0: every slice is a fresh array. More: the caller keeps nothing
            of a slice once it asks for any later one (the next slice, or another
            tensor), and the slices of up to this many bytes are read into buffers of
            this size, reused; a larger slice is still a fresh array.

    Example:
        ```python
        with ReadAhead() as ahead:
            for tensor in tensors:
                ahead.plan(tensor, DEFAULT_CHUNK_BYTES)
            for tensor in tensors:
                for values in ahead.chunks(tensor, DEFAULT_CHUNK_BYTES):
                    ...
        ```
    """

    def __init__(self, *, min_bytes: int = MIN_AHEAD_BYTES, reuse_bytes: int = 0) -> None:
        self._min_bytes = min_bytes
        self._reuse_bytes = reuse_bytes
        self._spare: list[np.ndarray] = []  # buffers no read or slice of the caller holds
        self._lent: dict[int, np.ndarray] = {}  # read index -> the buffer it was given
        self._buffers = 0  # buffers allocated
        self._reads: list[Read] = []
        # id(tensor) -> (first read, end, slice size); the tensors are kept alive with it.
        self._spans: dict[int, tuple[int, int, int, TensorSource]] = {}
        self._pending: dict[int, Future[np.ndarray]] = {}
        self._submitted = 0  # reads handed to the thread: 0 .. _submitted - 1
        self._taken = 0  # reads handed to the caller (or passed over)
        self._pool: ThreadPoolExecutor | None = None

    def plan(self, tensor: TensorSource, max_bytes: int) -> bool:
        """Put a tensor next in the read order, to be read in slices of `max_bytes`.

        Returns:
            bool, whether this call planned it: False when it is too small or its reads
            cannot run on another thread (`chunks` then reads it directly), or when it
            was planned already (it keeps its first place and slice size).
        """
        announce = getattr(tensor, "announce", None)
        if announce is not None and id(tensor) not in self._spans:
            announce()  # a tensor at a URL: its bytes are fetched ahead, a few side by side
        if id(tensor) in self._spans or tensor_bytes(tensor) < self._min_bytes:
            return False
        planned = getattr(tensor, "planned_reads", None)
        reads: Sequence[Read] | None = planned(max_bytes) if planned is not None else None
        if not reads:
            return False
        first, end = self._add(reads)
        self._spans[id(tensor)] = (first, end, max_bytes, tensor)
        return True

    def _add(self, reads: Sequence[Read]) -> tuple[int, int]:
        first = len(self._reads)
        self._reads.extend(reads)
        return first, len(self._reads)

    def chunks(self, tensor: TensorSource, max_bytes: int) -> Iterator[np.ndarray]:
        """The tensor's values in slices, as `tensor.iter_chunks(max_bytes)` gives them:
        read ahead when the tensor was planned with this slice size and its turn has not
        passed, else read directly. With `reuse_bytes`, a slice read ahead is the
        caller's until it asks for a later one: then its memory is read into again."""
        span = self._spans.get(id(tensor))
        if span is None or span[2] != max_bytes or span[0] < self._taken:
            return tensor.iter_chunks(max_bytes)
        return self._take(span[0], span[1])

    def _take(self, first: int, end: int) -> Iterator[np.ndarray]:
        self._pass_over(first)
        for index in range(first, end):
            if self._taken != index:
                raise RuntimeError(
                    "ReadAhead reads one tensor at a time, in the planned order; another "
                    f"tensor was read before read {index} of this one"
                )
            self._reclaim(index)
            self._submit_through(index)
            future = self._pending.pop(index)
            self._taken = index + 1
            values = future.result()  # a failed read raises here, for this tensor only
            self._submit_through(index + 1)  # the next slice: this tensor's or the next one's
            yield values

    def _pass_over(self, first: int) -> None:
        """Drop the reads of tensors passed over (never asked for, or left part-read):
        not started, they are cancelled; started, their result is dropped."""
        for index in [i for i in self._pending if i < first]:
            self._pending.pop(index).cancel()
        self._submitted = max(self._submitted, first)
        self._taken = first

    def _submit_through(self, last: int) -> None:
        while self._submitted <= min(last, len(self._reads) - 1):
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor  # only large reads need it

                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=THREAD_PREFIX)
            index = self._submitted
            self._pending[index] = self._pool.submit(self._reads[index], self._lend(index))
            self._submitted += 1

    def _lend(self, index: int) -> np.ndarray | None:
        """A spare buffer for read `index` (None: no reuse, or all are lent)."""
        if not self._reuse_bytes:
            return None
        if self._spare:
            buffer = self._spare.pop()
        elif self._buffers < MAX_BUFFERS:
            buffer = np.empty(self._reuse_bytes, dtype=np.uint8)
            self._buffers += 1
        else:
            return None
        self._lent[index] = buffer
        return buffer

    def _reclaim(self, index: int) -> None:
        """The caller asks for read `index`: the buffers of every earlier read are spare.

        Those of the caller's slices by its promise. Those of reads passed over too, even
        one still running: the one thread runs reads in the order they were handed to it,
        so a read the buffer is lent to next starts only once that one has ended.
        """
        for earlier in [i for i in self._lent if i < index]:
            self._spare.append(self._lent.pop(earlier))

    def close(self) -> None:
        """Cancel the reads not started, wait for the one in flight, end the thread."""
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._spare.clear()
        self._lent.clear()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_in_order(reads: Sequence[Read]) -> Iterator[np.ndarray]:
    """The results of `reads`, in order, each read on the thread while the caller works
    on the one before: one tensor's own read-ahead, outside any model's plan."""
    with ReadAhead(min_bytes=0) as ahead:
        yield from ahead._take(*ahead._add(reads))
