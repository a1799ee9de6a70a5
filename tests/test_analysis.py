"""auditor.analysis: the document walk that the SEC rules share."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.analysis import layer_at, layer_index, walk_documents, walk_objects
from auditor.loaders import open_model

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples" / "models").iterdir())


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
        names = [(name, key) for name, key, _ in walk_documents(model)]
        walked = [(n, k) for n, doc in model.documents for k, _, _ in walk_objects(doc)]
        assert names == walked


def test_objects_come_depth_first_with_their_key_paths():
    document = {"a": [{"b": {"c": 1}}, 2, [{"d": {}}]], "e": "x"}
    paths = [path for path, _, _ in walk_objects(document)]
    assert paths == ["", "a[0]", "a[0].b", "a[2][0]", "a[2][0].d"]
