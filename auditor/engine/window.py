"""Many tasks, a few in flight: the files of a run submitted to a pool or a cluster a
window at a time and taken back in input order, so that however many files a run has,
the submitting process holds a bounded number of tasks and results."""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["in_order"]

Item = TypeVar("Item")


def in_order(
    items: Iterable[Item], submit: Callable[[int, Item], Any], window: int
) -> Iterator[tuple[Item, Any]]:
    """(item, future) for each item, in input order, with at most `window` futures
    submitted and not yet handed on. `submit(index, item)` returns a future (anything
    with `cancel()`): `concurrent.futures` and Dask's alike. The futures not yet handed on
    are cancelled when the iterator is closed early."""
    pending: collections.deque[tuple[Item, Any]] = collections.deque()
    try:
        for index, item in enumerate(items):
            pending.append((item, submit(index, item)))
            if len(pending) >= window:
                yield pending.popleft()
        while pending:
            yield pending.popleft()
    finally:
        for _, future in pending:
            future.cancel()
