"""What a SavedModel's protocol buffers say, decoded with `protowire` alone.

- `keras_metadata.pb` (tf.keras 2, TensorFlow >= 2.5): `SavedMetadata{nodes: SavedObject
  {node_id, node_path, identifier, metadata (JSON), version}}`; the root node's JSON
  holds the model config and training config, each layer's its own config.
- `saved_model.pb`: `SavedModel{meta_graphs: MetaGraphDef{graph_def: GraphDef{node,
  library: FunctionDefLibrary{function: FunctionDef{signature: OpDef{name}, node_def}}},
  object_graph_def: SavedObjectGraph}}`. `op_census` counts the ops of the graph and of
  every function; `legacy_metadata` finds the Keras metadata that TensorFlow < 2.5 kept
  in the object graph (`SavedUserObject.metadata`), with each node's path rebuilt from
  the root through the children's local names, as `keras_metadata.pb` spells it.

Field numbers are those of tensorflow/core/protobuf/{saved_model,meta_graph,
saved_object_graph}.proto, tensorflow/core/framework/{graph,function,node_def,op_def}
.proto and tf_keras/protobuf/saved_metadata.proto.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass

from auditor.loaders.protowire import LENGTH, ProtoError, fields, message, text

__all__ = ["MetadataNode", "keras_metadata", "legacy_metadata", "op_census"]


@dataclass(frozen=True, slots=True)
class MetadataNode:
    """One Keras object of a SavedModel: `root.layer_with_weights-0`, its kind
    (`_tf_keras_layer`, `_tf_keras_network`, ...) and its metadata JSON text."""

    path: str
    identifier: str
    metadata: bytes  # JSON, as stored (parsed and checked by `safe_json`)


def keras_metadata(data: bytes | memoryview) -> list[MetadataNode]:
    """The nodes of a `keras_metadata.pb`.

    Raises:
        ProtoError: when it is not a `SavedMetadata` message.
    """
    nodes = []
    for number, wire, value in fields(data):
        if number != 1 or wire != LENGTH:
            continue
        node = message(value)
        nodes.append(
            MetadataNode(
                path=_text(node, 3),
                identifier=_text(node, 4),
                metadata=_bytes(node, 5),
            )
        )
    return nodes


def _bytes(found: dict, number: int) -> bytes:
    values = found.get(number)
    return bytes(values[-1]) if values and isinstance(values[-1], memoryview) else b""


def _text(found: dict, number: int) -> str:
    values = found.get(number)
    return text(values[-1]) if values else ""


def _submessages(data: bytes | memoryview, number: int) -> Iterator[memoryview]:
    for found, wire, value in fields(data):
        if found == number and wire == LENGTH:
            assert isinstance(value, memoryview)
            yield value


def _meta_graphs(data: bytes | memoryview) -> Iterator[memoryview]:
    return _submessages(data, 2)


def op_census(data: bytes | memoryview) -> Counter[tuple[str, str]]:
    """How often each op appears, by (function, op): the function's name, or "" for the
    top-level graph, over every meta graph.

    Raises:
        ProtoError: when `saved_model.pb` is malformed.
    """
    counts: Counter[tuple[str, str]] = Counter()
    for meta_graph in _meta_graphs(data):
        for graph in _submessages(meta_graph, 2):
            for number, wire, value in fields(graph):
                if wire != LENGTH:
                    continue
                assert isinstance(value, memoryview)
                if number == 1:
                    counts[("", _op(value))] += 1
                elif number == 2:
                    for function in _submessages(value, 1):
                        _count_function(function, counts)
    return counts


def _count_function(function: memoryview, counts: Counter[tuple[str, str]]) -> None:
    name = ""
    ops: Counter[str] = Counter()
    for number, wire, value in fields(function):
        if wire != LENGTH:
            continue
        assert isinstance(value, memoryview)
        if number == 3:  # node_def
            ops[_op(value)] += 1
        elif number == 1:  # signature: OpDef, name = 1
            name = _text(message(value), 1)
    for op, count in ops.items():
        counts[(name or "?", op)] += count


def _op(node: memoryview) -> str:
    """A NodeDef's op (field 2). TensorFlow writes fields in number order, so the op is
    read right after the name without walking the inputs and attributes."""
    if len(node) > 2 and node[0] == 0x0A and node[1] < 0x80:  # name, under 128 bytes
        start = 2 + node[1]
        end = start + 2 + node[start + 1] if start + 1 < len(node) else len(node) + 1
        if end <= len(node) and node[start] == 0x12 and node[start + 1] < 0x80:
            return bytes(node[start + 2 : end]).decode("utf-8", "replace")
    for number, wire, value in fields(node):
        if number == 2 and wire == LENGTH:
            return text(value)
    return ""


#: Local names under which a Keras object graph links objects that are not its
#: layers' structure (lists of the same variables, traced functions, metrics).
_SKIPPED_CHILDREN = frozenset(
    {
        "variables",
        "trainable_variables",
        "non_trainable_variables",
        "regularization_losses",
        "keras_api",
        "signatures",
    }
)


def legacy_metadata(data: bytes | memoryview, max_nodes: int) -> list[MetadataNode]:
    """The Keras metadata TensorFlow < 2.5 wrote into `saved_model.pb`'s object graph:
    each user object with a `_tf_keras_` identifier and metadata, with its path from the
    root (breadth first, the first path found, as tf.keras names nodes).

    Raises:
        ProtoError: when `saved_model.pb` is malformed or its graph has over `max_nodes`
            nodes.
    """
    for meta_graph in _meta_graphs(data):
        for graph in _submessages(meta_graph, 7):
            return _walk(list(_submessages(graph, 1)), max_nodes)
    return []


def _walk(nodes: list[memoryview], max_nodes: int) -> list[MetadataNode]:
    if len(nodes) > max_nodes:
        raise ProtoError(f"the object graph has {len(nodes):,} nodes, over {max_nodes:,}")
    paths = {0: "root"}
    queue = deque([0])
    found = []
    while queue:
        node_id = queue.popleft()
        if not 0 <= node_id < len(nodes):
            continue
        node = message(nodes[node_id])
        user = node.get(4)
        if user and isinstance(user[-1], memoryview):
            detail = message(user[-1])
            identifier, metadata = _text(detail, 1), _bytes(detail, 3)
            if identifier.startswith("_tf_keras_") and metadata:
                found.append(MetadataNode(paths[node_id], identifier, metadata))
        for child in node.get(1, []):
            if not isinstance(child, memoryview):
                continue
            reference = message(child)
            target = reference.get(1, [0])[-1]
            name = _text(reference, 2)
            if not isinstance(target, int) or target in paths or name in _SKIPPED_CHILDREN:
                continue
            paths[target] = f"{paths[node_id]}.{name}"
            queue.append(target)
    return found
