"""The metadata of an HDF5 file at a URL, fetched in a few rounds of side-by-side requests
before libhdf5 reads it one piece at a time.

libhdf5 reads the metadata of an HDF5 file in small pieces as it reaches each one: over
the network, hundreds of round trips in a row. But the pieces name each other's
addresses: the superblock names the root group's object header; a group's header names
its B-tree and local heap (its symbol-table message); the B-tree names its symbol-table
nodes; those name the object headers of the group's members; a header continues in the
chunks its continuation messages name. So the structures are chased breadth-first here,
each round's addresses fetched side by side (`remote.RangeFile.prefetch`), and the scan
(`safe_hdf5.scan_h5`) then runs unchanged, served from what was fetched.

Only the bytes of each structure are fetched. libhdf5 reads 512 bytes at an object
header or a local heap before it knows their length, and a B-tree or symbol-table node
whole however few of its entries are used, and then uses only the bytes the structure's
own prefix declares (its header's length, the heap's data segment, the node's entries in
use). So each structure is first fetched in a short probe (in a Keras file nearly always
all of it; a longer one is fetched whole in the next round), and the file is told what
libhdf5 will read there and how much of it is used (`RangeSource.expect`): the rest of
that read is served as zeros, never fetched.

This is a hint, never a judgement: only the addresses are taken from what is parsed,
every read is bounded, each address is fetched once, the rounds and the ranges are
capped, and anything unexpected (another header version, a bad signature) ends the
chase there. The format is the HDF5 file format specification's version 0/1 superblock,
version 1 object headers and version 1 B-trees, which h5py writes by default (and so
Keras); newer structures are left to libhdf5's own reads.
"""

from __future__ import annotations

import struct

from auditor.limits import KiB, MiB
from auditor.loaders.seekable import RangeSource

__all__ = ["warm_up"]

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: What libhdf5 reads at an object header and at a local heap before it knows their
#: length (H5O_SPEC_READ_SIZE and H5HL_SPEC_READ_SIZE in its source).
_SPECULATIVE_READ = 512
#: Bytes first fetched of each kind of structure: its prefix and, in a file h5py wrote,
#: nearly always all of it (a group's header; a dataset's header with its messages; a
#: local heap with its data segment; a B-tree node with two entries in use; a
#: symbol-table node with four). A longer one is fetched whole in the next round.
_PROBE = {"group": 64, "header": 288, "heap": 128, "btree": 64, "snod": 176}
#: The most bytes fetched for one chunk or heap data segment.
_MAX_PIECE = 1 * MiB
#: Rounds of requests: each follows one link of the chain (header, continuation,
#: B-tree, symbol-table node, the next header ...); a Keras file needs a few per level.
_MAX_ROUNDS = 64

#: Bytes first fetched at a global heap collection (libhdf5's smallest collection); a
#: larger one is fetched whole in the next round, its size read from its header.
_COLLECTION_SPAN = 4 * KiB
_COLLECTION_OVERHEAD = 64
#: Heap IDs read from one attribute, at most (an array of strings shares a collection or
#: a few).
_MAX_HEAP_IDS = 64

_SYMBOL_TABLE = 0x0011
_CONTINUATION = 0x0010
_ATTRIBUTE = 0x000C
_VARIABLE_LENGTH = 9


def warm_up(source: RangeSource, base: int, max_objects: int) -> None:
    """Fetch the group structures and object headers of the HDF5 file whose superblock
    is at `base` in `source`, ahead of the scan."""
    try:
        _Chase(source, base, max_objects).run()
    except (struct.error, ValueError, OverflowError, OSError, IndexError):
        return  # a hint only: the scan reads (and judges) the file itself


class _Chase:
    def __init__(self, source: RangeSource, base: int, max_objects: int) -> None:
        self.source, self.base = source, base
        self.budget = 4 * max_objects  # structures chased, at most
        self.seen: set[tuple[str, int]] = set()
        self.offset = "<Q"
        self.length = "<Q"
        self.internal_k = 16
        self.leaf_k = 4

    def run(self) -> None:
        self.source.prefetch([(self.base, self.base + 256)])
        superblock = self.source.peek(self.base, self.base + 256)
        if superblock is None or not superblock.startswith(_SIGNATURE):
            return
        wanted = self._superblock(superblock)
        for _ in range(_MAX_ROUNDS):
            wanted = [need for need in wanted if self._new(need)]
            if not wanted:
                return
            self.source.prefetch((self.base + a, self.base + a + n) for _, a, n in wanted)
            found: list[tuple[str, int, int]] = []
            for kind, address, size in wanted:
                data = self.source.peek(self.base + address, self.base + address + size)
                if data is None:
                    continue
                extent = self._extent(kind, address, data)
                if extent is not None:
                    read, used = extent
                    if used > len(data):  # longer than its probe: whole, next round
                        found.append((kind, address, used))
                        continue
                    data = data[:used]
                    if used < read:
                        self.source.expect(self.base + address, read, used)
                found.extend(self._parse(kind, address, data))
            wanted = found

    def _new(self, need: tuple[str, int, int]) -> bool:
        _, address, size = need
        key = (address, size)
        if address < 0 or not 0 < size <= _MAX_PIECE:
            return False
        if key in self.seen or len(self.seen) >= self.budget:
            return False
        self.seen.add(key)
        return True

    def _extent(self, kind: str, address: int, data: bytes) -> tuple[int, int] | None:
        """(the bytes libhdf5 reads at this structure, the bytes of them it uses), told by
        the structure's prefix in `data`; None for a structure that is not one of these
        or whose prefix `data` does not hold."""
        offset, length = self._size(self.offset), self._size(self.length)
        if kind in ("header", "group"):
            if len(data) < 16 or data[0] != 1:
                return None
            return _SPECULATIVE_READ, 16 + struct.unpack_from("<I", data, 8)[0]
        if kind == "heap":
            prefix = 8 + 2 * length + offset
            if len(data) < prefix or data[:4] != b"HEAP":
                return None
            size = struct.unpack_from(self.length, data, 8)[0]
            segment = self._address(data, 8 + 2 * length)
            return _SPECULATIVE_READ, prefix + size if segment == address + prefix else prefix
        if kind == "btree":
            if len(data) < 8 or data[:4] != b"TREE" or data[4] != 0:
                return None
            used = min(struct.unpack_from("<H", data, 6)[0], 2 * self.internal_k)
            return self._btree_size(), 8 + 2 * offset + (used + 1) * length + used * offset
        if kind == "snod":
            if len(data) < 8 or data[:4] != b"SNOD":
                return None
            count = min(struct.unpack_from("<H", data, 6)[0], 2 * self.leaf_k)
            return self._snod_size(), 8 + count * (2 * offset + 24)
        return None

    def _superblock(self, data: bytes) -> list[tuple[str, int, int]]:
        version = data[8]
        if version not in (0, 1):
            return []
        formats = {2: "<H", 4: "<I", 8: "<Q"}
        if data[13] not in formats or data[14] not in formats:
            return []
        self.offset, self.length = formats[data[13]], formats[data[14]]
        self.leaf_k, self.internal_k = struct.unpack_from("<HH", data, 16)
        position = 24 + (4 if version == 1 else 0) + 4 * self._size(self.offset)
        # The root group's symbol-table entry: its name offset, then its header address.
        header = self._address(data, position + self._size(self.offset))
        return [("group", header, _PROBE["group"])]

    def _parse(self, kind: str, address: int, data: bytes) -> list[tuple[str, int, int]]:
        if kind in ("header", "group"):
            return self._header(data)
        if kind == "chunk":
            return self._messages(data, 0, len(data))
        if kind == "btree":
            return self._btree(data)
        if kind == "heap":
            return self._heap(address, data)
        if kind == "snod":
            return self._snod(data)
        if kind == "collection":
            return self._collection(address, data)
        return []

    def _header(self, data: bytes) -> list[tuple[str, int, int]]:
        if data[0] != 1:
            return []  # a version 2 header ("OHDR"): left to libhdf5
        return self._messages(data, 16, len(data))

    def _messages(self, data: bytes, start: int, end: int) -> list[tuple[str, int, int]]:
        """The structures the messages of one header chunk name."""
        wanted: list[tuple[str, int, int]] = []
        position = start
        while position + 8 <= end:
            kind, size = struct.unpack_from("<HH", data, position)
            body = position + 8
            if body + size > end:
                break
            if kind == _SYMBOL_TABLE:
                btree = self._address(data, body)
                heap = self._address(data, body + self._size(self.offset))
                wanted += [("btree", btree, _PROBE["btree"]), ("heap", heap, _PROBE["heap"])]
            elif kind == _CONTINUATION:
                chunk = self._address(data, body)
                length = struct.unpack_from(self.length, data, body + self._size(self.offset))[0]
                wanted.append(("chunk", chunk, length))
            elif kind == _ATTRIBUTE:
                wanted += self._attribute(data, body, body + size)
            position = body + size
        return wanted

    def _attribute(self, data: bytes, start: int, end: int) -> list[tuple[str, int, int]]:
        """The global heap collections an attribute of variable-length values points
        into (an attribute message of version 1, 2 or 3 whose datatype and dataspace are
        its own, not shared)."""
        version, flags, name_size, type_size, space_size = struct.unpack_from("<BBHHH", data, start)
        if version not in (1, 2, 3) or flags & 0b11:
            return []
        position = start + 8 + (1 if version == 3 else 0)
        sizes = [name_size, type_size, space_size]
        if version == 1:  # each field padded to a multiple of eight bytes
            sizes = [(size + 7) & ~7 for size in sizes]
        datatype = position + sizes[0]
        dataspace = datatype + sizes[1]
        values = dataspace + sizes[2]
        if values > end or data[datatype] & 0x0F != _VARIABLE_LENGTH:
            return []
        element = struct.unpack_from("<I", data, datatype + 4)[0]
        if element != 4 + self._size(self.offset) + 4:
            return []
        count = min(self._elements(data, dataspace), _MAX_HEAP_IDS, (end - values) // element)
        wanted: list[tuple[str, int, int]] = []
        for index in range(count):
            at = values + index * element
            length = struct.unpack_from("<I", data, at)[0]
            # The collection's header and the object's before its bytes, which are padded
            # to eight, and room for the header of the collection's free space after them.
            span = max(_COLLECTION_SPAN, length + _COLLECTION_OVERHEAD)
            wanted.append(("collection", self._address(data, at + 4), span))
        return wanted

    def _elements(self, data: bytes, position: int) -> int:
        """How many values a dataspace message describes (a scalar: one)."""
        version, rank = data[position], data[position + 1]
        if version == 2 and data[position + 3] == 2:  # the null dataspace
            return 0
        first = position + (8 if version == 1 else 4)
        step = self._size(self.length)
        count = 1
        for index in range(min(rank, 32)):
            count *= struct.unpack_from(self.length, data, first + index * step)[0]
        return count

    def _collection(self, address: int, data: bytes) -> list[tuple[str, int, int]]:
        if data[:4] != b"GCOL":
            return []
        size = struct.unpack_from(self.length, data, 8)[0]
        return [("data", address, size)] if size > len(data) else []

    def _btree(self, data: bytes) -> list[tuple[str, int, int]]:
        if data[:4] != b"TREE" or data[4] != 0:  # a group's B-tree
            return []
        level, used = data[5], struct.unpack_from("<H", data, 6)[0]
        offset, length = self._size(self.offset), self._size(self.length)
        position = 8 + 2 * offset + length  # the siblings, then the first key
        children: list[tuple[str, int, int]] = []
        for _ in range(min(used, 2 * self.internal_k)):
            if position + offset > len(data):
                break
            child = self._address(data, position)
            kind = "btree" if level else "snod"
            children.append((kind, child, _PROBE[kind]))
            position += offset + length
        return children

    def _heap(self, address: int, data: bytes) -> list[tuple[str, int, int]]:
        if data[:4] != b"HEAP":
            return []
        length = self._size(self.length)
        size = struct.unpack_from(self.length, data, 8)[0]
        segment = self._address(data, 8 + 2 * length)
        header = 8 + 2 * length + self._size(self.offset)
        if segment == address + header and header + size <= len(data):
            return []  # the data segment came with the header
        return [("data", segment, size)]

    def _snod(self, data: bytes) -> list[tuple[str, int, int]]:
        if data[:4] != b"SNOD":
            return []
        count = struct.unpack_from("<H", data, 6)[0]
        offset = self._size(self.offset)
        entry = 2 * offset + 24
        wanted: list[tuple[str, int, int]] = []
        for index in range(min(count, 2 * self.leaf_k)):
            position = 8 + index * entry
            if position + entry > len(data):
                break
            header = self._address(data, position + offset)
            if struct.unpack_from("<I", data, position + 2 * offset)[0] == 1:
                # A group's entry caches its B-tree and heap addresses in its scratch-pad.
                scratch = position + 2 * offset + 8
                wanted.append(("group", header, _PROBE["group"]))
                wanted.append(("btree", self._address(data, scratch), _PROBE["btree"]))
                wanted.append(("heap", self._address(data, scratch + offset), _PROBE["heap"]))
            else:
                wanted.append(("header", header, _PROBE["header"]))
        return wanted

    def _address(self, data: bytes, position: int) -> int:
        """The address at `position`, or -1 for the undefined address (all bits set)."""
        value = int(struct.unpack_from(self.offset, data, position)[0])
        return -1 if value == (1 << (8 * self._size(self.offset))) - 1 else value

    def _btree_size(self) -> int:
        offset, length = self._size(self.offset), self._size(self.length)
        return 8 + 2 * offset + (2 * self.internal_k + 1) * length + 2 * self.internal_k * offset

    def _snod_size(self) -> int:
        return 8 + 2 * self.leaf_k * (2 * self._size(self.offset) + 24)

    @staticmethod
    def _size(fmt: str) -> int:
        return struct.calcsize(fmt)
