"""Regularizers that the Keras version which wrote a file declared but never applied.

A file records the `keras_version` that wrote it. Some versions had bugs that dropped a
declared regularizer from the loss: the config says the weight was penalized, training
never penalized it, and a reload in a fixed version starts to. The table is small on
purpose: each entry cites the Keras issue and the fix, and is pinned by a test on a file
whose `keras_version` says so.

Only standalone Keras counts: a `-tf` suffix (`2.1.6-tf`) marks tf.keras, whose code
followed its own history.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from auditor.graph.model import LayerNode, ModelGraph, WeightRef

__all__ = ["VERSION_BUGS", "VersionBug", "standalone_version", "unapplied_penalties"]


@dataclass(frozen=True, slots=True)
class VersionBug:
    """A Keras bug that dropped declared regularizers from the loss.

    Attributes:
        summary: what the affected versions did, as a sentence fragment.
        reference: the issue and the fix that name the bug.
        fixed_in: the first standalone Keras version without the bug.
        layers: which layers the bug hits, and for each the weights it left unpenalized.
    """

    summary: str
    reference: str
    fixed_in: tuple[int, int, int]
    layers: Callable[[ModelGraph], Iterator[tuple[LayerNode, list[WeightRef]]]]

    @property
    def fixed_in_text(self) -> str:
        return ".".join(str(part) for part in self.fixed_in)

    def affects(self, keras_version: str | None) -> bool:
        """True when standalone Keras `keras_version` predates the fix."""
        version = standalone_version(keras_version)
        return version is not None and version < self.fixed_in


def standalone_version(keras_version: str | None) -> tuple[int, int, int] | None:
    """`2.1.6` as (2, 1, 6); None for tf.keras (`2.1.6-tf`) or an unreadable value."""
    if not keras_version or keras_version.endswith("-tf"):
        return None
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", keras_version.strip())
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def _bidirectional_backward(model: ModelGraph) -> Iterator[tuple[LayerNode, list[WeightRef]]]:
    """The penalized weights of each Bidirectional's backward layer."""
    for layer in model.layers():
        if layer.class_name != "Bidirectional":
            continue
        for child in layer.children:
            if child.name.startswith("backward_"):
                weights = [w for w in child.all_weights() if w.penalized]
                if weights:
                    yield layer, weights


VERSION_BUGS: tuple[VersionBug, ...] = (
    VersionBug(
        summary="Bidirectional did not apply the regularizers of its backward layer",
        reference="keras-team/keras#7514, fixed by keras-team/keras#10012",
        fixed_in=(2, 2, 0),
        layers=_bidirectional_backward,
    ),
)


def unapplied_penalties(model: ModelGraph) -> dict[str, VersionBug]:
    """The paths of the weights whose declared penalty the writing version never applied,
    each with the bug that dropped it."""
    found: dict[str, VersionBug] = {}
    for bug in VERSION_BUGS:
        if bug.affects(model.source.keras_version):
            for _, weights in bug.layers(model):
                for weight in weights:
                    found.setdefault(weight.path, bug)
    return found
