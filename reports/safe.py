"""Text from a report made harmless in an output that a terminal, a CI runner or a Markdown
renderer interprets.

A finding quotes names that come from the audited file: a layer name may hold an escape
sequence (`ESC ]` sets a terminal's title, `ESC [` recolours or hides text), a carriage
return or line feed (a text log line starting `::error` is a GitHub Actions workflow
command), a bidirectional override that shows a name reversed, or a control character
that makes XML ill-formed. `visible` writes each such character as an escape, as Python
writes it (`\\x1b`, `\\n`, `\\u202e`), so the text shows what the file holds and does
nothing else.
"""

from __future__ import annotations

__all__ = ["visible"]

_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_ESCAPES |= {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
# Line and paragraph separators, and the marks and overrides of bidirectional text.
_FORMAT = (0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_ESCAPES |= {code: f"\\u{code:04x}" for code in _FORMAT}
_TABLE = str.maketrans(_ESCAPES)


def visible(text: str) -> str:
    """`text` with every control character, line separator and bidirectional control
    written as its escape; printable text unchanged."""
    return text if text.isprintable() else text.translate(_TABLE)
