"""Text from a file or a file name, made safe once, where it enters keras-audit.

Python strings may hold lone surrogates that no encoder accepts: JSON allows them
(`"\\udc80"` is a valid string), and Python decodes a file name's undecodable bytes to
them. Left in, the first report that encodes such a name as UTF-8 fails. The loaders pass
every string they take from a file through `safe_text` (a document through `safe_tree`),
and reports name a file by `display_path`.
"""

from __future__ import annotations

import os
import re
from typing import Any

__all__ = ["display_path", "has_surrogates", "is_url", "redact_url", "safe_text", "safe_tree"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogates(text: str) -> bool:
    """True when `text` holds a lone surrogate."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def safe_text(text: str) -> str:
    """`text` with each lone surrogate written as its escape (`\\udc80`), visible and
    encodable; any other text unchanged."""
    if text.isascii():
        return text
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def safe_tree(value: Any) -> Any:
    """A parsed JSON document with every string in it, keys included, made safe.

    Iterative, so that no nesting can exhaust the stack. Containers are rebuilt only where
    they hold something to change.
    """
    if isinstance(value, str):
        return safe_text(value)
    if not isinstance(value, dict | list):
        return value
    root: list[Any] = [value]
    stack: list[tuple[dict[Any, Any] | list[Any], Any]] = [(root, 0)]
    while stack:
        container, key = stack.pop()
        item = container[key]
        if isinstance(item, str):
            container[key] = safe_text(item)
        elif isinstance(item, list):
            stack.extend((item, index) for index in range(len(item)))
        elif isinstance(item, dict):
            if any(isinstance(name, str) and has_surrogates(name) for name in item):
                item = {safe_text(k) if isinstance(k, str) else k: v for k, v in item.items()}
                container[key] = item
            stack.extend((item, name) for name in item)
    return root[0]


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")
_QUERY_VALUE = re.compile(r"=[^&#]*")


def is_url(text: str) -> bool:
    """True for `scheme://...` (what fsspec opens), False for a local path."""
    return _URL.match(text) is not None


def redact_url(url: str) -> str:
    """A URL with its credentials hidden: the user and password (`user:secret@`) and the
    value of every query parameter (a signed URL's signature and token) become `***`."""
    url = _USERINFO.sub(r"\1***@", url)
    head, mark, rest = url.partition("?")
    if not mark:
        return url
    query, hash_mark, fragment = rest.partition("#")
    return f"{head}?{_QUERY_VALUE.sub('=***', query)}{hash_mark}{fragment}"


def display_path(path: str | os.PathLike[str]) -> str:
    """A file name as a report shows it: bytes that are not UTF-8 as `\\xff` escapes; a
    URL with its credentials redacted (`redact_url`)."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    return redact_url(text) if is_url(text) else text
