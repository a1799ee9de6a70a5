"""What a file is, as Keras's loaders would see it: a zip archive, an HDF5 file, or both.

Keras 3's `load_model` (`keras/src/saving/saving_api.py`) opens a file whose name ends in
`.keras` as a zip archive when `zipfile.is_zipfile` says it is one, and one ending in
`.h5` or `.hdf5` with h5py; tf-keras opens as HDF5 any file h5py recognizes unless its
name ends in `.keras` and it is a zip. Neither looks at the first bytes alone:
`is_zipfile` looks for the end-of-central-directory record near the end of the file, and
libhdf5 for its superblock signature at byte 0, 512, 1024, 2048 and every doubling after
(the space before it is the file's user block). A file can therefore be both, and which
half Keras loads then depends on the file's name: each half is audited. For a file at a
URL the places looked at are fetched side by side first: the head and the tail, then,
when the head is no HDF5 file, each doubling.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from typing import BinaryIO, Literal

from auditor.loaders.seekable import RangeSource, range_source

__all__ = ["Half", "Layout", "sniff"]

Half = Literal["zip", "hdf5"]

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_FIRST_USER_BLOCK = 512
#: The end of a file that `is_zipfile` reads: the end-of-central-directory record, after
#: a comment of at most 64 KiB (it reads 64 KiB and the record).
_ZIP_TAIL = 22 + (1 << 16)
#: The start of a file fetched with the tail.
_HEAD = 16 * 1024


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each format's structure sits in a file.

    Attributes:
        zip: bool, `zipfile.is_zipfile` would say yes.
        hdf5_at: int | None, the byte at which libhdf5 would find the superblock.
        weights_at: tuple of ints, where the data of the archive's stored members begin
            (a `.keras` archive's own weights file is an HDF5 file there, and is no second
            half of the file).
    """

    zip: bool
    hdf5_at: int | None
    weights_at: tuple[int, ...] = ()

    @property
    def both(self) -> bool:
        """True for a file that is a zip archive and, separately, an HDF5 file."""
        return self.zip and self.hdf5_at is not None and self.hdf5_at not in self.weights_at

    def loaded_by_keras(self, suffix_format: str) -> Half | None:
        """The half Keras loads for a file of this name (`keras`, `h5` or `unknown`, from
        its suffix); for a name Keras 3 refuses, the half tf-keras loads. None: neither."""
        hdf5: Half | None = "hdf5" if self.hdf5_at is not None else None
        zip_: Half | None = "zip" if self.zip else None
        if suffix_format == "keras":
            return zip_ or hdf5
        return hdf5 or zip_


def sniff(raw: BinaryIO, size: int) -> Layout:
    """The layout of an open file (its position is left at 0).

    Raises:
        OSError: when the file cannot be read.
    """
    source = range_source(raw)
    if source is not None:
        _fetch_ahead(source, size)
    hdf5_at = None
    for offset in _probes(size):
        raw.seek(offset)
        if raw.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE:
            hdf5_at = offset
            break
    raw.seek(0)
    is_zip = zipfile.is_zipfile(raw)
    weights_at: tuple[int, ...] = ()
    if is_zip and hdf5_at is not None:
        weights_at = _stored_data(raw)
    raw.seek(0)
    return Layout(zip=is_zip, hdf5_at=hdf5_at, weights_at=weights_at)


def _probes(size: int) -> list[int]:
    """Where libhdf5 looks for a superblock in a file of `size` bytes."""
    offsets: list[int] = []
    offset = 0
    while offset + len(_HDF5_SIGNATURE) <= size:
        offsets.append(offset)
        offset = max(_FIRST_USER_BLOCK, 2 * offset)
    return offsets


def _fetch_ahead(source: RangeSource, size: int) -> None:
    """Fetch what `sniff` reads of a file at a URL in two rounds, not one per place."""
    source.prefetch([(0, min(_HEAD, size)), (max(size - _ZIP_TAIL, 0), size)])
    if source.peek(0, len(_HDF5_SIGNATURE)) != _HDF5_SIGNATURE:
        source.prefetch(
            (offset, offset + len(_HDF5_SIGNATURE)) for offset in _probes(size) if offset >= _HEAD
        )


def _stored_data(raw: BinaryIO) -> tuple[int, ...]:
    """Where the data of each stored member of a zip archive begins (its local header's
    name and extra fields skipped); nothing for an archive zipfile cannot list."""
    starts = []
    try:
        with zipfile.ZipFile(raw) as archive:
            for info in archive.infolist():
                if info.compress_type != zipfile.ZIP_STORED:
                    continue
                raw.seek(info.header_offset + 26)
                header = raw.read(4)
                if len(header) == 4:
                    name_len = int.from_bytes(header[:2], "little")
                    extra_len = int.from_bytes(header[2:], "little")
                    starts.append(info.header_offset + 30 + name_len + extra_len)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        return ()
    return tuple(starts)
