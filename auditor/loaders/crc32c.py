"""CRC-32C (Castagnoli), the checksum of LevelDB tables and TensorFlow tensor bundles.

`extend(crc, data)` continues a checksum over more bytes (start from 0). With the
`google-crc32c` package installed (the `fast` extra; its C build uses the CPU's CRC32
instruction) it does the work; otherwise NumPy does, over many lanes at once: the data
is cut into `K` equal lanes whose registers advance together, four bytes a step through
two 65,536-entry tables, and the lanes are then joined pairwise, each left half carried
over the right half's length of zero bytes by a linear operator (the CRC is linear over
GF(2), as zlib's `crc32_combine` uses). About 0.2 GB/s on one core, against several GB/s
for the C build.

`mask` and `unmask` are LevelDB's rotation of a stored checksum.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

__all__ = ["extend", "mask", "native", "unmask", "value"]

_POLY = 0x82F63B78  # reflected Castagnoli polynomial
_MASK_DELTA = 0xA282EAD8
_M32 = 0xFFFFFFFF


def mask(crc: int) -> int:
    """LevelDB's masked form of a checksum, as tables and bundles store it."""
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _M32


def unmask(masked: int) -> int:
    rotated = (masked - _MASK_DELTA) & _M32
    return ((rotated >> 17) | (rotated << 15)) & _M32


def _native():  # noqa: ANN202 - the module, or None
    try:
        import google_crc32c
    except ImportError:
        return None
    return google_crc32c if getattr(google_crc32c, "implementation", "") == "c" else None


native = _native()


def value(data: bytes | memoryview | np.ndarray) -> int:
    return extend(0, data)


def extend(crc: int, data: bytes | memoryview | np.ndarray) -> int:
    """The CRC-32C of the bytes checksummed so far (`crc`) followed by `data`."""
    raw = data if isinstance(data, np.ndarray) else np.frombuffer(data, np.uint8)
    raw = np.ascontiguousarray(raw).reshape(-1).view(np.uint8)
    if native is not None:
        frozen = raw.view()
        frozen.flags.writeable = False  # the C build takes read-only buffers only
        return native.extend(crc, frozen)
    return _run(crc ^ _M32, raw) ^ _M32


@functools.cache
def _byte_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ _POLY, table >> 1).astype(np.uint32)
    return table


@functools.cache
def _word_tables() -> tuple[np.ndarray, np.ndarray]:
    """Tables for four bytes a step: register r, after xor with the next little-endian
    word, becomes `low[r & 0xFFFF] ^ high[r >> 16]`."""
    table = _byte_table()
    values = np.arange(65536, dtype=np.uint32)
    low, high = values.copy(), values << np.uint32(16)
    for _ in range(4):  # four bytes shifted through the register
        low = table[low & 0xFF] ^ (low >> 8)
        high = table[high & 0xFF] ^ (high >> 8)
    return low, high


def _bytewise(register: int, data: np.ndarray) -> int:
    table = _byte_table().tolist()
    for byte in data.tolist():
        register = table[(register ^ byte) & 0xFF] ^ (register >> 8)
    return register


#: At least this many four-byte steps per lane (fewer lanes for shorter data).
_MIN_STEPS = 64
_MAX_LANES = 1 << 16


def _run(register: int, data: np.ndarray) -> int:
    """The register after `data`, from `register` (no pre- or post-inversion)."""
    while True:
        lanes = _MAX_LANES
        while lanes > 1 and lanes * 4 * _MIN_STEPS > data.size:
            lanes //= 2
        if lanes == 1:
            return _bytewise(register, data)
        steps = data.size // (4 * lanes)
        main = data[: lanes * steps * 4].view("<u4").reshape(lanes, steps)
        low, high = _word_tables()
        registers = np.zeros(lanes, np.uint32)
        registers[0] = register
        columns = np.ascontiguousarray(main.T)  # one step's words side by side
        for words in columns:
            registers ^= words
            registers = low[registers & 0xFFFF] ^ high[registers >> 16]
        register = _join(registers, steps * 4)
        data = data[lanes * steps * 4 :]
        if not data.size:
            return register


def _join(registers: np.ndarray, lane_bytes: int) -> int:
    """One register for the lanes one after another, each `lane_bytes` long."""
    length = lane_bytes
    while registers.size > 1:
        left, right = registers[0::2], registers[1::2]
        registers = _apply(_zeros_operator(length), left) ^ right
        length *= 2
    return int(registers[0])


@functools.cache
def _zeros_operator(length: int) -> tuple[np.ndarray, ...]:
    """What `length` zero bytes do to a register, as four byte tables: the register
    becomes `t0[r & 0xFF] ^ t1[(r >> 8) & 0xFF] ^ t2[...] ^ t3[r >> 24]`."""
    columns = _power(_one_zero_byte(), length)
    bits = np.arange(8)
    tables = []
    for byte in range(4):
        cols = np.array(columns[8 * byte : 8 * byte + 8], dtype=np.uint32)
        values = np.arange(256)[:, None] >> bits & 1
        tables.append(np.bitwise_xor.reduce(np.where(values, cols, 0), axis=1).astype(np.uint32))
    return tuple(tables)


def _apply(tables: Sequence[np.ndarray], registers: np.ndarray) -> np.ndarray:
    t0, t1, t2, t3 = tables
    return (
        t0[registers & 0xFF]
        ^ t1[(registers >> 8) & 0xFF]
        ^ t2[(registers >> 16) & 0xFF]
        ^ t3[registers >> 24]
    )


def _one_zero_byte() -> list[int]:
    """The operator of one zero byte, as the images of the 32 unit registers."""
    table = _byte_table().tolist()
    return [table[(1 << bit) & 0xFF] ^ ((1 << bit) >> 8) for bit in range(32)]


def _compose(outer: list[int], inner: list[int]) -> list[int]:
    return [_image(outer, column) for column in inner]


def _image(columns: list[int], register: int) -> int:
    out, bit = 0, 0
    while register:
        if register & 1:
            out ^= columns[bit]
        register >>= 1
        bit += 1
    return out


def _power(columns: list[int], times: int) -> list[int]:
    result = [1 << bit for bit in range(32)]
    while times:
        if times & 1:
            result = _compose(columns, result)
        columns = _compose(columns, columns)
        times >>= 1
    return result
