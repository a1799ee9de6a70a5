"""The model files a run audits: folders searched and glob patterns expanded, within
bounds.

A folder is searched for `*.keras`, `*.h5`, `*.hdf5` and sharded-weights indexes
(`*.weights.json`, whose `NAME_00000.weights.h5` shards are not audited again), and for
model folders (an unzipped `.keras`: `config.json` and `model.weights.h5`; a SavedModel:
`saved_model.pb`), each one model whose files are not searched again; a pattern
(`models/**/*.keras`) is matched as `glob` matches it, `**` standing for any number of
folders. Neither follows a symbolic link to a folder (a link to a file is a file), so a
link back up the tree (`x -> .`) cannot make the search endless; and a search that lists
more than `limits.max_discovered_entries`, or takes longer than the per-file time limit,
stops with a usage error that says so.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from auditor.errors import ModelLoadError, UsageError
from auditor.loaders import MODEL_SUFFIXES, is_model_folder, is_saved_model
from auditor.numbers import number
from auditor.text import display_path, is_url

__all__ = ["discover", "is_glob"]


def is_glob(text: str) -> bool:
    """True for a path pattern with `*`, `?` or `[...]`."""
    return any(char in text for char in "*?[")


def discover(
    paths: Iterable[str | os.PathLike[str]],
    *,
    max_entries: int = 10_000_000,
    seconds: float | None = None,
) -> list[str]:
    """The model files of `paths`, without duplicates: folders searched, patterns that
    name no existing file expanded (each sorted), plain files kept as given.

    Args:
        max_entries: int, the most folder entries one search may list.
        seconds: float | None, the time one search may take.

    Raises:
        UsageError: when a search lists more entries, or takes longer, than allowed.
    """
    found: list[str] = []
    for raw in paths:
        text = os.fspath(raw)
        path = Path(text)
        if is_url(text):
            found.extend(_listed(text, max_entries))
        elif not path.exists() and is_glob(text):
            found.extend(_matches(text, max_entries, seconds))
        elif path.is_dir() and path.suffix.lower() not in MODEL_SUFFIXES and not _is_model(path):
            found.extend(
                sorted(
                    entry
                    for entry, kind in _entries(text, text, max_entries, seconds)
                    if kind == _MODEL or (kind == _FILE and entry.lower().endswith(MODEL_SUFFIXES))
                )
            )
        else:
            found.append(text)
    return _without_shards(list(dict.fromkeys(found)))


_SHARD = re.compile(r"(.+)_\d+\.weights\.h5", re.IGNORECASE)


def _listed(url: str, max_entries: int) -> list[str]:
    """The model files a URL names (an object, a prefix, a pattern), listed through
    fsspec; a listing that fails is a usage error naming the URL."""
    from auditor.loaders.remote import list_url

    try:
        return list_url(url, MODEL_SUFFIXES, max_entries)
    except ModelLoadError as exc:
        raise UsageError(f"cannot list {display_path(url)}: {exc}") from None


def _without_shards(found: list[str]) -> list[str]:
    """`found` less the shards of sharded weights found with their index: `NAME_00000.
    weights.h5` beside a `NAME.weights.json` that is audited (with its shards)."""
    indexes = {f.lower() for f in found if f.lower().endswith(".weights.json")}
    kept = []
    for path in found:
        match = _SHARD.fullmatch(path)
        if match and f"{match.group(1)}.weights.json".lower() in indexes:
            continue
        kept.append(path)
    return kept


def _matches(pattern: str, max_entries: int, seconds: float | None) -> list[str]:
    """What a pattern matches, as `glob` matches it: the files it names (whatever their
    suffix), then the model files in the folders it names."""
    root, regex = _split_pattern(pattern)
    files: list[str] = []
    # `models/**` names the folder `models` itself too, as `glob` matches it.
    folders = [root] if root != "." and pattern.rstrip(os.sep).endswith(f"{os.sep}**") else []
    for entry, kind in _entries(root, pattern, max_entries, seconds):
        model = kind == _MODEL or (kind == _FILE and entry.lower().endswith(MODEL_SUFFIXES))
        if regex.fullmatch(entry):
            (folders if kind == _FOLDER else files).append(entry)
        elif model:
            files.extend(entry for top in folders if entry.startswith(top + os.sep))
    return sorted(files)


_FILE, _FOLDER, _MODEL = "file", "folder", "model folder"


def _is_model(path: str | Path) -> bool:
    """A folder that is one model: an unzipped `.keras` or a SavedModel."""
    return is_model_folder(path) or is_saved_model(path)


def _entries(
    root: str, asked: str, max_entries: int, seconds: float | None
) -> Iterator[tuple[str, str]]:
    """(path, kind) for everything below `root`, each folder before what it holds; links
    to files are files, links to folders are not followed, and a model folder is one
    entry whose files are not listed. Paths are `root` joined with the entry's, without
    a leading `./`. `asked` names the search in errors."""
    deadline = None if seconds is None else time.monotonic() + seconds
    listed = 0
    folders = [root]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as entries:
                children = sorted(entries, key=lambda entry: entry.name)
        except OSError:
            continue  # a folder that cannot be listed holds nothing this run can read
        for entry in children:
            listed += 1
            if listed > max_entries:
                raise UsageError(
                    f"stopped searching {display_path(asked)!r}: it lists more than "
                    f"{number(max_entries)} entries (limits.max-discovered-entries)"
                )
            path = entry.path[2:] if folder == "." else entry.path
            try:
                if entry.is_dir(follow_symlinks=False):
                    if _is_model(path):
                        yield path, _MODEL
                    else:
                        folders.append(path)
                        yield path, _FOLDER
                elif entry.is_file():
                    yield path, _FILE
            except OSError:
                continue
        if deadline is not None and time.monotonic() > deadline:
            raise UsageError(
                f"stopped searching {display_path(asked)!r}: it took longer than the "
                f"per-file time limit of {number(seconds)} s (timeout setting)"
            )


def _split_pattern(pattern: str) -> tuple[str, re.Pattern[str]]:
    """The folder a pattern's search starts in (its parts before the first wildcard), and
    the pattern as a regular expression over the paths found below it."""
    parts = pattern.split(os.sep)  # noqa: PTH206 (the pattern's text: its regex is built from it)
    fixed = 0
    while fixed < len(parts) - 1 and not is_glob(parts[fixed]):
        fixed += 1
    head = os.sep.join(parts[:fixed])  # noqa: PTH118
    if fixed and not head:  # `/x*`: the search starts at the root folder
        head = os.sep
    root = head or "."
    prefix = "" if not fixed else re.escape(head if head.endswith(os.sep) else head + os.sep)
    return root, re.compile(prefix + _translate(parts[fixed:]), re.S)


def _translate(parts: list[str]) -> str:
    """Pattern parts as a regular expression, as `glob.glob(recursive=True)` reads them:
    `**` any number of folders, `*` and `?` within one name, `[...]` a set; a wildcard
    matches no name that starts with a dot unless the part itself does."""
    sep = re.escape(os.sep)
    out = []
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        name = f"(?!\\.)[^{sep}]+"  # a name a wildcard matches
        if part == "**":  # any number of folders; last, any number of names
            out.append(f"(?:{name}{sep})*" if not last else f"(?:{name}(?:{sep}{name})*)?")
            continue
        hidden = "" if part.startswith(".") else "(?!\\.)"
        out.append(hidden + _translate_name(part) + ("" if last else sep))
    return "".join(out)


def _translate_name(part: str) -> str:
    sep = re.escape(os.sep)
    out, i = [], 0
    while i < len(part):
        char = part[i]
        if char == "*":
            out.append(f"[^{sep}]*")
        elif char == "?":
            out.append(f"[^{sep}]")
        elif char == "[" and (end := part.find("]", i + 2)) != -1:
            inner = part[i + 1 : end]
            negate = inner.startswith("!")
            inner = inner[1:] if negate else inner
            out.append(f"[{'^' if negate else ''}{inner.replace(chr(92), chr(92) * 2)}]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)
