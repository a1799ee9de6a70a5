"""What a loader returns: the graph plus the open resources behind its tensor handles."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import ExitStack
from types import TracebackType
from typing import Protocol

from auditor.graph.model import ModelGraph, Role
from auditor.loaders.digest import FileDigest
from auditor.loaders.drafts import DraftLayer, DraftWeight
from auditor.loaders.h5tensor import H5Tensor
from auditor.loaders.layer_specs import VarSpec
from auditor.loaders.safe_hdf5 import H5Scan

__all__ = ["LoadedModel", "ReadCounts", "attach", "discover_opaque", "loading"]


class ReadCounts(Protocol):
    """What reading an object by ranges cost (`loaders.remote.RangeFile`)."""

    requests: int
    bytes_fetched: int


class LoadedModel:
    """A `ModelGraph` whose tensor handles stay readable until `close()`.

    Use as a context manager; closing releases the HDF5 file before the file object
    underneath it (h5py crashes at exit otherwise).
    """

    def __init__(self, graph: ModelGraph, resources: ExitStack | None = None) -> None:
        self.graph = graph
        self._resources = resources or ExitStack()
        self.digest: FileDigest | None = None
        self.io: ReadCounts | None = None  # what reading a remote object cost

    def sha256(self) -> str | None:
        """The file's SHA-256 (waits for the hashing thread), or None when unknown."""
        return self.digest.result() if self.digest is not None else None

    def push_close(self, callback: Callable[[], object]) -> None:
        """Register a resource to release after the ones already registered."""
        resources = ExitStack()
        resources.callback(callback)
        resources.push(self._resources)
        self._resources = resources

    def close(self) -> None:
        self._resources.close()
        self.sha256()  # no hashing thread outlives its model

    def __enter__(self) -> LoadedModel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def loading(load: Callable[[ExitStack], LoadedModel]) -> LoadedModel:
    """Run a loader that registers what it opens on the stack it is given: the model it
    returns owns them; if it raises, they are closed before the error goes on."""
    stack = ExitStack()
    try:
        return load(stack)
    except BaseException:
        stack.close()
        raise


def attach(weight: DraftWeight, dataset_path: str, scan: H5Scan) -> None:
    """Point a draft weight at a stored dataset (checked by the scan, or rejected by it)."""
    if dataset_path in scan.datasets:
        tensor = H5Tensor(
            scan.datasets[dataset_path], scan.window_of.get(dataset_path, scan.window)
        )
        weight.tensor = tensor
        weight.shape = tensor.shape
        weight.dtype = tensor.dtype
        weight.storage = dataset_path
    elif any(issue.where == dataset_path for issue in scan.issues):
        weight.storage = dataset_path  # located, but unsafe to read: the issue says why


def discover_opaque(
    layer: DraftLayer, scan: H5Scan, prefix: str, exclude: Iterable[str] = ()
) -> list[str]:
    """Claim every dataset under an opaque layer's storage, as weights of unknown role.

    Returns the dataset paths claimed, so that they are not reported as unclaimed.
    """
    excluded = tuple(exclude)
    found = sorted(
        path
        for path in scan.datasets
        if path.startswith(prefix) and not path.startswith(excluded) and path != prefix
    )
    for path in found:
        relative = path[len(prefix) :]
        spec = VarSpec(name=relative, role=Role.OTHER)
        weight = DraftWeight(
            spec=spec,
            path=f"{layer.path}/{relative}" if layer.path else relative,
            layer_path=layer.path,
            trainable=layer.trainable,
            regularizer_key=None,
            config={},
        )
        attach(weight, path, scan)
        layer.weights.append(weight)
    return found
