"""Untrusted JSON, parsed as data: size-capped, depth-checked, no object hooks.

Nesting past Python's recursion limit is caught as it parses, and the depth of what it
parsed is then checked against the cap on the bytes themselves, strings cut out, at C
speed. Nothing in a document is ever instantiated.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from auditor.errors import ModelLoadError, first_line
from auditor.graph.model import IssueKind
from auditor.limits import Limits
from auditor.text import has_surrogates, safe_tree

__all__ = ["json_depth", "json_values", "parse_json", "skeleton"]


def parse_json(data: bytes, what: str, limits: Limits, *, detect: bool = False) -> Any:
    """Parse untrusted JSON: size-capped, depth-checked, no object hooks, every string in
    it made safe (`auditor.text.safe_tree`).

    Args:
        data: bytes, the document.
        what: str, its name, for messages.
        limits: Limits, the caps.
        detect: bool, decode as `json.loads(bytes)` does, which Keras uses for the members
            of a `.keras` archive: UTF-8, UTF-16 or UTF-32 as the first bytes tell, a UTF-8
            byte-order mark skipped. Otherwise UTF-8 only, as Keras decodes the JSON
            attributes of a legacy `.h5` file.

    Raises:
        ModelLoadError: on a size/depth cap, undecodable text or invalid JSON.
    """
    if len(data) > limits.max_json_bytes:
        raise ModelLoadError(
            f"{what} is {len(data):,} bytes, over the {limits.max_json_bytes:,}-byte cap",
            IssueKind.OVER_LIMIT,
        )
    encoding = json.detect_encoding(data) if detect else "utf-8"
    text = None if encoding == "utf-8" else _decode(data, encoding, what)
    # What lies outside the document's strings, in UTF-8 whatever it was encoded in: its
    # values are counted before any text or object is built from it.
    outside = skeleton(data if text is None else text.encode("utf-8", "surrogatepass"))
    values = json_values(outside)
    if values > limits.max_json_values:
        raise ModelLoadError(
            f"{what} holds {values:,} values, over the {limits.max_json_values:,}-value cap",
            IssueKind.OVER_LIMIT,
        )
    text = _decode(data, encoding, what) if text is None else text
    try:
        value = json.loads(text)
    except RecursionError:
        raise ModelLoadError(
            f"{what} is nested too deeply to parse", IssueKind.OVER_LIMIT
        ) from None
    except ValueError as exc:
        raise ModelLoadError(f"{what} is not valid JSON ({first_line(exc)})") from None
    depth = json_depth(outside)
    if depth > limits.max_json_depth:
        raise ModelLoadError(
            f"{what} is nested {depth} levels deep, over the {limits.max_json_depth}-level cap",
            IssueKind.OVER_LIMIT,
        )
    # A lone surrogate is either in the text (decoded with `surrogatepass`) or escaped in it.
    if has_surrogates(text) or _SURROGATE_ESCAPE.search(text):
        return safe_tree(value)
    return value


def _decode(data: bytes, encoding: str, what: str) -> str:
    """The text of a document: UTF-8 strictly, as Keras's `.decode("utf-8")`, or what
    `json.loads(bytes)` detected, as it decodes it (with `surrogatepass`)."""
    try:
        return data.decode(encoding, "strict" if encoding == "utf-8" else "surrogatepass")
    except UnicodeDecodeError as exc:
        raise ModelLoadError(f"{what} is not valid JSON ({first_line(exc)})") from None


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_OPEN, _CLOSE = np.frombuffer(b"[{", np.uint8), np.frombuffer(b"]}", np.uint8)


def json_depth(skeleton: bytes) -> int:
    """Container nesting depth of a valid JSON text (`[[1]]` is 2), from its skeleton (the
    bytes outside its strings), at C speed."""
    brackets = np.frombuffer(skeleton, np.uint8)
    opens, closes = np.isin(brackets, _OPEN), np.isin(brackets, _CLOSE)
    steps = opens[opens | closes].astype(np.int8) * 2 - 1  # +1 open, -1 close, in order
    return int(np.cumsum(steps, dtype=np.int64).max()) if steps.size else 0


def json_values(skeleton: bytes) -> int:
    """How many values a valid JSON text holds, from its skeleton: the document itself and
    every element of every container (`[[], [1]]` holds 4). What parsing it would build.

    Each comma separates two elements, and a container that is not empty holds one more
    element than it has commas. Counted with bytes operations: no array as long as the
    text (a document over the cap may be tens of megabytes).
    """
    tight = skeleton.translate(None, b" \t\r\n")
    empty = tight.count(b"[]") + tight.count(b"{}")
    return 1 + tight.count(b",") + tight.count(b"[") + tight.count(b"{") - empty


def skeleton(data: bytes) -> bytes:
    """The bytes of a valid JSON text (UTF-8) that lie outside its strings, each string
    standing as one quote.

    Backslashes occur only inside strings and pair up left to right, so once every
    escaped backslash is gone a backslash before a quote escapes it; with those gone too,
    the remaining quotes alternate: open, close.
    """
    bare = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b'"'.join(bare.split(b'"')[::2])
