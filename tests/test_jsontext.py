"""reports.jsontext: a JSON document written with its one array filled in piece by piece
is exactly the document `json.dumps` writes, whatever the values hold."""

from __future__ import annotations

import json

import pytest

from auditor.reports.jsontext import INDENT, fill_array, nested

# A value that imitates the array's key, on one line and as a nested key.
TRICKY = '\n  "items": []'


@pytest.mark.parametrize("count", [0, 1, 3])
def test_a_filled_array_is_the_document_json_writes(count):
    entries = [{"name": TRICKY, "values": [i, {"items": []}]} for i in range(count)]
    document = {"head": TRICKY, "items": entries, "tail": {"items": []}}
    outline = json.dumps({**document, "items": []}, indent=INDENT)
    texts = [nested(json.dumps(entry, indent=INDENT), 2) for entry in entries]
    assert "".join(fill_array(outline, "items", 1, texts)) == json.dumps(document, indent=INDENT)


def test_an_array_deeper_down():
    document = {"runs": [{"tool": "x", "results": [{"a": 1}, {"b": [2]}], "end": True}]}
    outline = json.dumps({"runs": [{"tool": "x", "results": [], "end": True}]}, indent=INDENT)
    texts = [nested(json.dumps(r, indent=INDENT), 4) for r in document["runs"][0]["results"]]
    assert "".join(fill_array(outline, "results", 3, texts)) == json.dumps(document, indent=INDENT)


def test_an_outline_without_the_empty_array_is_refused():
    outline = json.dumps({"items": [1]}, indent=INDENT)
    with pytest.raises(ValueError, match="expected an empty 'items' array at depth 1"):
        list(fill_array(outline, "items", 1, []))
    with pytest.raises(ValueError, match="at depth 2"):
        list(fill_array(json.dumps({"items": []}, indent=INDENT), "items", 2, []))
