"""The layers of docs/architecture.md, checked on the source: each package imports only the
packages below it, and nothing imports itself back.

Read from the modules' syntax trees, not by importing them: an import made at module level
(outside `if TYPE_CHECKING:`) runs when the module is imported, so a cycle of those is an
import cycle. Imports inside functions are lazy, and still may point only where the layers
allow.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Repository folder -> the import package it is installed as (pyproject's package-dir).
FOLDERS = {"auditor": "auditor", "rules": "auditor.rules", "reports": "auditor.reports"}

_BOTTOM = ("auditor.errors", "auditor.limits", "auditor.numbers", "auditor.text")
_MODEL = ("auditor.graph", "auditor.results")
_READING = ("auditor.tensors", "auditor.loaders")
_TOP = ("auditor.engine", "auditor.fix", "auditor.reports", "auditor.training")
#: What each part of keras-audit may import of the rest, besides its own modules, from the
#: bottom up. The bottom layer, the graph and the report models import nothing above them;
#: a rule judges a graph and its statistics and never opens a file; a renderer reads report
#: models only; the engine runs rules over what the loaders read; the command line and the
#: library API sit on top.
ALLOWED: dict[str, tuple[str, ...]] = {
    "auditor.errors": (),
    "auditor.limits": (),
    "auditor.numbers": (),
    "auditor.text": (),
    "auditor.results": (),
    "auditor.graph": ("auditor.numbers",),
    "auditor.tensors": (*_MODEL, "auditor.numbers"),
    "auditor.loaders": (*_BOTTOM, "auditor.graph", "auditor.tensors"),
    "auditor.rules": ("auditor.numbers", *_MODEL, "auditor.tensors"),
    "auditor.reports": ("auditor.numbers", "auditor.text", "auditor.results"),
    "auditor.fix": (*_BOTTOM, "auditor.graph", "auditor.loaders"),
    "auditor.engine": (*_BOTTOM, *_MODEL, *_READING, "auditor.rules"),
    "auditor.training": (*_BOTTOM, *_MODEL, *_READING, "auditor.engine"),
    "auditor.keras": ("auditor.results", "auditor.engine", "auditor.training"),
    # A report model in a notebook: the renderers, with the rules' docs the CLI gives them.
    "auditor.notebook": ("auditor.results", "auditor.reports", "auditor.engine", "auditor.cli"),
    "auditor.cli": (*_BOTTOM, *_MODEL, *_READING, *_TOP),
    "auditor.__main__": ("auditor.cli",),
    # The library API, auditor/__init__.py, which also draws report models in notebooks.
    "auditor": ("auditor.engine", "auditor.results", "auditor.notebook"),
}


def _module_name(path: Path) -> str:
    top, *parts = path.relative_to(ROOT).with_suffix("").parts
    parts = [*FOLDERS.get(top, top).split("."), *parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    return {
        _module_name(path): path
        for folder in FOLDERS
        for path in sorted((ROOT / folder).rglob("*.py"))
    }


def _part(module: str) -> str:
    """The entry of `ALLOWED` a module belongs to (the longest that contains it)."""
    parts = [name for name in ALLOWED if module == name or module.startswith(f"{name}.")]
    return max(parts, key=len)


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == package or name.startswith(f"{package}.") for package in packages)


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    parts = parts[: len(parts) - node.level + 1]
    return ".".join([*parts, node.module] if node.module else parts)


def _skipped(node: ast.stmt, module_level: bool) -> bool:
    """Imports under `if TYPE_CHECKING:` never run; those in a function run when it is
    called, not when the module is imported."""
    if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
        return True
    return module_level and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)


def _imported(module: str, path: Path, *, module_level: bool) -> set[str]:
    """What `module` imports: every name an import statement could bind to a module
    (`from a import b` may import `a.b`). `module_level` keeps only the imports that run
    when the module is imported."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(module, is_package, node)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
            elif not _skipped(node, module_level):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    children = getattr(node, field, [])
                    if field == "handlers":
                        for handler in children:
                            visit(handler.body)
                    else:
                        visit([child for child in children if isinstance(child, ast.stmt)])

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return found


def _graph(*, module_level: bool) -> dict[str, set[str]]:
    sources = _sources()
    return {
        name: {
            target
            for target in _imported(name, path, module_level=module_level)
            if target in sources and target != name
        }
        for name, path in sources.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_reader_sees_what_runs_at_import_time(tmp_path):
    source = tmp_path / "sample.py"  # read as the module `auditor.sample`
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import auditor.a\n"
        "from . import b\n"
        "from .c import name\n"
        "try:\n"
        "    import auditor.d\n"
        "except ImportError:\n"
        "    import auditor.e\n"
        "if TYPE_CHECKING:\n"
        "    import auditor.f\n"
        "def lazy():\n"
        "    import auditor.g\n"
    )
    eager = _imported("auditor.sample", source, module_level=True)
    every = _imported("auditor.sample", source, module_level=False)
    expected = {"auditor.a", "auditor.b", "auditor.c", "auditor.d", "auditor.e"}
    assert expected <= eager
    assert "auditor.f" not in eager and "auditor.g" not in eager
    assert "auditor.g" in every and "auditor.f" not in every


def test_the_folders_are_the_installed_packages():
    """The map above is pyproject's: a folder moved there must move here too."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert {"auditor": "auditor"} | {
        folder: package for package, folder in setuptools["package-dir"].items()
    } == FOLDERS


def test_every_module_belongs_to_a_part_of_the_layering():
    """A new top-level module or package of `auditor` takes its place in `ALLOWED` first."""
    assert sorted(m for m in _sources() if _part(m) == "auditor" and m != "auditor") == []


def test_nothing_imports_the_folders_by_their_repository_names():
    """`rules` and `reports` are folders of the repository, not packages of an install:
    importing them by those names works only from the repository root, and loads a second
    copy of every rule."""
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for folder in (*FOLDERS, "tests", "benchmarks", "examples")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for name in sorted(_imported(_module_name(path), path, module_level=False))
        if name.split(".")[0] in ("rules", "reports")
    ]
    assert offenders == []


def test_no_module_imports_itself_back():
    """No import cycle among keras-audit's modules."""
    assert _cycles(_graph(module_level=True)) == []


@pytest.mark.parametrize("module", sorted(_sources()))
def test_a_module_imports_only_the_layers_below_it(module):
    """Lazy imports included: a function-level import is still a dependency. A module's
    parent packages are loaded before it anyway (`from auditor import __version__`)."""
    part = _part(module)
    parents = {module.rsplit(".", depth)[0] for depth in range(1, module.count(".") + 1)}
    ours = {
        _part(name)
        for name in _imported(module, _sources()[module], module_level=False)
        if name in _sources() and name not in parents
    }
    assert sorted(ours - {part, *ALLOWED[part]}) == []


#: A rule never opens a file and never imports keras or tensorflow.
_NEVER_IN_A_RULE = ("h5py", "zipfile", "keras", "tensorflow", "tf_keras")


@pytest.mark.parametrize("module", sorted(m for m in _sources() if _part(m) == "auditor.rules"))
def test_a_rule_reads_no_file_and_imports_no_keras(module):
    imported = _imported(module, _sources()[module], module_level=False)
    assert sorted(name for name in imported if _within(name, _NEVER_IN_A_RULE)) == []


def _loaded_by(module: str) -> set[str]:
    """What importing `module` loads: the names its module-level imports bind, and those
    of every keras-audit module among them in turn (a package's `__init__` counts, as it
    runs first). Outside packages are named, not followed."""
    sources = _sources()
    loaded: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        for target in _imported(name, sources[name], module_level=True):
            parts = target.split(".")
            for depth in range(1, len(parts) + 1):
                prefix = ".".join(parts[:depth])
                if prefix not in loaded:
                    loaded.add(prefix)
                    if prefix in sources:
                        todo.append(prefix)
    return loaded


#: What no renderer loads, even through the modules it imports: the reading side.
_NEVER_UNDER_A_RENDERER = ("numpy", "h5py", "zipfile", "keras", "tensorflow", "auditor.loaders")


@pytest.mark.parametrize("module", sorted(m for m in _sources() if _part(m) == "auditor.reports"))
def test_a_renderer_loads_nothing_of_the_reading_side(module):
    """Importing a renderer loads the report models and what they need, never the loaders,
    h5py or NumPy: a report can be rendered where no model could be read."""
    loaded = _loaded_by(module)
    assert sorted(name for name in loaded if _within(name, _NEVER_UNDER_A_RENDERER)) == []


def test_what_a_module_loads_follows_its_imports_down():
    """The closure the renderer test relies on: `auditor.training.compare` loads the
    loaders and NumPy, and the report models of a comparison load neither."""
    assert {"auditor.loaders", "numpy", "h5py"} <= _loaded_by("auditor.training.compare")
    assert {"auditor.results.findings", "pydantic"} <= _loaded_by("auditor.results.comparison")
    assert {"numpy", "auditor.loaders"}.isdisjoint(_loaded_by("auditor.results.comparison"))


#: The size past which a module does too much to be read in one sitting.
MAX_LINES = 400


@pytest.mark.parametrize("module", sorted(_sources()))
def test_no_module_is_over_the_size_limit(module):
    lines = len(_sources()[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines: split it by what its parts hold"
