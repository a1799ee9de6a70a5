"""Open model files as hostile input (KERAS_NOTES.md §8).

Everything a loader reads goes through here: zip members are checked (names, duplicates,
encryption, compression, sizes and ratios) before a byte is decompressed; JSON is parsed with
plain `json.loads` under a size cap and a depth check; every HDF5 link and dataset is
inspected before any data is read (hard links only; no external storage, virtual datasets,
exotic dtypes, unknown filters or shape bombs). Nothing is executed, imported, unpickled or
unmarshalled, and no other file is ever opened. The datasets that pass are read by
`auditor.loaders.h5tensor`.
"""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile
import zlib
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, BinaryIO, NamedTuple

import h5py
import numpy as np

from auditor.errors import ModelLoadError
from auditor.limits import KiB, Limits, MiB
from auditor.model import IssueKind, LoadIssue

__all__ = [
    "H5Scan",
    "Limits",
    "MemberView",
    "OffsetFile",
    "SafeZip",
    "StoredDataset",
    "Window",
    "disable_hdf5_plugins",
    "first_line",
    "group_text",
    "parse_json",
    "scan_h5",
    "string_values",
    "text_value",
]


# HDF5 filters built into libhdf5/h5py; anything else would make libhdf5 dlopen a plugin.
_BUILTIN_FILTERS = frozenset(
    {
        h5py.h5z.FILTER_DEFLATE,
        h5py.h5z.FILTER_SHUFFLE,
        h5py.h5z.FILTER_FLETCHER32,
        h5py.h5z.FILTER_SZIP,
        h5py.h5z.FILTER_NBIT,
        h5py.h5z.FILTER_SCALEOFFSET,
        h5py.h5z.FILTER_LZF,
    }
)


def disable_hdf5_plugins() -> None:
    """Empty libhdf5's plugin search path so no filter plugin can ever be dlopen-ed.

    The CLI calls this at start-up. Library users who rely on HDF5 plugins elsewhere in
    their process may skip it: datasets with unknown filters are rejected before any read
    anyway, so libhdf5 never looks for a plugin on keras-audit's behalf.
    """
    while h5py.h5pl.size() > 0:
        h5py.h5pl.remove(0)


def parse_json(data: bytes, what: str, limits: Limits) -> Any:
    """Parse untrusted JSON: size-capped, depth-checked, no object hooks.

    Raises:
        ModelLoadError: on a size/depth cap, invalid UTF-8 or invalid JSON.
    """
    if len(data) > limits.max_json_bytes:
        raise ModelLoadError(
            f"{what} is {len(data):,} bytes, over the {limits.max_json_bytes:,}-byte cap",
            IssueKind.OVER_LIMIT,
        )
    try:
        text = data.decode("utf-8")
        value = json.loads(text)
    except RecursionError:
        raise ModelLoadError(
            f"{what} is nested too deeply to parse", IssueKind.OVER_LIMIT
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelLoadError(f"{what} is not valid JSON ({first_line(exc)})") from None
    depth = json_depth(data)
    if depth > limits.max_json_depth:
        raise ModelLoadError(
            f"{what} is nested {depth} levels deep, over the {limits.max_json_depth}-level cap",
            IssueKind.OVER_LIMIT,
        )
    return value


_OPEN, _CLOSE = np.frombuffer(b"[{", np.uint8), np.frombuffer(b"]}", np.uint8)


def json_depth(data: bytes) -> int:
    """Container nesting depth of a valid JSON text (`[[1]]` is 2), at C speed: strings
    are cut out, then the brackets are counted."""
    skeleton = np.frombuffer(_outside_strings(data), np.uint8)
    opens, closes = np.isin(skeleton, _OPEN), np.isin(skeleton, _CLOSE)
    steps = opens[opens | closes].astype(np.int8) * 2 - 1  # +1 open, -1 close, in order
    return int(np.cumsum(steps, dtype=np.int64).max()) if steps.size else 0


def _outside_strings(data: bytes) -> bytes:
    """The bytes of a valid JSON text that lie outside its strings.

    Backslashes occur only inside strings and pair up left to right, so once every
    escaped backslash is gone a backslash before a quote escapes it; with those gone too,
    the remaining quotes alternate: open, close.
    """
    bare = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(bare.split(b'"')[::2])


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for one-line reports."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class OffsetFile(io.RawIOBase):
    """A read-only, seekable window `[offset, offset + length)` onto an open binary file.

    Hands a STORED zip member to h5py without copying it and without `zipfile.open()`
    (whose backward seeks re-read the stream).
    """

    def __init__(self, raw: BinaryIO, offset: int, length: int) -> None:
        super().__init__()
        self._raw = raw
        self._offset = offset
        self._length = length
        self._pos = 0

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


_EXPECTED_MEMBERS = ("config.json", "metadata.json", "model.weights.h5", "model.weights.npz")


class Window(NamedTuple):
    """The byte range `[start, start + size)` of an open file that an HDF5 file occupies
    (a STORED zip member, or a deflated one inflated into a temporary file), for reading
    contiguous datasets without going through h5py's Python file-object driver."""

    fd: int
    start: int
    size: int


class MemberView(NamedTuple):
    """An archive member opened for h5py: a seekable file object over its bytes, and
    where those bytes lie in an open file, for reading contiguous datasets directly."""

    file: BinaryIO
    window: Window


#: The piece a deflated member is inflated in (the memory that inflating it takes).
INFLATE_STEP = 1 * MiB

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
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelLoadError(
                f"archive member {name!r} uses compression method {info.compress_type}; "
                "expected stored or deflated",
                IssueKind.UNSAFE_ARCHIVE,
            )
        if info.file_size > cap:
            raise ModelLoadError(
                f"archive member {name!r} declares {info.file_size:,} bytes, "
                f"over the {cap:,}-byte cap",
                IssueKind.OVER_LIMIT,
            )
        if info.compress_type == zipfile.ZIP_DEFLATED:
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
        window onto the archive. A deflated one is first inflated, in `INFLATE_STEP`
        pieces, into an anonymous temporary file (under `max_inflated_bytes`), so that
        memory stays bounded whatever its size and its tensors are read directly from
        that file. The caller closes `view.file`."""
        info = self._checked(name, self._limits.max_file_bytes)
        if info.compress_type == zipfile.ZIP_DEFLATED:
            return self._inflate(name)
        start = self._stored_start(name, info)
        # A small buffer: libhdf5 reads metadata in small pieces scattered over the member,
        # and each seek refills the buffer (1 MiB cost EfficientNetB7 888 MB of copying);
        # reads larger than the buffer go straight through.
        file = io.BufferedReader(OffsetFile(self._raw, start, info.compress_size), 16 * KiB)
        return MemberView(file, Window(self._raw.fileno(), start, info.compress_size))

    def _inflate(self, name: str) -> MemberView:
        import shutil  # only deflated members, which Keras never writes, need these
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


@dataclass(frozen=True, slots=True)
class StoredDataset:
    """A dataset that passed every check, with what reading it takes (each asked of
    libhdf5 once: h5py asks again on every access).

    Attributes:
        id: h5py.h5d.DatasetID, the open dataset.
        shape: tuple[int, ...].
        dtype: numpy.dtype, as stored.
        bfloat16: bool, uint16 storage of bfloat16 values (Keras writes a `dtype` attribute).
        offset: int | None, the file address of its raw data when that is one contiguous,
            unfiltered run of bytes; else None.
        chunk_rows: int | None, for a filtered (compressed) chunked dataset, the extent of
            one stored chunk along the first axis: slices read whole chunks (up to
            `h5tensor.WHOLE_CHUNK_BYTES`), so each is decompressed once.
    """

    id: h5py.h5d.DatasetID
    shape: tuple[int, ...]
    dtype: np.dtype
    bfloat16: bool
    offset: int | None
    chunk_rows: int | None = None


@dataclass(slots=True)
class H5Scan:
    """What a metadata-only walk of an HDF5 file found.

    Attributes:
        datasets: path -> dataset, for every dataset that passed every check.
        groups: paths of every hard-linked group.
        issues: one per rejected link or dataset.
        window: Window | None, where the HDF5 file lies in an open file, when its
            contiguous datasets may be read directly (set by the loaders).
    """

    datasets: dict[str, StoredDataset]
    groups: set[str]
    issues: list[LoadIssue]
    window: Window | None = None


def scan_h5(f: h5py.File, limits: Limits) -> H5Scan:
    """Walk every link of an open HDF5 file without following anything but hard links.

    Raises:
        ModelLoadError: when the file has more links than `max_h5_objects`.
    """
    datasets: dict[str, StoredDataset] = {}
    groups: set[str] = set()
    issues: list[LoadIssue] = []
    links: list[tuple[str, int]] = []

    def collect(name: bytes, info: Any) -> Any:
        # The link's type comes with the visit, so hard links are resolved only once, below.
        links.append((name.decode("utf-8", "replace"), info.type))
        return None if len(links) <= limits.max_h5_objects else True

    try:
        f.id.links.visit(collect, info=True)
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"HDF5 structure is corrupt ({first_line(exc)})") from None
    if len(links) > limits.max_h5_objects:
        raise ModelLoadError(
            f"HDF5 file has more than {limits.max_h5_objects:,} links", IssueKind.OVER_LIMIT
        )
    for name, link_type in links:
        if link_type != h5py.h5l.TYPE_HARD:
            issues.append(_link_issue(f, name))
            continue
        try:  # the low-level open: no name lookups or wrappers beyond what is kept
            oid = h5py.h5o.open(f.id, name.encode("utf-8", "surrogateescape"))
        except (OSError, RuntimeError, ValueError, KeyError) as exc:
            issues.append(
                LoadIssue(
                    IssueKind.UNREADABLE,
                    f"HDF5 object {name!r} is corrupt ({first_line(exc)})",
                    where=name,
                )
            )
            continue
        if isinstance(oid, h5py.h5g.GroupID):
            groups.add(name)
        elif isinstance(oid, h5py.h5d.DatasetID):
            checked = _check_dataset(oid, limits)
            if isinstance(checked, StoredDataset):
                datasets[name] = checked
            else:
                issues.append(LoadIssue(checked[0], f"HDF5 dataset {name!r}: {checked[1]}", name))
    return H5Scan(datasets=datasets, groups=groups, issues=issues)


def group_text(f: h5py.File, group: str, key: str) -> str | None:
    """A string attribute of a group the scan found (Keras 3 writes a layer's name on its
    `vars` group), decoded; None when absent, unreadable or not a string."""
    try:
        oid = h5py.h5o.open(f.id, group.encode("utf-8", "surrogateescape"))
    except (OSError, RuntimeError, ValueError, KeyError):
        return None
    return _attr_text(oid, key)


def _link_issue(f: h5py.File, name: str) -> LoadIssue:
    """The issue for a link that is not a hard link (never followed)."""
    try:
        link = f.get(name, getlink=True)
    except (OSError, RuntimeError, ValueError, KeyError):
        link = None
    if isinstance(link, h5py.SoftLink):
        message = f"HDF5 soft link {name!r} -> {link.path!r} (not followed)"
    elif isinstance(link, h5py.ExternalLink):
        message = f"HDF5 external link {name!r} -> {link.filename!r}:{link.path!r} (not followed)"
    else:
        message = f"HDF5 user-defined link {name!r} (not followed)"
    return LoadIssue(IssueKind.EXTERNAL_REFERENCE, message, where=name)


def _check_dataset(
    oid: h5py.h5d.DatasetID, limits: Limits
) -> StoredDataset | tuple[IssueKind, str]:
    """The dataset with what reading it takes, or (kind, reason) when it must not be read.

    Its creation property list is fetched once and asked everything: external storage,
    virtual mapping, filters, layout.
    """
    try:
        plist = oid.get_create_plist()
        external = plist.get_external_count()
        if external:
            targets = ", ".join(repr(_decode(plist.get_external(i)[0])) for i in range(external))
            return IssueKind.EXTERNAL_REFERENCE, f"external storage in {targets} (not read)"
        layout = plist.get_layout()
        if layout == h5py.h5d.VIRTUAL:
            return IssueKind.EXTERNAL_REFERENCE, "virtual dataset mapping other files (not read)"
        dtype = oid.dtype
        # Keras marks bfloat16 tensors with an attribute and stores their 2-byte values
        # (as opaque data). A tag on wider values means nothing to Keras (it cannot load
        # them as bfloat16); reinterpreting their bytes would double every row.
        bfloat16 = dtype.itemsize == 2 and _attr_text(oid, "dtype") == "bfloat16"
        plain = dtype.kind in "fiub" and dtype.itemsize <= 8 and dtype.fields is None
        if not plain and not (
            bfloat16
            and dtype.itemsize == 2
            and h5py.check_dtype(vlen=dtype) is None
            and h5py.check_dtype(ref=dtype) is None
        ):
            return IssueKind.UNSUPPORTED_DATA, f"unsupported dtype {dtype}"
        filters = plist.get_nfilters()
        for index in range(filters):
            filter_id = plist.get_filter(index)[0]
            if filter_id not in _BUILTIN_FILTERS:
                return IssueKind.UNSUPPORTED_DATA, f"unknown HDF5 filter id {filter_id}"
        shape = tuple(int(dim) for dim in oid.shape or ())
        if any(dim < 0 for dim in shape):
            return IssueKind.UNSUPPORTED_DATA, f"invalid shape {shape}"
        declared = math.prod(shape) * dtype.itemsize
        if declared > limits.max_tensor_bytes:
            return (
                IssueKind.OVER_LIMIT,
                f"declares {declared:,} bytes (shape {shape}), over the "
                f"{limits.max_tensor_bytes:,}-byte cap",
            )
        if declared > 64 * MiB:
            stored = oid.get_storage_size()
            if declared > limits.max_sparse_ratio * max(stored, 1):
                return (
                    IssueKind.MALFORMED,
                    f"declares {declared:,} bytes but stores {stored:,} (shape bomb)",
                )
        offset = oid.get_offset() if layout == h5py.h5d.CONTIGUOUS and not filters else None
        chunk_rows = None
        if layout == h5py.h5d.CHUNKED and filters and shape:
            chunk_rows = min(max(1, int(plist.get_chunk()[0])), max(1, shape[0]))
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        return IssueKind.UNREADABLE, f"unreadable metadata ({first_line(exc)})"
    return StoredDataset(oid, shape, dtype, bfloat16, offset, chunk_rows)


def _decode(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def text_value(value: Any) -> str | None:
    """An HDF5 attribute value as text (bytes, str or a 0-d string array), else None.

    Writers differ: h5py 2 and tf.keras store bytes, h5py 3 and Keras 3 store str.
    """
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "OSU":
        value = value.item()
    return _decode(value) if isinstance(value, bytes | str) else None


def _attr_text(oid: h5py.h5o.ObjectID, key: str) -> str | None:
    """A scalar string attribute of a group or dataset, decoded (invalid UTF-8 as U+FFFD),
    or None when absent, unreadable or not a scalar string.

    A Keras 3 weights file has one such attribute per layer, each read through a Python
    file object.
    """
    name = key.encode()
    try:  # an existence check first: a missing attribute costs h5py an exception
        if not h5py.h5a.exists(oid, name):
            return None
        attr = h5py.h5a.open(oid, name)
        shape = attr.shape
        if shape != ():
            return None  # an empty dataspace (shape None), or an array
        value = string_values(attr, shape)
        return text_value(value) if value is not None else None
    except (OSError, RuntimeError, ValueError, TypeError, KeyError):
        return None


def string_values(attr: h5py.h5a.AttrID, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
    """The values of a string attribute, as an array of its shape (bytes for fixed-length
    strings, bytes or str objects for variable-length ones); None when it is not text or
    holds no value (an empty dataspace, or an empty array), which h5py reads its own way.

    Read with low-level calls: h5py's `attrs[key]` costs about twice as much, and a model
    has one or two such attributes per layer. `shape` is the attribute's, when the caller
    has asked for it already (libhdf5 builds a dataspace for each ask).

    Raises:
        OSError, RuntimeError, ValueError, TypeError: when libhdf5 cannot read it.
    """
    if shape is None:
        shape = attr.shape
    if shape is None or 0 in shape:
        return None
    stored = attr.get_type()
    if not isinstance(stored, h5py.h5t.TypeStringID):
        return None
    dtype, memory = _string_types(stored)
    value = np.empty(shape, dtype=dtype)  # every element is written by the read
    attr.read(value, mtype=memory)
    return value


#: (variable length, character set, size) -> the NumPy dtype and the HDF5 memory type a
#: string attribute is read with. Asking h5py for them costs more than reading a short
#: attribute; a file holds one or two kinds. Bounded: a hostile file can vary the size.
_STRING_TYPES: dict[tuple[bool, int, int], tuple[np.dtype, h5py.h5t.TypeID]] = {}
_MAX_STRING_TYPES = 64


def _string_types(stored: h5py.h5t.TypeStringID) -> tuple[np.dtype, h5py.h5t.TypeID]:
    variable = stored.is_variable_str()
    key = (variable, stored.get_cset(), 0 if variable else stored.get_size())
    found = _STRING_TYPES.get(key)
    if found is None:
        dtype = stored.dtype
        found = (dtype, h5py.h5t.py_create(dtype))
        if len(_STRING_TYPES) < _MAX_STRING_TYPES:
            _STRING_TYPES[key] = found
    return found
