"""Zip archives opened as hostile input: every member checked before a byte is inflated.

Member names (no `..`, absolute or backslash paths), duplicates, encryption, unexpected
members, the compression method, and each declared size and compression ratio against
the caps. Nothing is extracted to disk: the JSON members are read into memory, and the
weights member is handed to h5py as a window onto the archive (a compressed one inflated
once into an anonymous temporary file), never through `zipfile.open()`.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterable
from contextlib import ExitStack
from typing import Any, BinaryIO, NamedTuple

from auditor.errors import ModelLoadError, first_line
from auditor.graph.model import IssueKind, LoadIssue
from auditor.limits import KiB, Limits, MiB
from auditor.loaders.safe_hdf5 import Window
from auditor.loaders.seekable import SeekableReader, range_source

__all__ = ["MemberView", "OffsetFile", "SafeZip", "Window"]


class OffsetFile(SeekableReader):
    """A read-only, seekable window `[offset, offset + length)` onto an open binary file.

    Hands a STORED zip member to h5py without copying it and without `zipfile.open()`
    (whose backward seeks re-read the stream).
    """

    def __init__(self, raw: BinaryIO, offset: int, length: int) -> None:
        super().__init__(length)
        self._raw = raw
        self._offset = offset

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        remaining = self._length - self._pos
        if remaining <= 0:
            return 0
        size = min(len(view), remaining)
        self._raw.seek(self._offset + self._pos)
        got = self._raw.readinto(view[:size])
        got = got or 0
        self._pos += got
        return got

    def peek(self, start: int, end: int) -> bytes | None:
        """Bytes of the window that the file underneath already holds (a remote
        object's `RangeFile.peek`), else None."""
        peek = getattr(self._raw, "peek", None)
        if peek is None or start >= self._length:
            return None
        return peek(self._offset + start, self._offset + min(end, self._length))

    def plan_read(self, start: int, end: int) -> None:
        """Hand a planned read of the window on to a remote file underneath
        (`RangeFile.plan_read`), at its own offsets."""
        plan_read = getattr(self._raw, "plan_read", None)
        if plan_read is not None and end <= self._length:
            plan_read(self._offset + start, self._offset + end)

    def expect(self, start: int, length: int, used: int) -> None:
        """Hand a read that uses only its first bytes on to a remote file underneath
        (`RangeFile.expect`), at its own offsets."""
        expect = getattr(self._raw, "expect", None)
        if expect is not None and start + length <= self._length:
            expect(self._offset + start, length, used)

    def prefetch(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Hand ranges of the window (a remote object's `RangeFile.prefetch`) on to the
        file underneath, at its own offsets; nothing for a local file."""
        prefetch = getattr(self._raw, "prefetch", None)
        if prefetch is not None:
            end = self._length
            prefetch(
                (self._offset + start, self._offset + min(stop, end))
                for start, stop in ranges
                if start < end
            )


_EXPECTED_MEMBERS = ("config.json", "metadata.json", "model.weights.h5", "model.weights.npz")


class MemberView(NamedTuple):
    """An archive member opened for h5py: a seekable file object over its bytes, and
    where those bytes lie in an open file, for reading contiguous datasets directly."""

    file: BinaryIO
    window: Window


#: The piece a compressed member is inflated in (the memory that inflating it takes).
INFLATE_STEP = 1 * MiB
#: The compression methods Python's zipfile reads, and so Keras: it never writes any but
#: the first, and a tool that re-zips an archive may use any of them.
_METHODS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)

# What reading a member can raise: a broken deflate stream raises `zlib.error`, which is
# not an OSError; a bad CRC, `BadZipFile`; a stream that ends early, `EOFError`.
_MEMBER_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    OSError,
    EOFError,
    ValueError,
)


class SafeZip:
    """A `.keras` archive opened for hostile input.

    Construction validates the central directory; `issues` collects non-fatal problems
    (unexpected members); fatal ones raise `ModelLoadError`.
    """

    def __init__(self, raw: BinaryIO, file_size: int, limits: Limits) -> None:
        self._raw = raw
        self._size = file_size
        self._limits = limits
        self.issues: list[LoadIssue] = []
        try:
            self._zip = zipfile.ZipFile(raw)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise ModelLoadError(f"not a zip archive ({first_line(exc)})") from None
        infos = self._zip.infolist()
        if len(infos) > limits.max_members:
            raise ModelLoadError(
                f"archive has {len(infos):,} members, over the {limits.max_members:,} cap",
                IssueKind.OVER_LIMIT,
            )
        self._members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            self._check_name(info)
            self._members[info.filename] = info
        source = range_source(raw)
        if source is not None:
            source.prefetch(_first_reads(infos, limits))

    def _check_name(self, info: zipfile.ZipInfo) -> None:
        name = info.filename
        bad = (
            name.startswith(("/", "\\"))
            or "\\" in name
            or "\x00" in name
            or ".." in name.split("/")
            or (len(name) > 1 and name[1] == ":")
        )
        if bad:
            raise ModelLoadError(
                f"archive member name {name!r} escapes the archive (absolute, '..' or '\\')",
                IssueKind.UNSAFE_ARCHIVE,
            )
        if name in self._members:
            raise ModelLoadError(
                f"archive has duplicate members named {name!r}", IssueKind.UNSAFE_ARCHIVE
            )
        if info.flag_bits & 0x1:
            raise ModelLoadError(f"archive member {name!r} is encrypted", IssueKind.UNSAFE_ARCHIVE)
        expected = name in _EXPECTED_MEMBERS or name.startswith("assets/")
        if not expected:
            self.issues.append(
                LoadIssue(
                    IssueKind.UNSAFE_ARCHIVE,
                    f"unexpected archive member {name!r} (not written by Keras)",
                    where=name,
                )
            )

    def has(self, name: str) -> bool:
        """True when the archive has a member of that name."""
        return name in self._members

    @property
    def names(self) -> list[str]:
        """Member names in archive order."""
        return list(self._members)

    def _checked(self, name: str, cap: int) -> zipfile.ZipInfo:
        info = self._members[name]
        if info.compress_type not in _METHODS:
            raise ModelLoadError(
                f"archive member {name!r} uses compression method {info.compress_type}; "
                "expected stored, deflated, bzip2 or lzma (what zipfile, and so Keras, reads)",
                IssueKind.UNSAFE_ARCHIVE,
            )
        if info.file_size > cap:
            raise ModelLoadError(
                f"archive member {name!r} declares {info.file_size:,} bytes, "
                f"over the {cap:,}-byte cap",
                IssueKind.OVER_LIMIT,
            )
        if info.compress_type != zipfile.ZIP_STORED:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > self._limits.max_compression_ratio:
                raise ModelLoadError(
                    f"archive member {name!r} inflates {ratio:,.0f}x, over the "
                    f"{self._limits.max_compression_ratio:,.0f}x cap (zip bomb?)",
                    IssueKind.OVER_LIMIT,
                )
        return info

    def read(self, name: str, cap: int) -> bytes:
        """Read a whole member into memory, after the size and ratio checks."""
        self._checked(name, cap)
        try:
            return self._zip.read(name)
        except _MEMBER_ERRORS as exc:
            raise ModelLoadError(
                f"archive member {name!r} is corrupt ({first_line(exc)})"
            ) from None

    def open_view(self, name: str) -> MemberView:
        """A member opened for h5py. A STORED member (all Keras writes) is a zero-copy
        window onto the archive. A compressed one (deflated, bzip2 or lzma: a re-zipped
        archive, which Keras reads too) is first inflated, in `INFLATE_STEP` pieces, into
        an anonymous temporary file (under `max_inflated_bytes`), so that memory stays
        bounded whatever its size and its tensors are read directly from that file. The
        caller closes `view.file`."""
        info = self._checked(name, self._limits.max_file_bytes)
        if info.compress_type != zipfile.ZIP_STORED:
            return self._inflate(name)
        start = self._stored_start(name, info)
        window = OffsetFile(self._raw, start, info.compress_size)
        fd = _fileno(self._raw)
        if fd < 0:  # a remote object: its blocks are cached already, aligned to the object
            return MemberView(window, Window(fd, start, info.compress_size, window))
        # A small buffer: libhdf5 reads metadata in small pieces scattered over the member,
        # and each seek refills the buffer (1 MiB cost EfficientNetB7 888 MB of copying);
        # reads larger than the buffer go straight through.
        file = io.BufferedReader(window, 16 * KiB)
        return MemberView(file, Window(fd, start, info.compress_size))

    def _inflate(self, name: str) -> MemberView:
        import shutil  # only compressed members, which Keras never writes, need these
        import tempfile

        info = self._checked(name, self._limits.max_inflated_bytes)
        with ExitStack() as on_error:
            # Anonymous: the file is gone once closed, or if this process is killed.
            spill = on_error.enter_context(tempfile.TemporaryFile())
            try:
                # zipfile stops at the declared size (checked above), then checks the CRC.
                with self._zip.open(info) as member:
                    shutil.copyfileobj(member, spill, INFLATE_STEP)
            except _MEMBER_ERRORS as exc:  # the OSErrors include a full temporary disk
                raise ModelLoadError(
                    f"archive member {name!r} could not be inflated ({first_line(exc)})"
                ) from None
            size = spill.tell()
            spill.seek(0)
            on_error.pop_all()  # open from here on: the caller closes it
        return MemberView(spill, Window(spill.fileno(), 0, size))

    def _stored_start(self, name: str, info: zipfile.ZipInfo) -> int:
        self._raw.seek(info.header_offset)
        header = self._raw.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise ModelLoadError(f"archive member {name!r} has a corrupt local header")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        local_name = self._raw.read(name_len)
        if local_name.decode("utf-8", "replace") != name:
            raise ModelLoadError(
                f"archive member {name!r} has a different name in its local header "
                f"({local_name.decode('utf-8', 'replace')!r})",
                IssueKind.UNSAFE_ARCHIVE,
            )
        start = info.header_offset + 30 + name_len + extra_len
        if start + info.compress_size > self._size:
            raise ModelLoadError(
                f"archive member {name!r} runs past the end of the file (truncated)"
            )
        return start

    def close(self) -> None:
        self._zip.close()


#: A local header's bytes fetched ahead: its fixed part, the name and room for its extra
#: field (which may differ from the central directory's).
_LOCAL_HEADER = 30 + 256
#: JSON members fetched ahead, at most this size each; of another member, its start
#: (an HDF5 file's superblock and root group, which opening it reads).
_JSON_AHEAD = 4 * MiB
_MEMBER_HEAD = 4 * KiB


def _first_reads(infos: list[zipfile.ZipInfo], limits: Limits) -> list[tuple[int, int]]:
    """The ranges of an archive read first, for a remote one to fetch side by side: each
    member's local header, and with it the data of a small JSON member or the start of
    another."""
    ranges = []
    for info in infos:
        start = info.header_offset
        end = start + _LOCAL_HEADER + len(info.filename.encode())
        if info.filename.endswith(".json") and info.compress_size <= min(
            _JSON_AHEAD, limits.max_json_bytes
        ):
            end += info.compress_size
        else:
            end += min(info.compress_size, _MEMBER_HEAD)
        ranges.append((start, end))
    return ranges


def _fileno(raw: BinaryIO) -> int:
    """The descriptor of an open file, or -1 for a file object without one (a remote
    object): its tensors are then read through h5py, never directly."""
    try:
        return raw.fileno()
    except (OSError, AttributeError):
        return -1
