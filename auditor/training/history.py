"""The training history that `auditor.keras.RegularizationMonitor` writes and
`audit history` reads: data loss against penalty, and weight norms per group, over time.

Keras-free: the models (`auditor.results.history`) and the norm arithmetic are shared by
the callback (which imports keras) and the command line (which must not). A history file
is read like any input: size-capped, depth-checked JSON validated against these models,
never evaluated.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from auditor.errors import ModelLoadError, UsageError
from auditor.graph.decay import family_of
from auditor.graph.model import Role, WeightRef
from auditor.limits import Limits
from auditor.loaders.safe_json import parse_json
from auditor.results.history import Norms, TrainingHistory
from auditor.tensors.sums import channel_squares
from auditor.text import display_path, is_url

__all__ = ["group_of", "read_history", "weight_norms", "write_history"]

_MAX_HISTORY_BYTES = 256 * 1024 * 1024
_LIMITS = Limits(max_json_bytes=_MAX_HISTORY_BYTES)

_ROLE_GROUPS = {Role.BIAS: "bias", Role.GAMMA: "normalization", Role.BETA: "normalization"}


def group_of(weight: WeightRef) -> str:
    """The group a weight's norms are followed in: its regularization family (`kernel`,
    `depthwise`, ...), `bias`, `normalization`, or `other`."""
    family = family_of(weight)
    if family is not None:
        return family.value
    return _ROLE_GROUPS.get(weight.role, "other")


def weight_norms(values: np.ndarray) -> Norms:
    """Norms of one tensor; channels are the vectors along the last axis."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0 or array.size == 0:
        norm = float(np.sqrt(np.sum(array * array)))
        return Norms(norm=norm, channel_mean=norm, channel_max=norm, channels=int(array.ndim))
    squares = channel_squares(array.reshape(-1, array.shape[-1]))  # float64 in, float64 sums
    channels = np.sqrt(squares)
    return Norms(
        norm=float(math.sqrt(float(squares.sum()))),
        channel_mean=float(channels.mean()),
        channel_max=float(channels.max()),
        channels=int(channels.size),
    )


def write_history(history: TrainingHistory, path: str | os.PathLike[str]) -> None:
    """Write the history as JSON, atomically (a reader never sees half a file)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(history.model_dump_json(indent=1))
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_capped(where: str) -> bytes:
    """The bytes of a history file or object, after the size check.

    Raises:
        UsageError: over the cap. OSError, ModelLoadError: unreadable.
    """
    if is_url(where):
        from auditor.loaders.remote import open_url

        with open_url(where) as remote:
            _check_size(remote.size, where)
            return remote.read(remote.size)
    _check_size(Path(where).stat().st_size, where)
    return Path(where).read_bytes()


def _check_size(size: int, where: str) -> None:
    if size > _MAX_HISTORY_BYTES:
        raise UsageError(
            f"history file {display_path(where)!r} is {size:,} bytes, over the "
            f"{_MAX_HISTORY_BYTES:,}-byte cap"
        )


def read_history(path: str | os.PathLike[str]) -> TrainingHistory:
    """Read a history file written by `RegularizationMonitor`, on disk or at a URL
    (fetched by range through fsspec, as a model is).

    Raises:
        UsageError: the file is missing, too large, not JSON, or not a history.
    """
    where = display_path(path)
    try:
        data = _read_capped(os.fspath(path))
        document = parse_json(data, "the history file", _LIMITS)
    except OSError as exc:
        raise UsageError(f"cannot read history file {where!r}: {exc.strerror or exc}") from None
    except ModelLoadError as exc:
        raise UsageError(f"cannot read history file {where!r}: {exc}") from None
    if not isinstance(document, Mapping) or document.get("kind") != "keras-audit-history":
        raise UsageError(
            f"{where!r} is not a keras-audit history file (expected a JSON object with "
            f'"kind": "keras-audit-history", as RegularizationMonitor writes)'
        )
    try:
        return TrainingHistory.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(p) for p in first["loc"])
        raise UsageError(
            f"history file {where!r} is malformed at {location}: {first['msg']}"
        ) from None
