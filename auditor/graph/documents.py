"""Every JSON object of a file's documents, walked with the layer that holds it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from auditor.graph.model import LayerNode

__all__ = ["walk_objects"]


def walk_objects(
    document: Any, index: Mapping[str, LayerNode] | None = None
) -> Iterator[tuple[str, Mapping[str, Any], LayerNode | None]]:
    """Every JSON object of one document, depth first: (key path, object, layer).

    `layer` is the innermost layer whose config entry (a key of `index`, see
    `layer_index`) holds the object, None outside any layer or without an index.
    Iterative: hostile nesting cannot exhaust the stack (the loaders already capped the
    depth). The SEC rules walk every object of every config, about 10,000 in a large
    model: scalars, most of the values, are ruled out by their exact type, before any
    ABC check (one on each value costed more than the rest of the walk).
    """
    stack: list[tuple[str, Any, LayerNode | None]] = []
    push = stack.append
    if _holds_objects(document):
        push(("", document, None))
    while stack:
        path, value, layer = stack.pop()
        if index is not None and path:
            layer = index.get(path, layer)
        kind = type(value)
        if kind is list or (kind is not dict and not isinstance(value, Mapping)):
            for i in range(len(value) - 1, -1, -1):  # pushed in reverse: popped in order
                if _holds_objects(item := value[i]):
                    push((f"{path}[{i}]", item, layer))
            continue
        yield path, value, layer
        prefix = f"{path}." if path else ""
        for key, item in reversed(list(value.items())):
            if _holds_objects(item):
                push((f"{prefix}{key}", item, layer))


def _holds_objects(value: Any) -> bool:
    """A JSON object or array (Mappings and lists of other types included)."""
    kind = type(value)
    if kind is dict or kind is list:
        return True
    return kind not in _JSON_SCALARS and isinstance(value, Mapping | list)


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})
