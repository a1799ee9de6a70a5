"""auditor.tensors.readahead: a model's tensors read one slice ahead of their statistics, across
tensor boundaries, on one thread; small tensors and reads out of the plan by the caller."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from auditor.tensors.readahead import MIN_AHEAD_BYTES, THREAD_PREFIX, ReadAhead, tensor_bytes

SLICE = 64  # bytes per slice in these tests: 4 rows of 4 float32 values


class Planned:
    """A TensorSource whose reads may run on a thread, logging each one as
    (name, slice index, thread name, slices the caller had received when it started), and
    the buffer each planned read was given in `buffers` (None: a fresh array). Like
    `H5Tensor`, a read fills the buffer and returns a view of it when the slice fits."""

    def __init__(
        self,
        name: str,
        rows: int,
        log: list[tuple[str, int, str, int]],
        received: list[int],
        *,
        fail_at: int | None = None,
        on_read: Callable[[int], None] | None = None,
    ) -> None:
        self.name = name
        self.values = np.arange(rows * 4, dtype=np.float32).reshape(rows, 4) + 1000 * len(name)
        self.log, self.received = log, received
        self.fail_at, self.on_read = fail_at, on_read
        self.buffers: list[np.ndarray | None] = []
        self.after_read: Callable[[int], None] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape

    @property
    def dtype(self) -> str:
        return "float32"

    def _step(self, max_bytes: int) -> int:
        return max(1, max_bytes // self.values[0].nbytes)

    def _read(self, index: int, step: int, buffer: np.ndarray | None = None) -> np.ndarray:
        self.log.append((self.name, index, threading.current_thread().name, self.received[0]))
        if self.on_read is not None:
            self.on_read(index)
        if index == self.fail_at:
            raise OSError(f"read {index} of {self.name} failed")
        rows = self.values[index * step : (index + 1) * step]
        if buffer is None or buffer.nbytes < rows.nbytes:
            return rows.copy()
        out = buffer[: rows.nbytes].view(rows.dtype).reshape(rows.shape)
        out[...] = rows
        return out

    def planned_reads(self, max_bytes: int) -> list[Callable[[np.ndarray | None], np.ndarray]]:
        step = self._step(max_bytes)
        count = -(-len(self.values) // step)
        return [functools.partial(self._logged, index, step) for index in range(count)]

    def _logged(self, index: int, step: int, buffer: np.ndarray | None) -> np.ndarray:
        self.buffers.append(buffer)
        values = self._read(index, step, buffer)
        if self.after_read is not None:
            self.after_read(index)
        return values

    def iter_chunks(self, max_bytes: int) -> Iterator[np.ndarray]:
        step = self._step(max_bytes)
        for index in range(-(-len(self.values) // step)):
            yield self._read(index, step)


class Unplanned(Planned):
    """A TensorSource that cannot hand its reads to a thread."""

    planned_reads = None  # type: ignore[assignment]


@pytest.fixture
def log() -> list[tuple[str, int, str, int]]:
    return []


@pytest.fixture
def received() -> list[int]:
    return [0]


@contextmanager
def _planned(*tensors: Planned) -> Iterator[ReadAhead]:
    """A ReadAhead of any size with `tensors` planned in this order, in SLICE slices."""
    with ReadAhead(min_bytes=0) as ahead:
        for tensor in tensors:
            ahead.plan(tensor, SLICE)
        yield ahead


def _whole(ahead: ReadAhead, tensor: Planned) -> np.ndarray:
    return np.concatenate(list(ahead.chunks(tensor, SLICE)))


def _read_all(ahead: ReadAhead, tensors: list[Any], received: list[int]) -> dict[str, Any]:
    out = {}
    for tensor in tensors:
        parts = []
        for values in ahead.chunks(tensor, SLICE):
            received[0] += 1
            parts.append(values)
        out[tensor.name] = np.concatenate(parts)
    return out


def test_every_tensor_reads_as_iter_chunks_gives_it_and_only_large_ones_on_the_thread(
    log, received
):
    """The planned tensors are read on the thread, in order, each read once; a tensor
    under `min_bytes`, or one that cannot plan its reads, is read by the caller."""
    big = Planned("big", 10, log, received)  # 160 bytes: 3 slices
    small = Planned("s", 2, log, received)  # 32 bytes: under min_bytes
    opaque = Unplanned("opaque", 8, log, received)
    last = Planned("last", 4, log, received)  # 64 bytes: one slice
    tensors = [big, small, opaque, last]
    with ReadAhead(min_bytes=64) as ahead:
        assert [ahead.plan(t, SLICE) for t in tensors] == [True, False, False, True]
        got = _read_all(ahead, tensors, received)
    for tensor in tensors:
        np.testing.assert_array_equal(got[tensor.name], tensor.values)
    caller = threading.current_thread().name
    assert [(name, index) for name, index, _, _ in log] == [
        ("big", 0), ("big", 1), ("big", 2), ("s", 0), ("opaque", 0), ("opaque", 1), ("last", 0)
    ]  # fmt: skip
    threads = {name: {thread for n, _, thread, _ in log if n == name} for name, *_ in log}
    assert all(t.startswith(THREAD_PREFIX) for t in threads["big"] | threads["last"])
    assert threads["s"] == threads["opaque"] == {caller}


def test_the_next_tensor_is_read_while_the_caller_works_on_the_last_slice(log, received):
    """Reading ahead across the boundary: once the caller has the last slice of one
    tensor, the first slice of the next planned one is read, before it is asked for."""
    started = threading.Event()
    first = Planned("first", 8, log, received)
    second = Planned("second", 8, log, received, on_read=lambda i: i == 0 and started.set())
    with _planned(first, second) as ahead:
        assert len(list(ahead.chunks(first, SLICE))) == 2
        assert started.wait(10), "the next tensor's first slice was not read ahead"
        assert not [entry for entry in log if entry[0] == "second" and entry[1] > 0]
        assert len(list(ahead.chunks(second, SLICE))) == 2


def test_a_read_never_runs_more_than_one_slice_ahead_of_the_caller(log, received):
    """Slice i is read only once the caller has slice i - 2: at most three slices are
    alive (the caller's, the next, the one being read), whatever the tensor bounds."""
    tensors = [Planned(name, 9, log, received) for name in ("a", "bb", "ccc")]
    with _planned(*tensors) as ahead:
        _read_all(ahead, tensors, received)
    assert len(log) == 9
    assert all(seen >= overall - 1 for overall, (*_, seen) in enumerate(log))


def test_a_failed_read_fails_its_tensor_only(log, received):
    """The error of a read reaches the caller with that tensor's slice; the next tensor is
    read in full, and the failed one's remaining slices are not read."""
    broken = Planned("broken", 12, log, received, fail_at=1)
    after = Planned("after", 8, log, received)
    with _planned(broken, after) as ahead:
        chunks = ahead.chunks(broken, SLICE)
        next(chunks)
        with pytest.raises(OSError, match="read 1 of broken failed"):
            next(chunks)
        np.testing.assert_array_equal(_whole(ahead, after), after.values)
    assert ("broken", 2) not in [(name, index) for name, index, _, _ in log]


def test_a_tensor_left_part_read_is_passed_over(log, received):
    """A caller that stops within a tensor (its statistics failed) goes on with the next
    one: at most the one slice already handed to the thread is read in vain."""
    left = Planned("left", 20, log, received)  # 5 slices
    after = Planned("after", 8, log, received)
    with _planned(left, after) as ahead:
        chunks = ahead.chunks(left, SLICE)
        next(chunks)
        chunks.close()
        np.testing.assert_array_equal(_whole(ahead, after), after.values)
    # Slice 1 was handed to the thread with slice 0: cancelled, or read in vain.
    assert [index for name, index, _, _ in log if name == "left"] in ([0], [0, 1])


def test_reads_out_of_the_plan_are_the_callers(log, received):
    """Another slice size, a tensor read a second time, or one read after its turn has
    passed: the caller reads it through `iter_chunks`, with the same values."""
    one = Planned("one", 8, log, received)
    two = Planned("two", 8, log, received)
    caller = threading.current_thread().name
    with _planned(one, two) as ahead:
        assert not ahead.plan(one, SLICE)  # planned already
        other_size = list(ahead.chunks(one, 2 * SLICE))
        assert [len(part) for part in other_size] == [8]
        assert log[-1] == ("one", 0, caller, 0)
        list(ahead.chunks(two, SLICE))
        again = _whole(ahead, two)
        late = _whole(ahead, one)
    np.testing.assert_array_equal(again, two.values)
    np.testing.assert_array_equal(late, one.values)
    assert [thread == caller for name, _, thread, _ in log if name == "one"] == [True] * 3


def test_reading_two_planned_tensors_at_once_is_refused(log, received):
    """Slices are read ahead in one order; interleaving two tensors would hand one the
    other's slices, so it is an error that names the rule."""
    one = Planned("one", 12, log, received)
    two = Planned("two", 8, log, received)
    with _planned(one, two) as ahead:
        first = ahead.chunks(one, SLICE)
        next(first)
        list(ahead.chunks(two, SLICE))
        with pytest.raises(RuntimeError, match="one tensor at a time, in the planned order"):
            next(first)


def test_close_waits_for_the_read_in_flight_and_ends_the_thread(log, received):
    """Closing mid-tensor: the read in flight finishes, no later one starts, and the
    thread is gone."""
    started, gate = threading.Event(), threading.Event()

    def on_read(index: int) -> None:
        if index == 1:
            started.set()
            gate.wait(10)

    slow = Planned("slow", 16, log, received, on_read=on_read)  # 4 slices
    ahead = ReadAhead(min_bytes=0)
    ahead.plan(slow, SLICE)
    next(ahead.chunks(slow, SLICE))
    assert started.wait(10)
    threading.Timer(0.2, gate.set).start()
    ahead.close()
    assert gate.is_set()  # close() returned only once the read in flight could end
    assert [index for _, index, _, _ in log] == [0, 1]
    assert not [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def test_slices_are_read_into_two_buffers_reused_and_none_is_overwritten_while_held(log, received):
    """With `reuse_bytes`, every planned slice is read into a buffer lent for it: two in
    all, used in turn across tensors. The slice the caller holds is never the one being
    read into: it is intact once the read after it is done."""
    tensors = [Planned(name, rows, log, received) for name, rows in (("a", 18), ("bb", 7))]
    done: list[int] = []  # reads finished, on the thread
    for tensor in tensors:
        tensor.after_read = done.append
    with ReadAhead(min_bytes=0, reuse_bytes=SLICE) as ahead:
        for tensor in tensors:
            ahead.plan(tensor, SLICE)
        for tensor in tensors:
            for index, values in enumerate(ahead.chunks(tensor, SLICE)):
                expected = tensor.values[4 * index : 4 * index + 4].copy()
                if received[0] < 6:  # 7 reads: wait for the one after this slice
                    _wait_until(lambda: len(done) >= received[0] + 2)
                np.testing.assert_array_equal(values, expected, err_msg=f"{tensor.name} {index}")
                received[0] += 1
    lent = [b for t in tensors for b in t.buffers]
    assert len(lent) == 5 + 2 and all(b is not None for b in lent)
    assert len({id(b) for b in lent}) == 2


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_without_reuse_or_for_a_larger_slice_a_slice_is_a_fresh_array(log, received):
    """Without `reuse_bytes` no buffer is lent: a caller may keep every slice. With it, a
    read larger than a buffer still gets one, and makes a fresh array."""
    tensor = Planned("keep", 12, log, received)
    with _planned(tensor) as ahead:
        kept = list(ahead.chunks(tensor, SLICE))
    np.testing.assert_array_equal(np.concatenate(kept), tensor.values)
    assert tensor.buffers == [None] * 3
    big = Planned("big", 12, log, received)
    with ReadAhead(min_bytes=0, reuse_bytes=SLICE // 2) as ahead:
        ahead.plan(big, SLICE)
        kept = list(ahead.chunks(big, SLICE))
    np.testing.assert_array_equal(np.concatenate(kept), big.values)
    assert all(b is not None and b.nbytes == SLICE // 2 for b in big.buffers)
    assert not any(np.shares_memory(part, b) for part in kept for b in big.buffers)


def test_nothing_planned_starts_no_thread(log, received):
    before = threading.active_count()
    with ReadAhead() as ahead:
        tensor = Planned("tiny", 4, log, received)
        assert not ahead.plan(tensor, SLICE)  # 64 bytes, under MIN_AHEAD_BYTES
        list(ahead.chunks(tensor, SLICE))
        assert threading.active_count() == before


@pytest.mark.parametrize(
    ("dtype", "shape", "expected"),
    [("float32", (3, 5), 60), ("bfloat16", (4,), 8), ("float64", (), 8), ("mystery", (2,), 16)],
)
def test_tensor_bytes(dtype, shape, expected):
    class Meta:
        pass

    tensor = Meta()
    tensor.dtype, tensor.shape = dtype, shape
    assert tensor_bytes(tensor) == expected


def test_an_audit_reads_large_tensors_ahead_with_the_same_statistics(
    keras, save_model, monkeypatch
):
    """`read_stats` plans every tensor of the model: the reads of tensors of at least
    `MIN_AHEAD_BYTES` (one slice or more) run on the read thread, into two reused
    buffers, smaller ones in the caller, and the statistics are those of reading each
    tensor on its own."""
    from auditor.engine.judge import read_stats
    from auditor.loaders import h5tensor, open_model
    from auditor.tensors import readahead

    L = keras.layers
    model = keras.Sequential(
        [
            keras.Input((1100,)),
            L.Dense(1100, name="wide"),  # 4.8 MB kernel: two 4 MiB slices
            L.Dense(400, name="mid"),  # 1.8 MB kernel: one slice
            L.Dense(3, name="head"),  # small
        ],
        name="readahead",
    )
    paths = save_model(model, "readahead")
    readers: list[tuple[int, str]] = []
    real = h5tensor.pread_into
    lent: list[np.ndarray] = []  # every buffer ReadAhead lent
    into_lent: list[bool] = []  # for each read on the thread, whether it filled one
    real_lend = readahead.ReadAhead._lend

    def recording(fd, buffer, offset):
        readers.append((len(buffer), threading.current_thread().name))
        if threading.current_thread().name.startswith(THREAD_PREFIX):
            data = np.frombuffer(buffer, dtype=np.uint8)
            into_lent.append(any(np.shares_memory(data, b) for b in lent))
        real(fd, buffer, offset)

    def lend(self, index):
        buffer = real_lend(self, index)
        lent.extend([buffer] if buffer is not None else [])
        return buffer

    monkeypatch.setattr(h5tensor, "pread_into", recording)
    monkeypatch.setattr(readahead.ReadAhead, "_lend", lend)
    for fmt, path in paths.items():
        with open_model(path, digest=False) as loaded:
            readers.clear()
            ahead_stats, failures = read_stats(loaded.graph, None)
            assert not failures
            on_thread = sorted(size for size, t in readers if t.startswith(THREAD_PREFIX))
            by_caller = sorted(size for size, t in readers if not t.startswith(THREAD_PREFIX))
            # wide/kernel in 953 rows of 4,400 bytes, then 147; mid/kernel whole.
            assert on_thread == [147 * 4400, 1100 * 400 * 4, 953 * 4400], fmt
            # wide/bias, mid/bias, head/kernel and head/bias, each whole.
            assert by_caller == sorted([1100 * 4, 400 * 4, 400 * 3 * 4, 3 * 4]), fmt
            assert max(by_caller) < MIN_AHEAD_BYTES
            assert into_lent == [True] * 3 and len({id(b) for b in lent}) == 2, fmt
            monkeypatch.setattr(readahead.ReadAhead, "plan", lambda *a: False)
            alone, _ = read_stats(loaded.graph, None)
            monkeypatch.undo()
            monkeypatch.setattr(h5tensor, "pread_into", recording)
            monkeypatch.setattr(readahead.ReadAhead, "_lend", lend)
            lent.clear()
            into_lent.clear()
        assert alone.keys() == ahead_stats.keys()
        for key, stats in ahead_stats.items():
            assert stats == alone[key], key
            np.testing.assert_array_equal(stats.channel_norms, alone[key].channel_norms)
