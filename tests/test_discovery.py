"""Finding the model files of folders and patterns: what `glob` finds, and never endless."""

from __future__ import annotations

import glob
import time
from pathlib import Path

import pytest

from auditor.engine.discovery import discover
from auditor.errors import UsageError

TREE = (
    "top.keras",
    "top.txt",
    ".hidden.keras",
    "a/one.h5",
    "a/two.hdf5",
    "a/notes.md",
    "a/b/three.keras",
    "a/b/c/four.keras",
    "a/.dot/five.keras",
    "d.keras/six.keras",  # a folder named like a model
    "runs/1/checkpoints/seven.keras",
    "runs/2/checkpoints/eight.h5",
)


@pytest.fixture
def tree(tmp_path, monkeypatch):
    for name in TREE:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _glob(pattern: str) -> list[str]:
    """What the previous discovery gave: `glob` matches, files kept, folders searched."""
    matches = sorted(glob.glob(pattern, recursive=True))  # noqa: PTH207 (the reference)
    files = [m for m in matches if not Path(m).is_dir()]
    for folder in (m for m in matches if Path(m).is_dir()):
        files += sorted(
            str(p)
            for p in Path(folder).rglob("*")
            if p.suffix in (".keras", ".h5", ".hdf5") and p.is_file()
        )
    return list(dict.fromkeys(files))


@pytest.mark.parametrize(
    "pattern",
    [
        "**/*.keras",
        "*.keras",
        "a/*",
        "a/**",
        "a/**/*.keras",
        "**/checkpoints",
        "runs/*/checkpoints/*.h5",
        "a/[ab]/*.keras",
        "a/[!a]/*.keras",
        "a/?/three.keras",
        "**/.dot/*.keras",
        "nothing/**/*.keras",
    ],
)
def test_a_pattern_finds_what_glob_finds(tree, pattern):
    assert sorted(discover([pattern])) == sorted(_glob(pattern))


def test_an_absolute_pattern_and_a_folder(tree):
    assert discover([str(tree / "a" / "**" / "*.keras")]) == [
        str(tree / "a/b/c/four.keras"),
        str(tree / "a/b/three.keras"),
    ]
    assert sorted(discover(["a"])) == sorted(
        ["a/one.h5", "a/two.hdf5", "a/b/three.keras", "a/b/c/four.keras", "a/.dot/five.keras"]
    )


def test_a_link_loop_ends_the_search_instead_of_feeding_it(tree):
    """`x -> .` and `y -> ..` make `glob`'s `**` endless; links to folders are not
    followed, and a link to a file is still a file."""
    (tree / "a" / "x").symlink_to(".")
    (tree / "a" / "b" / "y").symlink_to("..")
    (tree / "linked.keras").symlink_to(tree / "top.keras")
    started = time.monotonic()
    found = discover(["**/*.keras"])
    assert time.monotonic() - started < 5
    assert "linked.keras" in found and "a/b/c/four.keras" in found
    assert not [f for f in found if "/x/" in f or "/y/" in f]


def test_a_search_past_its_bounds_stops_with_a_usage_error(tree):
    with pytest.raises(UsageError, match=r"lists more than 5 entries"):
        discover(["**/*.keras"], max_entries=5)
    with pytest.raises(UsageError, match=r"took longer than the per-file time limit"):
        discover(["a"], seconds=-1)


def test_the_cli_reports_a_bounded_search_in_one_line(tree, capsys):
    from auditor.cli import main

    (tree / ".keras-audit.toml").write_text("[limits]\nmax-discovered-entries = 3\n")
    with pytest.raises(SystemExit) as exit_:
        main(["**/*.keras"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "stopped searching '**/*.keras'" in err
