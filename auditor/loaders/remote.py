"""Model files at a URL (`s3://`, `gs://`, `az://`, `hf://`, `http(s)://`, `memory://`...),
read through fsspec by byte range: only the bytes a reader asks for are fetched.

`RangeFile` is a seekable, read-only file over one object. Small reads (a zip's central
directory, a JSON member, libhdf5's metadata) go through a cache of `BLOCK`-sized blocks,
each fetched with one ranged request; a read of many blocks (a tensor) is fetched whole,
with one request, and not cached. It counts the requests it makes and the bytes they
return, for the report. Nothing is written to disk.

Credentials come from each protocol's own chain (environment, profile files, instance
roles); the URL a user gives is shown with its user, password and query values redacted
(`auditor.text.display_path`). The protocol packages are the `remote` extra; a missing
one is a one-line error that names it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from auditor.errors import ModelLoadError, first_line
from auditor.graph.model import IssueKind
from auditor.limits import KiB
from auditor.loaders.seekable import SeekableReader
from auditor.text import display_path, is_url

__all__ = ["BLOCK", "RangeFile", "Transfer", "filesystem", "list_url", "open_url", "reason"]

#: The size of a cached block: libhdf5 reads metadata in pieces of a few KiB scattered
#: over the file, which whole MiB blocks would multiply into megabytes.
BLOCK = 16 * KiB
#: Blocks kept: 4 MiB.
_CACHED_BLOCKS = 256
#: A read of at least this many blocks is fetched as one range, outside the cache.
_DIRECT_BLOCKS = 4


class Transfer:
    """What reading by ranges cost: requests made and bytes they returned, counted over
    every object of one model (a folder's members share one)."""

    def __init__(self) -> None:
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

    def _copy(self, view: memoryview, position: int) -> int:
        end = min(position + len(view), self._length)
        if end <= position:
            return 0
        count = end - position
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


def open_url(url: str, transfer: Transfer | None = None) -> RangeFile:
    """Open the object a URL names for ranged reads (counted in `transfer`, when given,
    with the other objects of its model).

    Raises:
        ModelLoadError: when the protocol's package is missing, or the object cannot be
            found or read (one line naming the URL, redacted, and the reason).
    """
    if not is_url(url):
        raise ModelLoadError(f"{display_path(url)!r} is not a URL")
    fs, path = filesystem(url)
    try:
        info = fs.info(path)
    except Exception as exc:  # every protocol raises its own errors
        raise ModelLoadError(reason(exc, url)) from None
    if info.get("type") == "directory":
        raise ModelLoadError(
            f"{display_path(url)} is a prefix (a folder), not an object: end it with / to "
            "audit the model files below it"
        )
    size = info.get("size")
    if not isinstance(size, int):
        raise ModelLoadError(f"{display_path(url)} does not report its size")
    return RangeFile(fs, path, size, url, transfer)


def list_url(url: str, suffixes: tuple[str, ...], max_entries: int) -> list[str]:
    """The model files a URL names: itself, unread, unless it ends in `/` (a prefix: the
    objects with a model suffix below it, sorted) or is a pattern (`s3://bucket/**/*.keras`;
    `*` and `[...]` only, as a `?` starts a query). A prefix that holds a SavedModel or a
    model folder yields that folder as one model.

    Raises:
        ModelLoadError: when the listing fails or lists more than `max_entries`.
    """
    pattern = "?" not in url and any(mark in url.split("://", 1)[1] for mark in "*[")
    if not pattern and not url.endswith("/"):
        return [url]  # an object: opened (or reported) when it is audited
    fs, path = filesystem(url)
    protocol = url.split("://", 1)[0]
    try:
        if pattern:
            found = fs.glob(path, maxdepth=None)
        else:
            found = fs.find(path, maxdepth=None, withdirs=False)
    except Exception as exc:  # every protocol raises its own errors
        raise ModelLoadError(reason(exc, url)) from None
    if len(found) > max_entries:
        raise ModelLoadError(
            f"{display_path(url)} lists {len(found):,} objects, over the {max_entries:,} cap "
            "(limits.max-discovered-entries)",
            IssueKind.OVER_LIMIT,
        )
    models: dict[str, None] = {}
    for name in sorted(str(p) for p in found):
        folder, _, base = name.rpartition("/")
        if base in ("saved_model.pb", "config.json"):
            models[f"{protocol}://{folder}/"] = None
        elif base.lower().endswith(suffixes) and not _in_model_folder(name, models, protocol):
            models[f"{protocol}://{name}"] = None
    return list(models)


def _in_model_folder(name: str, models: dict[str, None], protocol: str) -> bool:
    return any(
        folder.endswith("/") and f"{protocol}://{name}".startswith(folder) for folder in models
    )


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of a URL and the path within it.

    Raises:
        ModelLoadError: naming the `remote` extra, when the protocol's package is missing.
    """
    try:
        import fsspec
    except ImportError:
        raise ModelLoadError(
            "reading URLs needs fsspec: pip install 'keras-audit[remote]'"
        ) from None
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise ModelLoadError(
            f"cannot open {display_path(url)}: {first_line(exc)} "
            "(pip install 'keras-audit[remote]' installs s3fs, gcsfs, adlfs and aiohttp)"
        ) from None


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
