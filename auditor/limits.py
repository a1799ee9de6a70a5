"""The caps every reader applies before reading anything (options with documented
defaults; `[tool.keras-audit.limits]` in the configuration).

Kept apart from the readers so that configuration and the CLI's light commands never
import h5py or numpy.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GiB", "KiB", "Limits", "MiB"]

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


class Limits(BaseModel):
    """Caps applied before anything is read. All sizes in bytes.

    Attributes:
        max_file_bytes: largest model file accepted (default 64 GiB).
        max_json_bytes: largest `config.json` / `model_config` accepted (default 64 MiB).
        max_json_depth: deepest JSON nesting accepted (default 512).
        max_json_values: most values (numbers, strings, lists, ...) in one JSON document
            (default 1,000,000; EfficientNetB7's config holds about 49,000). Parsing builds
            a Python object for each, about 200 bytes.
        max_members: most zip members accepted (default 10,000).
        max_compression_ratio: largest uncompressed/compressed ratio of a zip member
            (default 100; Keras itself never compresses).
        max_inflated_bytes: largest compressed weights member inflated, into an anonymous
            temporary file (default 4 GiB; Keras never compresses).
        max_tensor_bytes: largest declared size of one tensor (default 32 GiB).
        max_sparse_ratio: largest declared/stored ratio of a tensor over 64 MiB (shape-bomb
            guard, default 1,000).
        max_h5_objects: most HDF5 links walked in one file (default 50,000; EfficientNetB7
            has about 2,900). Each is opened for its checks, and libhdf5 keeps 3-5 KB of
            memory for each.
        max_chunk_bytes: largest compressed HDF5 chunk (default 64 MiB): reading any part
            of a chunk inflates all of it. Keras never compresses; h5py's own chunks are
            at most 1 MiB.
        max_discovered_entries: most folder entries listed to find the model files of one
            folder or pattern given to `audit` (default 10,000,000).
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=lambda name: name.replace("_", "-"),
        populate_by_name=True,
    )

    max_file_bytes: int = Field(default=64 * GiB, gt=0)
    max_json_bytes: int = Field(default=64 * MiB, gt=0)
    max_json_depth: int = Field(default=512, gt=0)
    max_json_values: int = Field(default=1_000_000, gt=0)
    max_members: int = Field(default=10_000, gt=0)
    max_compression_ratio: float = Field(default=100.0, gt=1.0)
    max_inflated_bytes: int = Field(default=4 * GiB, gt=0)
    max_tensor_bytes: int = Field(default=32 * GiB, gt=0)
    max_sparse_ratio: float = Field(default=1000.0, gt=1.0)
    max_h5_objects: int = Field(default=50_000, gt=0)
    max_chunk_bytes: int = Field(default=64 * MiB, gt=0)
    max_discovered_entries: int = Field(default=10_000_000, gt=0)
