"""How a report model shows itself in a notebook: Jupyter calls `_repr_html_` for the
cell's output, and the REPL `__repr__`.

The report models import no renderer (they sit below them), so both ask the library
package, which owns the renderers (`auditor._display`, which imports `auditor.notebook`
when first called).
"""

from __future__ import annotations

__all__ = ["Displayed"]


class Displayed:
    """A report model that a notebook draws as the HTML report and a REPL prints as a few
    lines of text."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        from auditor import _display

        return _display(self, "html")

    def __repr__(self) -> str:
        from auditor import _display

        return _display(self, "text")
