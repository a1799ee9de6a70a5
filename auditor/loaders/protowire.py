"""The protocol-buffer wire format, decoded by hand: no generated classes, no `protobuf`.

A message is a run of fields, each a key (`field_number << 3 | wire_type`, a varint)
and a value: a varint (type 0), eight bytes (1), a length-prefixed run of bytes (2: a
string, bytes, a nested message or a packed array) or four bytes (5). Groups (3, 4) are
deprecated and never written by TensorFlow or Keras: they are malformed here. Nothing is
interpreted beyond that; callers decide what each field means, and every length is
checked against the bytes that hold it, so a hostile length cannot read past them.

See https://protobuf.dev/programming-guides/encoding/.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

__all__ = ["Fields", "ProtoError", "fields", "message", "packed_varints", "read_varint", "text"]

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


class ProtoError(ValueError):
    """Bytes that are not a well-formed protocol-buffer message."""


def read_varint(data: memoryview, pos: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it.

    Raises:
        ProtoError: when it runs past the data or over ten bytes.
    """
    result = shift = 0
    end = len(data)
    while True:
        if pos >= end:
            raise ProtoError("a varint runs past the end of its message")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtoError("a varint is longer than ten bytes")


def fields(data: bytes | memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of each field in order: an int for the varint and
    fixed types, a view of the bytes for a length-delimited field.

    Raises:
        ProtoError: at the first malformed field.
    """
    view = memoryview(data).cast("B") if not isinstance(data, memoryview) else data
    pos, end = 0, len(view)
    while pos < end:
        key = view[pos]  # one byte for field numbers up to 15, as nearly all are
        if key < 0x80:
            pos += 1
        else:
            key, pos = read_varint(view, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtoError("a field has number 0")
        if wire == LENGTH:
            if pos < end and view[pos] < 0x80:
                size = view[pos]
                pos += 1
            else:
                size, pos = read_varint(view, pos)
            if size > end - pos:
                raise ProtoError(f"field {number} declares {size:,} bytes; {end - pos:,} are left")
            yield number, wire, view[pos : pos + size]
            pos += size
        elif wire == VARINT:
            value, pos = read_varint(view, pos)
            yield number, wire, value
        elif wire in (FIXED64, FIXED32):
            width = 8 if wire == FIXED64 else 4
            if width > end - pos:
                raise ProtoError(f"field {number} runs past the end of its message")
            yield number, wire, int.from_bytes(view[pos : pos + width], "little")
            pos += width
        else:
            raise ProtoError(f"field {number} has wire type {wire} (expected 0, 1, 2 or 5)")


#: A decoded message: field number -> its values in order (repeated fields have several).
Fields = dict[int, list[int | memoryview]]


def message(data: bytes | memoryview) -> Fields:
    """Every field of a (small) message, by number."""
    found: Fields = {}
    for number, _, value in fields(data):
        found.setdefault(number, []).append(value)
    return found


def text(value: int | memoryview) -> str:
    """A string field's text, made safe as HDF5 text is: bytes that are not UTF-8 are
    replaced (U+FFFD), so that no name read from a file carries a lone surrogate.

    Raises:
        ProtoError: when the field is not length-delimited.
    """
    if not isinstance(value, memoryview):
        raise ProtoError(f"expected a string field, found the number {value}")
    return bytes(value).decode("utf-8", "replace")


def packed_varints(value: int | memoryview) -> list[int]:
    """A repeated varint field, packed (one length-delimited run) or not (one value)."""
    if isinstance(value, int):
        return [value]
    out: list[int] = []
    pos = 0
    while pos < len(value):
        number, pos = read_varint(value, pos)
        out.append(number)
    return out


def signed64(value: int) -> int:
    """A varint as the int64 it encodes (negative numbers take ten bytes)."""
    return struct.unpack("<q", struct.pack("<Q", value & 0xFFFFFFFFFFFFFFFF))[0]
