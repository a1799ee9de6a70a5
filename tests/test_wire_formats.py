"""The hand-written decoders of the SavedModel front-end: CRC-32C (the NumPy lanes
against the C build and the published check value), LevelDB checksum masking, and the
protocol-buffer wire format on well-formed and hostile bytes."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.loaders import crc32c
from auditor.loaders.protowire import ProtoError, fields, message, packed_varints, text


@pytest.fixture
def numpy_only(monkeypatch):
    monkeypatch.setattr(crc32c, "native", None)


def test_crc32c_check_value(numpy_only):
    assert crc32c.value(b"123456789") == 0xE3069283  # RFC 3720 B.4 / the CRC catalogue
    assert crc32c.value(b"") == 0
    assert crc32c.value(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4: 32 bytes of zeros


@pytest.mark.parametrize("size", [1, 3, 255, 256, 1023, 4096, 65_537, 300_001, 5_000_003])
def test_numpy_lanes_agree_with_the_c_build(size):
    google_crc32c = pytest.importorskip("google_crc32c")
    data = np.random.default_rng(size).bytes(size)
    expected = google_crc32c.value(data)
    saved, crc32c.native = crc32c.native, None
    try:
        assert crc32c.value(data) == expected
        cut = size // 3
        assert crc32c.extend(crc32c.value(data[:cut]), data[cut:]) == expected
        array = np.frombuffer(data[: size // 4 * 4], np.float32)
        assert crc32c.value(array) == google_crc32c.value(array.tobytes())
    finally:
        crc32c.native = saved


def test_mask_round_trips():
    for value in (0, 1, 0xE3069283, 0xFFFFFFFF):
        assert crc32c.unmask(crc32c.mask(value)) == value
    assert crc32c.mask(0) == 0xA282EAD8


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def test_fields_of_every_wire_type():
    data = (
        _varint(1 << 3 | 0)
        + _varint(300)
        + _varint(2 << 3 | 2)
        + _varint(5)
        + b"hello"
        + _varint(3 << 3 | 5)
        + (7).to_bytes(4, "little")
        + _varint(4 << 3 | 1)
        + (9).to_bytes(8, "little")
        + _varint(5 << 3 | 2)
        + _varint(3)
        + _varint(1)
        + _varint(2)
        + _varint(3)
    )
    found = message(data)
    assert found[1] == [300] and text(found[2][0]) == "hello"
    assert found[3] == [7] and found[4] == [9]
    assert packed_varints(found[5][0]) == [1, 2, 3]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (_varint(1 << 3 | 2) + _varint(1_000_000) + b"abc", "declares 1,000,000 bytes"),
        (b"\xff" * 11, "longer than ten bytes"),
        (_varint(1 << 3 | 0) + b"\x80", "runs past the end"),
        (_varint(1 << 3 | 3), "wire type 3"),
        (_varint(0 << 3 | 0) + b"\x01", "number 0"),
        (_varint(1 << 3 | 5) + b"\x01\x02", "runs past the end"),
    ],
)
def test_malformed_messages_raise_one_clear_error(data, error):
    with pytest.raises(ProtoError, match=error):
        list(fields(data))
