"""Untrusted JSON, parsed as data: size-capped, depth-checked, no object hooks.

Nesting past Python's recursion limit is caught as it parses, and the depth of what it
parsed is then checked against the cap on the bytes themselves, strings cut out, at C
speed. Nothing in a document is ever instantiated.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from auditor.errors import ModelLoadError, first_line
from auditor.graph.model import IssueKind
from auditor.limits import Limits

__all__ = ["parse_json"]


def parse_json(data: bytes, what: str, limits: Limits) -> Any:
    """Parse untrusted JSON: size-capped, depth-checked, no object hooks.

    Raises:
        ModelLoadError: on a size/depth cap, invalid UTF-8 or invalid JSON.
    """
    if len(data) > limits.max_json_bytes:
        raise ModelLoadError(
            f"{what} is {len(data):,} bytes, over the {limits.max_json_bytes:,}-byte cap",
            IssueKind.OVER_LIMIT,
        )
    try:
        text = data.decode("utf-8")
        value = json.loads(text)
    except RecursionError:
        raise ModelLoadError(
            f"{what} is nested too deeply to parse", IssueKind.OVER_LIMIT
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelLoadError(f"{what} is not valid JSON ({first_line(exc)})") from None
    depth = json_depth(data)
    if depth > limits.max_json_depth:
        raise ModelLoadError(
            f"{what} is nested {depth} levels deep, over the {limits.max_json_depth}-level cap",
            IssueKind.OVER_LIMIT,
        )
    return value


_OPEN, _CLOSE = np.frombuffer(b"[{", np.uint8), np.frombuffer(b"]}", np.uint8)


def json_depth(data: bytes) -> int:
    """Container nesting depth of a valid JSON text (`[[1]]` is 2), at C speed: strings
    are cut out, then the brackets are counted."""
    skeleton = np.frombuffer(_outside_strings(data), np.uint8)
    opens, closes = np.isin(skeleton, _OPEN), np.isin(skeleton, _CLOSE)
    steps = opens[opens | closes].astype(np.int8) * 2 - 1  # +1 open, -1 close, in order
    return int(np.cumsum(steps, dtype=np.int64).max()) if steps.size else 0


def _outside_strings(data: bytes) -> bytes:
    """The bytes of a valid JSON text that lie outside its strings.

    Backslashes occur only inside strings and pair up left to right, so once every
    escaped backslash is gone a backslash before a quote escapes it; with those gone too,
    the remaining quotes alternate: open, close.
    """
    bare = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(bare.split(b'"')[::2])
