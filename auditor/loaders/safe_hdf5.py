"""HDF5 files opened as hostile input: every link and dataset inspected before any data
is read.

Hard links only (no soft or external links), no external storage and no virtual datasets,
plain numeric dtypes, built-in filters only (an unknown one would make libhdf5 load a
plug-in), and declared sizes within the caps and near what is stored (no shape bombs).
Text attributes are read with low-level calls under a size cap. No other file is ever
opened. The datasets that pass are read by `auditor.loaders.h5tensor`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import h5py
import numpy as np

from auditor.errors import ModelLoadError, first_line
from auditor.graph.model import IssueKind, LoadIssue
from auditor.limits import Limits, MiB
from auditor.loaders.h5_prefetch import warm_up
from auditor.loaders.seekable import RangeSource
from auditor.text import safe_text

__all__ = [
    "H5Scan",
    "StoredDataset",
    "disable_hdf5_plugins",
    "group_text",
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


class Window(NamedTuple):
    """The byte range `[start, start + size)` of an open file that an HDF5 file occupies
    (a STORED zip member, or a deflated one inflated into a temporary file), for reading
    contiguous datasets without going through h5py's Python file-object driver. `fd` is
    -1 for a file without a descriptor (a remote object): nothing is read directly, and
    `remote` is the file object h5py reads, which plans its tensors' reads
    (`remote.RangeFile.plan_read`, at offsets in the HDF5 file)."""

    fd: int
    start: int
    size: int
    remote: Any = None


@dataclass(frozen=True, slots=True)
class StoredDataset:
    """A dataset that passed every check, with what reading it takes (each asked of
    libhdf5 once: h5py asks again on every access). It is not kept open: an open dataset
    holds about 13 KB in libhdf5, and a file may hold a great many; one read straight from
    the file (`offset`) needs no dataset at all, and one read through h5py opens it again.

    Attributes:
        file: h5py.h5f.FileID, the file it is in (open while the model is).
        name: bytes, its path in the file.
        shape: tuple[int, ...].
        dtype: numpy.dtype, as stored.
        bfloat16: bool, uint16 storage of bfloat16 values (Keras writes a `dtype` attribute).
        offset: int | None, the file address of its raw data when that is one contiguous,
            unfiltered run of bytes; else None.
        chunk_rows: int | None, for a filtered (compressed) chunked dataset, the extent of
            one stored chunk along the first axis: slices read whole chunks (up to
            `h5tensor.WHOLE_CHUNK_BYTES`), so each is decompressed once.
    """

    file: h5py.h5f.FileID
    name: bytes
    shape: tuple[int, ...]
    dtype: np.dtype
    bfloat16: bool
    offset: int | None
    chunk_rows: int | None = None

    def open(self) -> h5py.h5d.DatasetID:
        """The dataset, opened again (closed when the object is let go)."""
        dataset = h5py.h5o.open(self.file, self.name)
        if not isinstance(dataset, h5py.h5d.DatasetID):  # pragma: no cover - checked once
            raise OSError(f"{self.name!r} is no longer a dataset")
        return dataset


@dataclass(slots=True)
class H5Scan:
    """What a metadata-only walk of an HDF5 file found.

    Attributes:
        datasets: path -> dataset, for every dataset that passed every check.
        groups: paths of every hard-linked group.
        issues: one per rejected link or dataset.
        window: Window | None, where the HDF5 file lies in an open file, when its
            contiguous datasets may be read directly (set by the loaders).
        window_of: dataset path -> its own window, for a scan that merges several files
            (the shards of sharded weights); `window` for the others.
    """

    datasets: dict[str, StoredDataset]
    groups: set[str]
    issues: list[LoadIssue]
    window: Window | None = None
    window_of: dict[str, Window] = field(default_factory=dict)


def scan_h5(f: h5py.File, limits: Limits, remote: RangeSource | None = None) -> H5Scan:
    """Walk every link of an open HDF5 file without following anything but hard links.
    For a file at a URL (`remote`: the file object h5py reads), its metadata is fetched
    in a few rounds first (`h5_prefetch`).

    Raises:
        ModelLoadError: when the file has more links than `max_h5_objects`.
    """
    if remote is not None:
        warm_up(remote, int(f.userblock_size), limits.max_h5_objects)
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
    if len(links) > _MANY_LINKS:
        _small_metadata_cache(f)
    for name, link_type in links:
        if link_type != h5py.h5l.TYPE_HARD:
            issues.append(_link_issue(f, name))
            continue
        path = name.encode("utf-8", "surrogateescape")
        try:  # the low-level open: no name lookups or wrappers beyond what is kept
            oid = h5py.h5o.open(f.id, path)
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
            checked = _check_dataset(oid, f.id, path, limits)
            if isinstance(checked, StoredDataset):
                datasets[name] = checked
            else:
                issues.append(LoadIssue(checked[0], f"HDF5 dataset {name!r}: {checked[1]}", name))
        del oid  # closed: see StoredDataset
    return H5Scan(datasets=datasets, groups=groups, issues=issues)


#: Past this many links, the file's metadata cache is kept small: libhdf5 would let it grow
#: to 32 MiB, and keep the memory, while every object is opened once for its checks
#: (20,000 datasets: 108 MB of memory, 65 MB with the small cache). A model has a few
#: thousand (EfficientNetB7: 2,900), whose scan the small cache would slow by 5 %.
_MANY_LINKS = 10_000


def _small_metadata_cache(f: h5py.File) -> None:
    config = f.id.get_mdc_config()
    config.set_initial_size = True
    config.initial_size = config.min_size = 1 * MiB
    config.max_size = 4 * MiB
    f.id.set_mdc_config(config)


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
    oid: h5py.h5d.DatasetID, file: h5py.h5f.FileID, name: bytes, limits: Limits
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
            chunk = tuple(int(dim) for dim in plist.get_chunk())
            chunk_bytes = math.prod(chunk) * dtype.itemsize
            if chunk_bytes > limits.max_chunk_bytes:  # a read of any part inflates it all
                return (
                    IssueKind.OVER_LIMIT,
                    f"stores its values in compressed chunks of {chunk_bytes:,} bytes (chunk "
                    f"shape {chunk}), over the {limits.max_chunk_bytes:,}-byte cap",
                )
            chunk_rows = min(max(1, chunk[0]), max(1, shape[0]))
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        return IssueKind.UNREADABLE, f"unreadable metadata ({first_line(exc)})"
    return StoredDataset(file, name, shape, dtype, bfloat16, offset, chunk_rows)


def _decode(value: Any) -> str:
    """Text from the file, made safe: bytes that are not UTF-8 replaced, lone surrogates
    (which h5py keeps for them in variable-length strings) escaped."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else safe_text(str(value))


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
