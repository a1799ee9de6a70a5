"""Layers found by path or by config key, and paths listed in messages."""

from __future__ import annotations

from collections.abc import Iterable

from auditor.graph.model import LayerNode, ModelGraph

__all__ = ["common_prefix", "layer_index", "layer_of", "paths_text"]


def layer_of(model: ModelGraph, path: str) -> LayerNode | None:
    """The layer node at a path."""
    for node in model.root.walk():
        if node.path == path:
            return node
    return None


def common_prefix(paths: Iterable[str]) -> str:
    """The deepest layer path containing all of `paths` (`""` = the model)."""
    split = [p.split("/") for p in paths]
    if not split:
        return ""
    prefix: list[str] = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1:
            break
        prefix.append(parts[0])
    return "/".join(prefix)


def paths_text(paths: list[str], limit: int = 5) -> str:
    """`a, b, c and 12 more` for messages; the full list goes into `details`."""
    shown = ", ".join(f"`{p}`" for p in paths[:limit])
    rest = len(paths) - limit
    return f"{shown} and {rest} more" if rest > 0 else shown


def layer_index(model: ModelGraph) -> dict[str, LayerNode]:
    """Layer config key -> layer (the root model excluded), for `walk_objects`."""
    return {node.config_key: node for node in model.root.walk() if node.path and node.config_key}


def nearest_model(model: ModelGraph) -> dict[str, str]:
    """Layer path -> path of the innermost model containing it (`""` = the root)."""
    containers: dict[str, str] = {}
    stack: list[tuple[LayerNode, str]] = [(model.root, "")]
    while stack:
        node, container = stack.pop()
        containers[node.path] = container
        inner = node.path if node.is_model else container
        stack.extend((child, inner) for child in node.children)
    return containers


def freezing_root(model: ModelGraph, layer_path: str) -> LayerNode | None:
    """The outermost layer or model on the way to `layer_path` that is declared frozen."""
    chain: list[LayerNode] = []

    def descend(node: LayerNode) -> bool:
        chain.append(node)
        if node.path == layer_path or any(descend(child) for child in node.children):
            return True
        chain.pop()
        return False

    descend(model.root)
    return next((node for node in chain if not node.declared_trainable), None)
