"""The distribution ships every package of the source tree."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    """Code packages and data-only folders (the HTML templates) are all listed, and each
    data folder declares its files: setuptools warns about an importable folder missing
    from `packages`, and will stop shipping it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {
        folder
        for top in ("auditor", "rules", "reports")
        for folder in [ROOT / top, *(ROOT / top).rglob("*")]
        if folder.is_dir() and folder.name != "__pycache__"
    }
    code = {f for f in folders if (f / "__init__.py").exists()}
    data = {f for f in folders - code if any(p.is_file() for p in f.iterdir())}

    def dotted(folder: Path) -> str:
        return ".".join(folder.relative_to(ROOT).parts)

    assert set(config["packages"]) == {dotted(f) for f in code | data}
    assert {dotted(f) for f in data} <= set(config["package-data"])
    assert data, "the HTML templates are a data-only folder"
