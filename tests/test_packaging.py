"""What `pip install keras-audit` puts into site-packages: one import package, `auditor`.

The repository keeps the product's layout (`auditor/`, `rules/`, `reports/` at its root);
setuptools installs `rules/` as `auditor.rules` and `reports/` as `auditor.reports`. These
tests build the wheel and the sdist from a copy of the source tree, with the project's own
build backend and no network, and check the editable install and the plug-in entry point
group in fresh interpreters.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import textwrap
import tomllib
import zipfile
from importlib.metadata import distribution
from pathlib import Path

import pytest

import auditor

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
#: Repository folder -> the import package it is installed as.
INSTALLED_AS = {"auditor": "auditor"} | {
    folder: package for package, folder in SETUPTOOLS["package-dir"].items()
}
_NOT_SHIPPED = shutil.ignore_patterns(
    ".*", "__pycache__", "*.egg-info", "build", "dist", "test-artifacts", "demo-report.*"
)


def _package_of(folder: Path) -> str:
    top, *rest = folder.relative_to(ROOT).parts
    return ".".join([INSTALLED_AS[top], *rest])


def test_every_folder_is_a_listed_package_and_every_data_file_is_declared():
    """setuptools ships only listed packages, code folders and data-only folders (the HTML
    templates) alike, and of their data only the files `package-data` names."""
    folders = [
        folder
        for top in INSTALLED_AS
        for folder in [ROOT / top, *(ROOT / top).rglob("*")]
        if folder.is_dir() and folder.name != "__pycache__"
    ]
    assert set(SETUPTOOLS["packages"]) == {
        _package_of(f) for f in folders if any(p.is_file() for p in f.iterdir())
    }
    data = {
        path
        for folder in folders
        for path in folder.iterdir()
        if path.is_file() and path.suffix != ".py"
    }
    declared = {
        path
        for package, globs in SETUPTOOLS["package-data"].items()
        for pattern in globs
        for path in _folder_of(package).glob(pattern)
    }
    assert data == declared, "a data file outside every package-data glob is not shipped"


def _folder_of(package: str) -> Path:
    """The repository folder of an installed package name (the longest mapping wins)."""
    for top, name in sorted(INSTALLED_AS.items(), key=lambda item: -len(item[1])):
        if package == name or package.startswith(f"{name}."):
            return ROOT / top / package.removeprefix(name).strip(".").replace(".", "/")
    raise AssertionError(f"{package} is not under an installed folder")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The wheel and the sdist, built from a copy of the tree (the build writes `build/`
    and `*.egg-info` beside the sources), and a wheel built from the unpacked sdist."""
    work = tmp_path_factory.mktemp("build")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SHIPPED)
    shutil.rmtree(source / "tests" / "golden", ignore_errors=True)  # not needed to build
    dist = work / "dist"
    _backend(source, "build_sdist", dist)
    _backend(source, "build_wheel", dist)
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(work / "unpacked", filter="data")
    (unpacked,) = (work / "unpacked").iterdir()
    again = work / "from-sdist"
    _backend(unpacked, "build_wheel", again)
    (wheel,) = dist.glob("*.whl")
    (rebuilt,) = again.glob("*.whl")
    return {"wheel": wheel, "sdist": sdist, "rebuilt": rebuilt}


def _backend(source: Path, hook: str, target: Path) -> None:
    """Call a PEP 517 hook of the project's build backend in a fresh interpreter."""
    target.mkdir(parents=True, exist_ok=True)
    code = f"import setuptools.build_meta as b; b.{hook}({str(target)!r})"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=source, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "absent from the `packages` configuration" not in result.stderr


def _wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name for name in archive.namelist() if not name.endswith("/")}


def test_the_wheel_installs_exactly_one_top_level_package(built):
    names = _wheel_names(built["wheel"])
    dist_info = f"keras_audit-{auditor.__version__}.dist-info"
    assert {name.split("/")[0] for name in names} == {"auditor", dist_info}
    with zipfile.ZipFile(built["wheel"]) as archive:
        assert archive.read(f"{dist_info}/top_level.txt").decode().split() == ["auditor"]
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    assert "audit = auditor.cli:entry" in entry_points
    assert "keras-audit = auditor.cli:entry" in entry_points


def test_the_wheel_holds_every_module_and_data_file_under_its_installed_name(built):
    expected = {
        "/".join([*_package_of(path.parent).split("."), path.name])
        for top in INSTALLED_AS
        for path in (ROOT / top).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert {
        name for name in _wheel_names(built["wheel"]) if name.startswith("auditor/")
    } == expected


def test_the_sdist_keeps_the_repository_layout_and_builds_the_same_wheel(built):
    with tarfile.open(built["sdist"]) as archive:
        tops = {Path(name).parts[1] for name in archive.getnames() if len(Path(name).parts) > 1}
    assert {"auditor", "rules", "reports", "pyproject.toml", "README.md"} <= tops
    assert _wheel_names(built["rebuilt"]) == _wheel_names(built["wheel"])


def _fresh(code: str, cwd: Path, **env: str) -> str:
    """Run `code` in a fresh, isolated interpreter (no working directory on sys.path)."""
    result = subprocess.run(
        [sys.executable, "-I", "-c", textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_the_installed_environment_sees_auditor_rules_and_no_top_level_rules(tmp_path):
    out = _fresh(
        """
        import importlib.util, json
        import auditor.reports, auditor.rules
        print(json.dumps({
            "rules": auditor.rules.__file__,
            "reports": auditor.reports.__file__,
            "top_level": [n for n in ("rules", "reports") if importlib.util.find_spec(n)],
        }))
        """,
        tmp_path,
    )
    found = json.loads(out)
    assert found["top_level"] == []
    direct_url = distribution("keras-audit").read_text("direct_url.json") or "{}"
    if json.loads(direct_url).get("dir_info", {}).get("editable"):  # `make test` installs so
        assert found["rules"] == str(ROOT / "rules" / "__init__.py")
        assert found["reports"] == str(ROOT / "reports" / "__init__.py")


def test_a_rule_registered_under_the_entry_point_group_is_loaded(tmp_path):
    """A third-party distribution (a real `*.dist-info` on the path) adds a rule through
    `keras_audit.rules`; `audit rules` lists it next to the built-ins."""
    (tmp_path / "acme_rules.py").write_text(
        textwrap.dedent(
            '''
            from typing import ClassVar

            from auditor.results.findings import Severity
            from auditor.rules.base import Rule


            class WideDense(Rule):
                """## What it does
                Flags very wide Dense layers.

                ## Why is this bad?
                They are slow.

                ## Example
                `Dense(100_000)`

                Use instead:
                `Dense(512)`

                ## Options
                None.

                ## References
                None.
                """

                code: ClassVar[str] = "ACME001"
                name: ClassVar[str] = "wide-dense"
                severity: ClassVar[Severity] = Severity.INFO
            '''
        )
    )
    info = tmp_path / "acme_rules-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-rules\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[keras_audit.rules]\nacme = acme_rules:WideDense\n")
    out = _fresh(
        """
        import sys
        sys.path.insert(0, ".")  # where the plug-in distribution lies
        from auditor.cli import main
        raise SystemExit(main(["rules"]))
        """,
        tmp_path,
    )
    assert "ACME001  wide-dense" in out
    assert "REG004  depthwise-decay" in out
