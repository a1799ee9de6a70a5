"""Models at a URL (`s3://`, `gs://`, `az://`, `hf://`, `http(s)://`, `memory://`...),
through fsspec: an object opened for reads by byte range (`open_url`, a
`range_file.RangeFile`), and the model files a prefix or a pattern names (`list_url`).

Credentials come from each protocol's own chain (environment, profile files, instance
roles); the URL a user gives is shown with its user, password and query values redacted
(`auditor.text.display_path`). The protocol packages are the `remote` extra; a missing
one is a one-line error that names it.
"""

from __future__ import annotations

from typing import Any

from auditor.errors import ModelLoadError, first_line
from auditor.graph.model import IssueKind
from auditor.loaders.range_file import RangeFile, Transfer, reason
from auditor.text import display_path, is_url

__all__ = ["RangeFile", "Transfer", "filesystem", "list_url", "open_url", "reason"]


def open_url(url: str, transfer: Transfer | None = None) -> RangeFile:
    """Open the object a URL names for ranged reads (counted in `transfer`, when given,
    with the other objects of its model).

    Raises:
        ModelLoadError: when the protocol's package is missing, or the object cannot be
            found or read (one line naming the URL, redacted, and the reason).
    """
    if not is_url(url):
        raise ModelLoadError(f"{display_path(url)!r} is not a URL")
    fs, path = filesystem(url)
    try:
        info = fs.info(path)
    except Exception as exc:  # every protocol raises its own errors
        raise ModelLoadError(reason(exc, url)) from None
    if info.get("type") == "directory":
        raise ModelLoadError(
            f"{display_path(url)} is a prefix (a folder), not an object: end it with / to "
            "audit the model files below it"
        )
    size = info.get("size")
    if not isinstance(size, int):
        raise ModelLoadError(f"{display_path(url)} does not report its size")
    return RangeFile(fs, path, size, url, transfer)


def list_url(url: str, suffixes: tuple[str, ...], max_entries: int) -> list[str]:
    """The model files a URL names: itself, unread, unless it ends in `/` (a prefix: the
    objects with a model suffix below it, sorted) or is a pattern (`s3://bucket/**/*.keras`;
    `*` and `[...]` only, as a `?` starts a query). A prefix that holds a SavedModel or a
    model folder yields that folder as one model.

    Raises:
        ModelLoadError: when the listing fails or lists more than `max_entries`.
    """
    pattern = "?" not in url and any(mark in url.split("://", 1)[1] for mark in "*[")
    if not pattern and not url.endswith("/"):
        return [url]  # an object: opened (or reported) when it is audited
    fs, path = filesystem(url)
    protocol = url.split("://", 1)[0]
    try:
        if pattern:
            found = fs.glob(path, maxdepth=None)
        else:
            found = fs.find(path, maxdepth=None, withdirs=False)
    except Exception as exc:  # every protocol raises its own errors
        raise ModelLoadError(reason(exc, url)) from None
    if len(found) > max_entries:
        raise ModelLoadError(
            f"{display_path(url)} lists {len(found):,} objects, over the {max_entries:,} cap "
            "(limits.max-discovered-entries)",
            IssueKind.OVER_LIMIT,
        )
    models: dict[str, None] = {}
    for name in sorted(str(p) for p in found):
        folder, _, base = name.rpartition("/")
        if base in ("saved_model.pb", "config.json"):
            models[f"{protocol}://{folder}/"] = None
        elif base.lower().endswith(suffixes) and not _in_model_folder(name, models, protocol):
            models[f"{protocol}://{name}"] = None
    return list(models)


def _in_model_folder(name: str, models: dict[str, None], protocol: str) -> bool:
    return any(
        folder.endswith("/") and f"{protocol}://{name}".startswith(folder) for folder in models
    )


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of a URL and the path within it.

    Raises:
        ModelLoadError: naming the `remote` extra, when the protocol's package is missing.
    """
    try:
        import fsspec
    except ImportError:
        raise ModelLoadError(
            "reading URLs needs fsspec: pip install 'keras-audit[remote]'"
        ) from None
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise ModelLoadError(
            f"cannot open {display_path(url)}: {first_line(exc)} "
            "(pip install 'keras-audit[remote]' installs s3fs, gcsfs, adlfs and aiohttp)"
        ) from None
