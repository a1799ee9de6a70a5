"""A model folder opened for hostile input: what `model.save(path, zipped=False)` writes
(`config.json`, `metadata.json`, `model.weights.h5`, `assets/`), a keras_hub preset or a
SavedModel, read through the same interface as a `.keras` archive (`safe_zip.SafeZip`),
which a folder at a URL shares (`ModelFolder`, `remote_folder.RemoteFolder`).

Only regular files directly in the folder are members: a symbolic link is never followed
(it is reported, and the member counts as absent), nor is anything outside the folder.
"""

from __future__ import annotations

import io
import mmap
import os
import stat
from contextlib import ExitStack
from pathlib import Path
from typing import Protocol

from auditor.errors import ModelLoadError
from auditor.graph.model import IssueKind, LoadIssue
from auditor.limits import Limits
from auditor.loaders.safe_hdf5 import Window
from auditor.loaders.safe_zip import MemberView
from auditor.loaders.seekable import Positional

__all__ = [
    "ModelFolder",
    "SafeFolder",
    "check_member",
    "is_model_folder",
    "is_saved_model",
    "too_many_entries",
]


def check_member(name: str, size: int, cap: int) -> None:
    """A folder's member within a cap.

    Raises:
        ModelLoadError: naming the member, its size and the cap.
    """
    if size > cap:
        raise ModelLoadError(
            f"{name!r} is {size:,} bytes, over the {cap:,}-byte cap", IssueKind.OVER_LIMIT
        )


def too_many_entries(limits: Limits) -> ModelLoadError:
    """The error of a model folder that lists more entries than the archive-member cap."""
    return ModelLoadError(
        f"the model folder lists over {limits.max_members:,} entries, the archive-member cap",
        IssueKind.OVER_LIMIT,
    )


class ModelFolder(Protocol):
    """What the folder loaders read a model folder through: `SafeFolder` here, and
    `remote_folder.RemoteFolder` at a URL."""

    issues: list[LoadIssue]

    @property
    def location(self) -> str: ...

    @property
    def names(self) -> list[str]: ...

    def has(self, name: str) -> bool: ...

    def read(self, name: str, cap: int) -> bytes: ...

    def open_view(self, name: str) -> MemberView: ...

    def positional(self, name: str, stack: ExitStack) -> tuple[Positional, int]: ...

    def whole(self, name: str, stack: ExitStack) -> memoryview: ...

    def is_folder(self, name: str) -> bool: ...

    def folder(self, name: str) -> ModelFolder: ...

    def close(self) -> None: ...


def is_model_folder(path: str | os.PathLike[str]) -> bool:
    """True for a folder holding an unzipped `.keras` model or a keras_hub preset: a
    `config.json` file and a `model.weights.h5` (or sharded `model.weights.json`) entry (a
    link in its place is reported when the folder is read, never followed)."""
    folder = Path(path)
    try:
        config = stat.S_ISREG((folder / "config.json").lstat().st_mode)
    except OSError:
        return False
    return config and any(
        os.path.lexists(folder / name) for name in ("model.weights.h5", "model.weights.json")
    )


def is_saved_model(path: str | os.PathLike[str]) -> bool:
    """True for a SavedModel folder: one holding a `saved_model.pb` file (not a link)."""
    try:
        return stat.S_ISREG((Path(path) / "saved_model.pb").lstat().st_mode)
    except OSError:
        return False


class SafeFolder:
    """An unzipped `.keras` folder, with `SafeZip`'s members interface.

    Raises:
        ModelLoadError: when the folder cannot be listed, or lists more entries than the
            archive-member cap.
    """

    def __init__(self, path: Path, limits: Limits) -> None:
        self._path = path
        self._limits = limits
        self.issues: list[LoadIssue] = []
        self._members: dict[str, int] = {}
        self._folders: set[str] = set()
        try:
            with os.scandir(path) as entries:
                for count, entry in enumerate(entries, 1):
                    if count > limits.max_members:
                        raise too_many_entries(limits)
                    self._add(entry)
        except OSError as exc:
            raise ModelLoadError(f"cannot list the model folder ({exc.strerror})") from None

    def _add(self, entry: os.DirEntry[str]) -> None:
        if entry.is_dir(follow_symlinks=False):
            self._folders.add(entry.name)
        elif entry.is_symlink():
            self.issues.append(
                LoadIssue(
                    IssueKind.EXTERNAL_REFERENCE,
                    f"{entry.name!r} is a symbolic link (not followed)",
                    where=entry.name,
                )
            )
        elif entry.is_file(follow_symlinks=False):
            self._members[entry.name] = entry.stat(follow_symlinks=False).st_size

    @property
    def path(self) -> Path:
        return self._path

    @property
    def location(self) -> str:
        """The folder as a user names it."""
        return os.fspath(self._path)

    def is_folder(self, name: str) -> bool:
        """True when the folder holds a folder of that name (not a link)."""
        return name in self._folders

    def folder(self, name: str) -> SafeFolder:
        """A folder inside this one, listed as this one is.

        Raises:
            ModelLoadError: as the constructor.
        """
        return SafeFolder(self._path / name, self._limits)

    def has(self, name: str) -> bool:
        """True when the folder holds a regular file of that name."""
        return name in self._members

    @property
    def names(self) -> list[str]:
        return sorted(self._members)

    def read(self, name: str, cap: int) -> bytes:
        """A whole member, after the size check."""
        check_member(name, self._members[name], cap)
        try:
            with self._open(name) as file:
                data = file.read(cap + 1)
        except OSError as exc:
            raise ModelLoadError(f"cannot read {name!r} ({exc.strerror})") from None
        if len(data) > cap:  # it grew since it was listed
            raise ModelLoadError(f"{name!r} is over the {cap:,}-byte cap", IssueKind.OVER_LIMIT)
        return data

    def open_view(self, name: str) -> MemberView:
        """A member opened for h5py, with its whole extent as the direct-read window. The
        caller closes `view.file`."""
        check_member(name, self._members[name], self._limits.max_file_bytes)
        try:
            file = self._open(name)
        except OSError as exc:
            raise ModelLoadError(f"cannot open {name!r} ({exc.strerror})") from None
        size = os.fstat(file.fileno()).st_size
        return MemberView(file, Window(file.fileno(), 0, size))

    def positional(self, name: str, stack: ExitStack) -> tuple[Positional, int]:
        """A member opened for reads at offsets (its descriptor, closed with `stack`),
        and its size."""
        view = self.open_view(name)
        stack.callback(view.file.close)
        return view.file.fileno(), view.window.size

    def whole(self, name: str, stack: ExitStack) -> memoryview:
        """A member's bytes, mapped (a large `saved_model.pb` is not read into memory);
        released with `stack`.

        Raises:
            ModelLoadError: when it is empty or cannot be mapped.
        """
        view = self.open_view(name)
        stack.callback(view.file.close)
        if view.window.size == 0:
            raise ModelLoadError(f"{name} is empty")
        try:
            mapped = mmap.mmap(view.file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot map {name} ({exc})") from None
        stack.callback(mapped.close)
        data = memoryview(mapped)
        stack.callback(data.release)
        return data

    def _open(self, name: str) -> io.BufferedReader:
        # O_NOFOLLOW: a member swapped for a link after the listing is refused, not read.
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        return io.BufferedReader(io.FileIO(os.open(self._path / name, flags), "rb"))

    def close(self) -> None:
        """Nothing stays open: each member is opened by its reader."""
