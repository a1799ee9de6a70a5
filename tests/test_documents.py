"""auditor.graph.documents: the walk over a file's JSON documents that the SEC rules share."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from auditor.graph.documents import walk_objects
from auditor.graph.model import LayerNode
from auditor.graph.paths import layer_index
from auditor.loaders import open_model


def layer_at(index: Mapping[str, LayerNode], key_path: str) -> LayerNode | None:
    """The oracle: the innermost layer whose config contains `key_path`, found by trimming
    the path from the right (`config.layers[3].config.function` -> `config.layers[3].config`
    -> `config.layers[3]`)."""
    path = key_path
    while path:
        node = index.get(path)
        if node is not None:
            return node
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            return None
        path = path[:cut]
    return None


# Weights-only files hold no document to walk.
EXAMPLES = sorted(
    p
    for p in (Path(__file__).resolve().parents[1] / "examples" / "models").iterdir()
    if not p.name.endswith(".weights.h5")
)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_walk_tracks_the_layer_that_layer_at_finds(path):
    """Descending with the layer in hand gives what trimming each key path finds."""
    with open_model(path) as loaded:
        model = loaded.graph
        index = layer_index(model)
        seen = 0
        for _, document in model.documents:
            for key_path, _, layer in walk_objects(document, index):
                assert layer is layer_at(index, key_path), key_path
                seen += layer is not None
        assert seen > 0


def test_objects_come_depth_first_with_their_key_paths():
    document = {"a": [{"b": {"c": 1}}, 2, [{"d": {}}]], "e": "x"}
    paths = [path for path, _, _ in walk_objects(document)]
    assert paths == ["", "a[0]", "a[0].b", "a[2][0]", "a[2][0].d"]


class _Frozen(Mapping):
    """A read-only mapping that is not a dict (live models hand over such configs)."""

    def __init__(self, data):
        self._data = data

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)


class _Listed(list):
    """A list subclass (Keras wraps lists it tracks in one)."""


def test_mappings_and_lists_of_other_types_are_walked_like_dicts_and_lists():
    inner = _Frozen({"n": 1, "deeper": {"m": None}})
    document = _Frozen({"a": _Listed([inner, "x", 2.5, True]), "b": {"c": [{"d": "y"}]}})
    walked = [(path, value) for path, value, _ in walk_objects(document)]
    assert walked == [
        ("", document),
        ("a[0]", inner),
        ("a[0].deeper", {"m": None}),
        ("b", {"c": [{"d": "y"}]}),
        ("b.c[0]", {"d": "y"}),
    ]


@pytest.mark.parametrize("document", ["config", 3, None, [1, "two", 3.0]])
def test_a_document_without_objects_yields_nothing(document):
    assert list(walk_objects(document)) == []
