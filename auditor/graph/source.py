"""Where a model was read from: its source format, what each format holds (a Keras
config, a TensorFlow graph), and what a file declares beside its weights."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ALL_FORMATS",
    "GRAPH_FORMATS",
    "NO_CONFIG",
    "GraphOp",
    "ParameterCount",
    "PickleGlobal",
    "SourceInfo",
    "is_keras_hub_object",
    "source_formats",
]


@dataclass(frozen=True, slots=True)
class ParameterCount:
    """A parameter count a file declares (`where`, e.g. `metadata.json`) for some of its
    weights (`counted`, e.g. `model.weights.h5`), against what those weights hold."""

    where: str
    counted: str
    declared: int
    stored: int


@dataclass(frozen=True, slots=True)
class GraphOp:
    """An op of a SavedModel's graph: its type, the function it sits in ("" for the
    top-level graph) and how many nodes there use it."""

    op: str
    function: str
    count: int


#: Why a source holds no Keras config, by format (formats not listed hold one).
NO_CONFIG = {
    "weights": "a weights-only file holds no model config",
    "export": "a SavedModel written by export() holds no Keras config",
    "preset": "a keras_hub preset's config.json holds the backbone's hyperparameters, "
    "not its layers",
}


#: Every kind of source a rule may judge (`SourceInfo.format`).
ALL_FORMATS = ("keras", "h5", "weights", "savedmodel", "export", "preset", "live")
#: The formats that hold a TensorFlow graph (`ModelGraph.ops`).
GRAPH_FORMATS = ("savedmodel", "export")


def source_formats(requires: frozenset[str]) -> tuple[str, ...]:
    """The source formats a rule with these requirements can judge: a live model only,
    SavedModels only (their graph), or every format that holds a config (a weights-only
    file and an `export()` SavedModel hold none) or the weights."""
    if "live" in requires:
        return ("live",)
    if "graph" in requires:
        return GRAPH_FORMATS
    if requires & {"config", "compile"}:
        return tuple(f for f in ALL_FORMATS if f not in NO_CONFIG)
    return ALL_FORMATS


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """Where a model came from."""

    path: str
    # "keras" | "h5" | "weights" (a weights-only file) | "savedmodel" (tf.keras 2) |
    # "export" (a SavedModel without Keras metadata) | "preset" (keras_hub) | "live"
    format: str
    keras_version: str | None = None
    backend: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None

    @property
    def keras_major(self) -> int | None:
        """The major Keras version that wrote the file, when known."""
        if not self.keras_version:
            return None
        head = self.keras_version.split(".", 1)[0]
        return int(head) if head.isdigit() else None


@dataclass(frozen=True, slots=True)
class PickleGlobal:
    """A global a pickle in the file would import when unpickled: the member holding the
    pickle, and the module and name (`?` where the pickle computes them in a way a
    static walk does not follow)."""

    member: str
    module: str
    name: str


def is_keras_hub_object(value: Mapping[str, Any]) -> bool:
    """True for a serialized keras_hub object (`registered_name: "keras_hub>..."`, or a
    `keras_hub` module): a preset's backbone, task, tokenizer or preprocessor."""
    registered, module = value.get("registered_name"), value.get("module")
    return (isinstance(registered, str) and registered.startswith("keras_hub>")) or (
        isinstance(module, str) and module.split(".", 1)[0] == "keras_hub"
    )
