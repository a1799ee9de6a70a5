"""A model folder at a URL (an unzipped `.keras`, a keras_hub preset, a SavedModel, named
by its prefix: `s3://bucket/models/resnet/`), with `safe_folder.SafeFolder`'s interface:
the folder loaders read it as they read a local one.

The prefix is listed once, one level deep, through fsspec (a protocol that cannot list,
such as plain HTTP, cannot name a folder). Each member is read by range
(`remote.RangeFile`), every request counted in the folder's one `Transfer`: a member read
whole for its JSON, a weights file through h5py, a SavedModel's shards at the offsets of
the tensors asked for. Nothing is written to disk. An object store has no links, and a
member is a name directly below the prefix, so nothing leads out of the folder.
"""

from __future__ import annotations

from contextlib import ExitStack

from auditor.errors import ModelLoadError
from auditor.graph.model import LoadIssue
from auditor.limits import Limits
from auditor.loaders.range_file import RangeFile, Transfer, reason
from auditor.loaders.remote import filesystem
from auditor.loaders.safe_folder import check_member, too_many_entries
from auditor.loaders.safe_hdf5 import Window
from auditor.loaders.safe_zip import MemberView
from auditor.loaders.seekable import Positional
from auditor.text import display_path

__all__ = ["RemoteFolder"]


class RemoteFolder:
    """A folder at a URL, with `SafeFolder`'s members interface.

    Raises:
        ModelLoadError: when the prefix cannot be listed, lists nothing, or lists more
            entries than the archive-member cap.
    """

    def __init__(self, url: str, limits: Limits, transfer: Transfer | None = None) -> None:
        self._url = url.rstrip("/")
        self._limits = limits
        self.transfer = transfer or Transfer()
        self.issues: list[LoadIssue] = []
        self._fs, self._root = filesystem(self._url + "/")
        self._root = self._root.rstrip("/")
        self._members: dict[str, int] = {}
        self._folders: set[str] = set()
        try:
            self.transfer.add(1, 0)
            entries = self._fs.ls(self._root, detail=True)
        except FileNotFoundError:
            entries = []
        except Exception as exc:  # every protocol raises its own errors
            raise ModelLoadError(reason(exc, self._url + "/")) from None
        if not entries:
            raise ModelLoadError(f"no such prefix: {display_path(self._url)}/")
        if len(entries) > limits.max_members:
            raise too_many_entries(limits)
        for entry in entries:
            name = str(entry.get("name", "")).rstrip("/").rpartition("/")[2]
            if not name:
                continue
            if entry.get("type") == "directory":
                self._folders.add(name)
            elif isinstance(entry.get("size"), int):
                self._members[name] = entry["size"]

    @property
    def path(self) -> str:
        return self._url

    @property
    def location(self) -> str:
        return self._url

    def has(self, name: str) -> bool:
        return name in self._members

    @property
    def names(self) -> list[str]:
        return sorted(self._members)

    def is_folder(self, name: str) -> bool:
        return name in self._folders

    def folder(self, name: str) -> RemoteFolder:
        """A folder below this one, counted in the same transfer."""
        return RemoteFolder(f"{self._url}/{name}", self._limits, self.transfer)

    def open_file(self, name: str) -> RangeFile:
        """A member as a file read by range (counted in the folder's transfer)."""
        return RangeFile(
            self._fs,
            f"{self._root}/{name}",
            self._members[name],
            f"{self._url}/{name}",
            self.transfer,
        )

    def read(self, name: str, cap: int) -> bytes:
        """A whole member, after the size check."""
        size = self._members[name]
        check_member(name, size, cap)
        try:
            return self.open_file(name).read(size) or b""
        except OSError as exc:
            raise ModelLoadError(f"cannot read {name!r} ({exc})") from None

    def open_view(self, name: str) -> MemberView:
        """A member opened for h5py (its blocks cached by the `RangeFile`). Nothing is
        read directly from a descriptor (`Window.fd` is -1)."""
        size = self._members[name]
        check_member(name, size, self._limits.max_file_bytes)
        file = self.open_file(name)
        return MemberView(file, Window(-1, 0, size, file))

    def positional(self, name: str, stack: ExitStack) -> tuple[Positional, int]:
        """A member read at offsets, by range, and its size."""
        return self.open_file(name), self._members[name]

    def whole(self, name: str, stack: ExitStack) -> memoryview:
        """A member's bytes (under the file cap).

        Raises:
            ModelLoadError: when it is empty, over the cap or cannot be read.
        """
        data = self.read(name, self._limits.max_file_bytes)
        if not data:
            raise ModelLoadError(f"{name} is empty")
        return memoryview(data)

    def close(self) -> None:
        """Nothing stays open: each member is read by its reader."""
