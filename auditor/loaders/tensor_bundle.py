"""TensorFlow tensor bundles (a SavedModel's `variables/`), read without TensorFlow.

`variables.index` is a LevelDB-style table: a 48-byte footer (the metaindex and index
block handles, each an offset and a size as varints, padded, then the magic number
`0xdb4775248b80fb57`), an index block whose values are the handles of the data blocks,
and data blocks of key/value entries (each key shares a prefix with the one before it;
a block ends with its restart offsets and their count). Every block is followed by a
compression byte (TensorFlow writes 0, none) and the masked CRC-32C of the block and
that byte, checked here. The key `""` holds the `BundleHeaderProto` (shard count,
endianness); every other key is a checkpoint key (`layer_with_weights-0/kernel/
.ATTRIBUTES/VARIABLE_VALUE`) whose value is a `BundleEntryProto`: dtype, shape, shard,
offset, size and the masked CRC-32C of the tensor's bytes in
`variables.data-<shard>-of-<count>`, which `bundle_tensor.BundleTensor` verifies as it
reads them.

See tensorflow/core/util/tensor_bundle/tensor_bundle.{proto,cc} and
third_party/tsl/tsl/lib/io/{format,block}.cc for the layout.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from auditor.errors import ModelLoadError
from auditor.graph.model import IssueKind, LoadIssue
from auditor.limits import Limits
from auditor.loaders import crc32c
from auditor.loaders.h5tensor import pread_into
from auditor.loaders.protowire import ProtoError, message, read_varint
from auditor.loaders.seekable import Positional

__all__ = ["Bundle", "BundleEntry", "parse_index", "read_string", "shard_name"]

_MAGIC = 0xDB4775248B80FB57
_FOOTER = 48
_TRAILER = 5

#: TensorFlow's DataType numbers (types.proto) for the dtypes a weight may have.
DTYPES: dict[int, str] = {
    1: "<f4",
    2: "<f8",
    3: "<i4",
    4: "u1",
    5: "<i2",
    6: "i1",
    9: "<i8",
    10: "?",
    14: "bfloat16",
    17: "<u2",
    19: "<f2",
    22: "<u4",
    23: "<u8",
}
_STRING = 7  # DT_STRING: the object graph and other metadata, not a weight
_RESOURCE = 20


@dataclass(frozen=True, slots=True)
class BundleEntry:
    """Where one tensor is: its shard, byte range and stored checksum (masked)."""

    key: str
    dtype: str  # a NumPy dtype string, or "bfloat16"
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    crc: int | None


@dataclass(slots=True)
class Bundle:
    """The tensors of an index and the problems met reading it."""

    shards: int
    entries: dict[str, BundleEntry] = field(default_factory=dict)
    strings: dict[str, BundleEntry] = field(default_factory=dict)  # scalar strings
    issues: list[LoadIssue] = field(default_factory=list)

    def check_extents(self, shard: int, size: int) -> None:
        """Drop (and report) the entries of a shard of `size` bytes that lie past its end."""
        for table in (self.entries, self.strings):
            for key, entry in list(table.items()):
                if entry.shard == shard and entry.offset + entry.size > size:
                    del table[key]
                    self.issues.append(
                        LoadIssue(
                            IssueKind.MALFORMED,
                            f"{key!r} lies at bytes {entry.offset:,}-"
                            f"{entry.offset + entry.size:,} of a {size:,}-byte data file "
                            "(truncated?); not read",
                            where=key,
                        )
                    )


def shard_name(prefix: str, shard: int, count: int) -> str:
    """`variables.data-00000-of-00001`, as TensorFlow names a bundle's data files."""
    return f"{prefix}.data-{shard:05d}-of-{count:05d}"


def parse_index(data: bytes, limits: Limits) -> Bundle:
    """The entries of a `variables.index` table.

    Raises:
        ModelLoadError: for a table that is truncated, has a bad checksum, or holds no
            bundle header.
    """
    try:
        return _parse(memoryview(data), limits)
    except ProtoError as exc:
        raise ModelLoadError(f"variables.index is malformed ({exc})") from None


def _parse(data: memoryview, limits: Limits) -> Bundle:
    if len(data) < _FOOTER:
        raise ModelLoadError(
            f"variables.index is {len(data)} bytes, shorter than a table footer (48)"
        )
    footer = data[len(data) - _FOOTER :]
    magic = int.from_bytes(footer[-8:], "little")
    if magic != _MAGIC:
        raise ModelLoadError(
            f"variables.index ends in {magic:#018x}, not the table magic number {_MAGIC:#018x}"
        )
    _, pos = _handle(footer, 0)  # the metaindex block: empty in a bundle
    index_handle, _ = _handle(footer, pos)
    bundle: Bundle | None = None
    entries: dict[str, BundleEntry] = {}
    strings: dict[str, BundleEntry] = {}
    issues: list[LoadIssue] = []
    for _, value in _entries(_block(data, index_handle, "the index block")):
        block_handle, _ = _handle(value, 0)
        for key, entry in _entries(_block(data, block_handle, "a data block")):
            if not key:
                bundle = _header(entry)
                continue
            if len(entries) >= limits.max_h5_objects:
                raise ModelLoadError(
                    f"variables.index holds over {limits.max_h5_objects:,} tensors, the object cap",
                    IssueKind.OVER_LIMIT,
                )
            name = bytes(key).decode("utf-8", "replace")
            found = _entry(name, entry, issues, limits)
            if found is not None:
                (strings if found.dtype == "string" else entries)[name] = found
    if bundle is None:
        raise ModelLoadError("variables.index has no bundle header (the empty key)")
    bundle.entries, bundle.strings, bundle.issues = entries, strings, issues
    for entry in [*entries.values(), *strings.values()]:
        if entry.shard >= bundle.shards:
            issues.append(
                LoadIssue(
                    IssueKind.MALFORMED,
                    f"{entry.key!r} is in shard {entry.shard}, but the bundle has {bundle.shards}",
                    where=entry.key,
                )
            )
    return bundle


def _handle(data: memoryview, pos: int) -> tuple[tuple[int, int], int]:
    offset, pos = read_varint(data, pos)
    size, pos = read_varint(data, pos)
    return (offset, size), pos


def _block(data: memoryview, handle: tuple[int, int], what: str) -> memoryview:
    offset, size = handle
    if offset + size + _TRAILER > len(data):
        raise ModelLoadError(
            f"variables.index is truncated: {what} at byte {offset:,} ({size:,} bytes) "
            f"runs past its end ({len(data):,} bytes)"
        )
    block = data[offset : offset + size]
    kind = data[offset + size]
    stored = int.from_bytes(data[offset + size + 1 : offset + size + _TRAILER], "little")
    actual = crc32c.extend(crc32c.value(block), bytes([kind]))
    if crc32c.unmask(stored) != actual:
        raise ModelLoadError(
            f"variables.index is corrupt: {what} at byte {offset:,} has checksum "
            f"{crc32c.unmask(stored):#010x}, its bytes give {actual:#010x}"
        )
    if kind != 0:
        raise ModelLoadError(
            f"variables.index compresses {what} (type {kind}); TensorFlow writes none (0)",
            IssueKind.UNSUPPORTED_DATA,
        )
    return block


def _entries(block: memoryview) -> Iterator[tuple[memoryview | bytes, memoryview]]:
    """(key, value) of each entry of a block, keys rebuilt from their shared prefixes."""
    if len(block) < 4:
        raise ProtoError("a block is shorter than its restart count")
    restarts = int.from_bytes(block[-4:], "little")
    end = len(block) - 4 - 4 * restarts
    if restarts < 1 or end < 0:
        raise ProtoError(f"a block declares {restarts:,} restart points")
    pos, key = 0, b""
    while pos < end:
        shared, pos = read_varint(block, pos)
        unshared, pos = read_varint(block, pos)
        size, pos = read_varint(block, pos)
        if shared > len(key) or unshared + size > end - pos:
            raise ProtoError("a block entry runs past its block")
        key = bytes(key[:shared]) + bytes(block[pos : pos + unshared])
        pos += unshared
        yield key, block[pos : pos + size]
        pos += size


def _header(value: memoryview) -> Bundle:
    fields = message(value)
    shards = fields.get(1, [1])[-1]
    endian = fields.get(2, [0])[-1]
    if not isinstance(shards, int) or not 0 < shards <= 100_000:
        raise ModelLoadError(f"the bundle header declares {shards} shards (expected 1-100,000)")
    if endian != 0:
        raise ModelLoadError(
            "the bundle is big-endian; only little-endian bundles are read",
            IssueKind.UNSUPPORTED_DATA,
        )
    return Bundle(shards=shards)


def _entry(
    key: str, value: memoryview, issues: list[LoadIssue], limits: Limits
) -> BundleEntry | None:
    fields = message(value)
    dtype_number = _int(fields, 1, 0)
    if dtype_number == _RESOURCE:
        return None
    if dtype_number == _STRING:  # the checkpoint's own metadata (its object graph, ...)
        shape = _shape(fields.get(2, [b""])[-1])
        if shape != ():
            return None
        return BundleEntry(
            key, "string", (), _int(fields, 3, 0), _int(fields, 4, 0), _int(fields, 5, 0), None
        )
    if 7 in fields:
        issues.append(
            LoadIssue(
                IssueKind.UNSUPPORTED_DATA,
                f"{key!r} is a partitioned variable (stored as slices); not read",
                where=key,
            )
        )
        return None
    dtype = DTYPES.get(dtype_number)
    if dtype is None:
        issues.append(
            LoadIssue(
                IssueKind.UNSUPPORTED_DATA,
                f"{key!r} has TensorFlow dtype number {dtype_number}, not a numeric type",
                where=key,
            )
        )
        return None
    shape = _shape(fields.get(2, [b""])[-1])
    size = _int(fields, 5, 0)
    itemsize = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
    if shape is None or math.prod(shape) * itemsize != size or size > limits.max_tensor_bytes:
        issues.append(
            LoadIssue(
                IssueKind.MALFORMED,
                f"{key!r} declares shape {shape} of {dtype} in {size:,} bytes, which do not "
                f"match (or exceed the {limits.max_tensor_bytes:,}-byte tensor cap)",
                where=key,
            )
        )
        return None
    crc = fields.get(6, [None])[-1]
    return BundleEntry(
        key=key,
        dtype=dtype,
        shape=shape,
        shard=_int(fields, 3, 0),
        offset=_int(fields, 4, 0),
        size=size,
        crc=crc if isinstance(crc, int) else None,
    )


def _int(fields: dict, number: int, default: int) -> int:
    value = fields.get(number, [default])[-1]
    if not isinstance(value, int):
        raise ProtoError(f"field {number} is not a number")
    return value


def _shape(value: int | memoryview) -> tuple[int, ...] | None:
    """A TensorShapeProto's dimensions; None for an unknown rank or a negative size."""
    if isinstance(value, int):
        return None
    fields = message(value)
    if fields.get(3):  # unknown_rank
        return None
    dims = []
    for dim in fields.get(2, []):
        if isinstance(dim, int):
            return None
        size = message(dim).get(1, [0])[-1]
        if not isinstance(size, int) or size >= 1 << 63:
            return None
        dims.append(size)
    return tuple(dims)


def read_string(entry: BundleEntry, source: Positional, cap: int) -> bytes:
    """The value of a scalar string tensor: its length (a varint), four bytes of checksum
    over the length, then the bytes.

    Raises:
        ModelLoadError: when it is over `cap` or its length disagrees with its entry.
    """
    if entry.size > cap:
        raise ModelLoadError(
            f"{entry.key!r} is {entry.size:,} bytes, over the {cap:,}-byte cap",
            IssueKind.OVER_LIMIT,
        )
    data = bytearray(entry.size)
    pread_into(source, memoryview(data), entry.offset)
    try:
        length, pos = read_varint(memoryview(data), 0)
    except ProtoError as exc:
        raise ModelLoadError(f"{entry.key!r} is malformed ({exc})") from None
    if pos + 4 + length != entry.size:
        raise ModelLoadError(
            f"{entry.key!r} declares a {length:,}-byte string in a {entry.size:,}-byte entry"
        )
    return bytes(data[pos + 4 :])
