"""Outputs written model by model, so a run's memory does not grow with the number of
files it audits.

Each model's part is rendered, for every output, as soon as the model is audited with its
suppressions and baseline applied, and kept in an anonymous temporary file. When the run
ends, each document is written around its parts. The text is exactly what the format's
`render` gives for the whole report (`reports.Pieces`), and the run keeps nothing of a
model once its parts are written.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack

from auditor.errors import UsageError
from auditor.reports import Pieces, RenderOptions, pieces
from auditor.results.findings import ModelReport, Report

__all__ = ["Spool", "Spools"]


class Spool:
    """The rendered parts of one output, on disk until the document is written.

    Args:
        pieces: the format's per-model renderer.
        options: RenderOptions, the same for the parts and the document.
        label: str, the output as the user named it, for error messages.
    """

    def __init__(self, pieces: Pieces, options: RenderOptions, label: str) -> None:
        self._pieces = pieces
        self._options = options
        self._label = label
        self._sizes: list[tuple[int, int]] = []  # each model's part, then its row
        try:
            self._file = tempfile.TemporaryFile(prefix="keras-audit-")  # noqa: SIM115 (closed by close())
        except OSError as exc:
            raise self._error(exc) from None

    def add(self, model: ModelReport) -> None:
        """Render the next model's part (and overview row) and put them on disk."""
        index = len(self._sizes) + 1
        part = self._pieces.model(model, index, options=self._options).encode("utf-8")
        row = b""
        if self._pieces.row is not None:
            row = self._pieces.row(model, index, options=self._options).encode("utf-8")
        try:
            self._file.write(part + row)
        except OSError as exc:
            raise self._error(exc) from None
        self._sizes.append((len(part), len(row)))

    def document(self, report: Report) -> Iterator[str]:
        """The whole output in pieces; `report` is that of the run that fed the spool: it
        counts the spooled models, and holds all of them or none."""
        spooled = len(self._sizes)
        if report.summary.models != spooled or len(report.models) not in (0, spooled):
            raise ValueError(
                f"the report counts {report.summary.models} models and holds "
                f"{len(report.models)}, but {len(self._sizes)} were spooled; expected the "
                "report of the run that fed this spool"
            )
        if self._pieces.row is None:
            return self._pieces.document(report, self, options=self._options)
        return self._pieces.document(report, self, rows=_Rows(self), options=self._options)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[str]:
        """The parts, in order, read back from disk (each iteration reads them again: a
        document may read its parts twice)."""
        return self._read(rows=False)

    def _read(self, *, rows: bool) -> Iterator[str]:
        self._file.flush()
        self._file.seek(0)
        for part, row in self._sizes:
            if rows:
                self._file.seek(part, 1)
                yield self._file.read(row).decode("utf-8")
            else:
                yield self._file.read(part).decode("utf-8")
                self._file.seek(row, 1)

    def _error(self, exc: OSError) -> UsageError:
        return UsageError(
            f"cannot keep the {self._label} output in a temporary file ({exc.strerror}); "
            "expected a writable temporary folder (set TMPDIR)"
        )


class _Rows:
    """A spool's overview rows, in order, read back from disk on each iteration."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool

    def __iter__(self) -> Iterator[str]:
        return self._spool._read(rows=True)


class Spools:
    """A spool for each output, by its position in the run's list of outputs. A context
    manager: leaving it deletes the spools.

    Args:
        formats: the format of each output, in order; None for an output written without
            its models' parts (`--quiet` text: the summary line alone), which gets no spool.
        options: the RenderOptions of each output, in the same order.

    Raises:
        UsageError: when a temporary file cannot be created.
    """

    def __init__(self, formats: Sequence[str | None], options: Sequence[RenderOptions]) -> None:
        with ExitStack() as stack:  # a spool that fails to open closes those before it
            self._spools = [
                None if fmt is None else stack.enter_context(Spool(pieces(fmt), opts, fmt.upper()))
                for fmt, opts in zip(formats, options, strict=True)
            ]
            self._stack = stack.pop_all()

    def __getitem__(self, index: int) -> Spool:
        """The spool of the output at `index`.

        Raises:
            KeyError: when that output has no spool (its format was None).
        """
        spool = self._spools[index]
        if spool is None:
            raise KeyError(f"output {index} is written without parts and has no spool")
        return spool

    def hook(self, model: ModelReport) -> None:
        """The engine's `on_model`: each output's part of `model` goes to its spool, and the
        run keeps nothing of the model."""
        for spool in self._spools:
            if spool is not None:
                spool.add(model)

    def __enter__(self) -> Spools:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
