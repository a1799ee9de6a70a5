"""JSON text written in pieces: an indented document whose one array is filled in entry by
entry, so that a document of many models is never built whole (JSON and SARIF)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["INDENT", "fill_array", "nested"]

INDENT = 2  # spaces per level, as `json.dumps(..., indent=2)` and pydantic write them


def nested(text: str, depth: int) -> str:
    """Indented JSON text (`text`, written at depth 0) as it sits `depth` levels down."""
    pad = " " * (INDENT * depth)
    return pad + text.replace("\n", "\n" + pad)


def fill_array(outline: str, key: str, depth: int, entries: Iterable[str]) -> Iterator[str]:
    """`outline`, indented JSON text whose array `key` (at `depth` levels) is empty, with
    `entries` (JSON texts already `nested` one level deeper) as that array, in pieces:
    exactly the text of the document with those entries.

    Raises:
        ValueError: when `outline` has no empty array `key` at `depth` levels.
    """
    # The only line indented by exactly `depth` levels that starts with the key (a JSON
    # string cannot hold a raw newline, so no value can imitate it).
    marker = "\n" + " " * (INDENT * depth) + f'"{key}": '
    head, found, tail = outline.partition(marker + "[]")
    if not found:
        raise ValueError(f"expected an empty {key!r} array at depth {depth} in the outline")
    yield head + marker + "["
    separator = "\n"
    for entry in entries:
        yield separator + entry
        separator = ",\n"
    yield ("]" if separator == "\n" else "\n" + " " * (INDENT * depth) + "]") + tail
