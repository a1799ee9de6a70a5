"""A TensorFlow checkpoint's object graph: which object holds which variable.

The bundle's `_CHECKPOINTABLE_OBJECT_GRAPH` string is a `TrackableObjectGraph{nodes:
TrackableObject{children: ObjectReference{node_id, local_name}, attributes:
SerializedTensor{name, full_name, checkpoint_key}}}` (tensorflow/core/protobuf/
trackable_object_graph.proto). Node 0 is the saved root; a variable's node has a
`VARIABLE_VALUE` attribute with its checkpoint key and its full name (the variable's
name when it was saved, `conv/kernel`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from auditor.errors import ModelLoadError
from auditor.limits import Limits
from auditor.loaders.protowire import ProtoError, fields, message, text
from auditor.loaders.seekable import Positional
from auditor.loaders.tensor_bundle import Bundle, read_string

__all__ = ["OBJECT_GRAPH_KEY", "CheckpointGraph", "StoredVariable"]

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
#: Children that list other objects' variables again, or hold no weight at all.
_NOT_OWNED = frozenset(
    {
        "variables",
        "trainable_variables",
        "non_trainable_variables",
        "_all_variables",
        "regularization_losses",
        "keras_api",
        "layers",
        "metrics",
        "layer_metrics",
        "layer_regularization_losses",
        "signatures",
        "__call__",
        "call_and_return_all_conditional_losses",
        "_default_save_signature",
    }
)
_MAX_DEPTH = 4


@dataclass(frozen=True, slots=True)
class StoredVariable:
    """A variable of the checkpoint: its name under the object that holds it, its
    checkpoint key and its full name."""

    local_name: str
    key: str
    full_name: str

    @property
    def layer(self) -> str:
        """The layer part of the full name (`subseq/inner` of `subseq/inner/kernel`)."""
        return self.full_name.rpartition("/")[0]


@dataclass(frozen=True, slots=True)
class _Node:
    children: tuple[tuple[str, int], ...]
    variable: tuple[str, str] | None  # (checkpoint key, full name)
    by_name: dict[str, int]  # the first child of each local name


class CheckpointGraph:
    """The object graph of a checkpoint, for finding objects by path and their variables.
    A node is decoded when it is first visited: a model's graph has thousands of objects
    (traced functions, metrics, optimizer slots) that finding its layers never reaches."""

    def __init__(self, raw: list[memoryview]) -> None:
        self._raw = raw
        self._decoded: dict[int, _Node] = {}

    def _node(self, node_id: int) -> _Node:
        found = self._decoded.get(node_id)
        if found is None:
            try:
                found = self._decoded[node_id] = _decode(self._raw[node_id])
            except ProtoError as exc:
                raise ModelLoadError(
                    f"the checkpoint's object graph is malformed ({exc})"
                ) from None
        return found

    @classmethod
    def read(
        cls, bundle: Bundle, shards: Mapping[int, Positional], limits: Limits
    ) -> CheckpointGraph:
        """The object graph a bundle stores.

        Raises:
            ModelLoadError: when it is missing, over the caps or malformed.
        """
        entry = bundle.strings.get(OBJECT_GRAPH_KEY)
        if entry is None or entry.shard not in shards:
            raise ModelLoadError(
                f"the variables hold no object graph ({OBJECT_GRAPH_KEY}): which layer owns "
                "which variable is unknown"
            )
        data = read_string(entry, shards[entry.shard], limits.max_json_bytes)
        try:
            nodes = [raw for number, _, raw in fields(data) if number == 1]
        except ProtoError as exc:
            raise ModelLoadError(f"the checkpoint's object graph is malformed ({exc})") from None
        if not all(isinstance(node, memoryview) for node in nodes):
            raise ModelLoadError("the checkpoint's object graph is malformed (a node is a number)")
        if len(nodes) > limits.max_h5_objects:
            raise ModelLoadError(
                f"the checkpoint's object graph has {len(nodes):,} objects, over the "
                f"{limits.max_h5_objects:,} cap"
            )
        return cls(nodes)

    def find(self, path: str) -> int | None:
        """The object at a dotted path from the root (`root.layer_with_weights-0`)."""
        parts = path.split(".")
        if not self._raw or parts[0] != "root":
            return None
        current = 0
        for part in parts[1:]:
            current = self._node(current).by_name.get(part, -1)
            if not 0 <= current < len(self._raw):
                return None
        return current

    def variables_of(self, node_id: int, stop: set[int]) -> list[StoredVariable]:
        """The variables an object owns: those linked from it by name (`kernel`, or
        `cell/kernel` through an object that is not a layer of its own), not through the
        lists that repeat them and not inside the objects in `stop` (other layers)."""
        found: list[StoredVariable] = []
        seen = {node_id}
        stack = [(node_id, "", 0)]
        while stack:
            current, prefix, depth = stack.pop()
            for name, child in self._node(current).children:
                if name in _NOT_OWNED or child in seen or not 0 <= child < len(self._raw):
                    continue
                seen.add(child)
                local = f"{prefix}{name}"
                variable = self._node(child).variable
                if variable is not None:
                    found.append(StoredVariable(local, *variable))
                elif child not in stop and depth + 1 < _MAX_DEPTH:
                    stack.append((child, f"{local}/", depth + 1))
        return found

    def named_variables(self) -> list[StoredVariable]:
        """Every variable, in the order of the graph, named by its full name."""
        nodes = [self._node(i) for i in range(len(self._raw))]
        return [
            StoredVariable(node.variable[1].rpartition("/")[2], *node.variable)
            for node in nodes
            if node.variable is not None and node.variable[1]
        ]


def _decode(raw: memoryview) -> _Node:
    decoded = message(raw)
    children = []
    for reference in decoded.get(1, []):
        if not isinstance(reference, memoryview):
            raise ProtoError("an object reference is not a message")
        found = message(reference)
        target = found.get(1, [0])[-1]
        name = found.get(2, [b""])[-1]
        if isinstance(target, int) and isinstance(name, memoryview):
            children.append((text(name), target))
    variable = None
    for attribute in decoded.get(2, []):
        if not isinstance(attribute, memoryview):
            continue
        found = message(attribute)
        if _first_text(found, 1) == "VARIABLE_VALUE":
            variable = (_first_text(found, 3), _first_text(found, 2))
    by_name: dict[str, int] = {}
    for name, target in children:
        by_name.setdefault(name, target)
    return _Node(tuple(children), variable, by_name)


def _first_text(found: dict, number: int) -> str:
    values = found.get(number)
    return text(values[-1]) if values and isinstance(values[-1], memoryview) else ""
