"""What a Keras 3 weights file's optimizer state says about training.

`model.save()` and `save_weights()` store the optimizer's variables under
`optimizer/vars/`, the first of them its iteration count (`optimizer.iterations`): 0 for a
model that never took a training step with that optimizer.
"""

from __future__ import annotations

from auditor.loaders.h5tensor import H5Tensor
from auditor.loaders.safe_hdf5 import H5Scan

__all__ = ["training_steps"]

_ITERATIONS = "optimizer/vars/0"


def training_steps(scan: H5Scan) -> int | None:
    """The optimizer's stored iteration count; None when there is none to read (no
    optimizer state, or a first variable that is not one integer)."""
    stored = scan.datasets.get(_ITERATIONS)
    if stored is None or stored.shape != () or stored.dtype.kind not in "iu":
        return None
    try:
        (value,) = (chunk for chunk in H5Tensor(stored, scan.window).iter_chunks(64))
        return int(value)
    except (OSError, ValueError, TypeError, OverflowError):
        return None
