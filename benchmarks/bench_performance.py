"""keras-audit against the cost of reading the bytes and against loading the model.

On the same files, each in fresh processes (medians of --runs, the commands of a file
interleaved so that their ratios compare runs made in the same phases of the machine):

* floor: a plain h5py read of every tensor, nothing checked or computed (`.keras`: h5py
  on the stored weights member in place, through a file object, as Keras files must be
  read without extracting them);
* audit: the `audit FILE` console script as a user or CI runs it (every rule, the
  statistics, the supervised child process; the text report goes to /dev/null), and
  beside it `audit FILE --format json`, which also hashes the file and carries the
  per-weight inventory (statistics and histograms of every tensor);
* load_model: `keras.saving.load_model(FILE, compile=False)` and `get_weights()`.

"per file: audit / floor" sets the one-layer row's times (start-up alone) aside from both
sides: (audit - its one-layer audit) / (floor - its one-layer floor), in the same format.

Models: a one-layer model (what each command costs before it reads any tensor),
MobileNet, ResNet50, EfficientNetB7, ConvNeXtLarge (weights=None) as `.keras` and `.h5`,
and a synthetic ~1.07-billion-parameter `.keras` file written in the Keras 3
layout (skipped when free disk is under 3x its 4.3 GB; load_model is not run on it). Also
the start-up commands beside the parts of a start-up (the interpreter, the floor's
imports, pydantic and its first model, keras-audit's judging side alone, everything
`audit FILE` imports), and memory over many files in one run.

Prints Markdown; `--write docs/performance.md` also keeps it there with this command.

    .venv/bin/python benchmarks/bench_performance.py [--runs 3] [--write docs/performance.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _models import (
    AUDIT_CLI,
    CACHE,
    FILE_FORMATS,
    MODELS,
    TEXT_TO_NULL,
    Command,
    Sample,
    billion_bytes,
    build,
    build_billion,
    compile_sources,
    free_bytes,
    interleaved,
    largest_tensor_mb,
    machine,
    measure,
    names,
    positive,
)

FLOOR = """
import io, sys, zipfile, h5py
path = sys.argv[1]

class Member(io.RawIOBase):  # a stored zip member, read in place
    def __init__(self, raw, start, size):
        super().__init__()
        self.raw, self.start, self.size, self.pos = raw, start, size, 0
    def readable(self):
        return True
    def seekable(self):
        return True
    def tell(self):
        return self.pos
    def seek(self, pos, whence=0):
        self.pos = pos if whence == 0 else self.pos + pos if whence == 1 else self.size + pos
        return self.pos
    def readinto(self, buffer):
        self.raw.seek(self.start + self.pos)
        n = self.raw.readinto(memoryview(buffer)[: max(0, self.size - self.pos)])
        self.pos += n
        return n

def read(f):
    def one(name, obj):  # must return None: visititems stops at the first other value
        if isinstance(obj, h5py.Dataset):
            obj[()]
    f.visititems(one)

if path.endswith(".keras"):
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("model.weights.h5")
    with open(path, "rb") as raw:
        raw.seek(info.header_offset + 26)
        skip = int.from_bytes(raw.read(2), "little") + int.from_bytes(raw.read(2), "little")
        member = Member(raw, info.header_offset + 30 + skip, info.file_size)
        with h5py.File(io.BufferedReader(member, 1 << 14), "r") as f:
            read(f)
else:
    with h5py.File(path, "r") as f:
        read(f)
"""
LOAD = (
    "import sys, keras; "
    "keras.saving.load_model(sys.argv[1], compile=False, safe_mode=True).get_weights()"
)
JSON_TO_NULL = ("--format", "json", *TEXT_TO_NULL)
HTML_TO_NULL = ("--format", "html", *TEXT_TO_NULL)
SARIF_TO_NULL = ("--format", "sarif", *TEXT_TO_NULL)


def median(samples: list[Sample], key: Callable[[Sample], float]) -> float:
    return statistics.median(key(s) for s in samples)


def model_rows(files: list[Path], count: int, with_load: Callable[[Path], bool]) -> list[str]:
    notes: list[str] = []
    rows = [
        "| file | size | floor (h5py read) | audit | audit --format json | load_model "
        "| audit / floor | audit - floor | per file: audit / floor "
        "| load_model / audit | load_model / audit json "
        "| audit CPU | audit peak RSS | audit json peak RSS | load_model peak RSS "
        "| bound: 3x largest tensor + 150 MB |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    startup: dict[str, tuple[float, float]] = {}  # suffix -> the one-layer (floor, audit)
    for path in files:
        file = str(path)
        commands: dict[str, Command] = {
            "floor": (FLOOR, (file,)),
            "audit": (AUDIT_CLI, (file, *TEXT_TO_NULL)),
            "json": (AUDIT_CLI, (file, *JSON_TO_NULL)),
        }
        if with_load(path):
            commands["load"] = (LOAD, (file,))
        samples, failures = interleaved(commands, count)
        if failures.keys() - {"load"}:
            raise RuntimeError(f"{path.name}: {failures}")
        floor, audit, as_json = samples["floor"], samples["audit"], samples["json"]
        load = samples.get("load", [])
        failure = failures.get("load", "").split("): ", 1)[-1].strip("[]'\"")[:90]
        f_wall, a_wall = median(floor, lambda s: s.wall), median(audit, lambda s: s.wall)
        a_cpu, a_rss = median(audit, lambda s: s.cpu), median(audit, lambda s: s.peak_mb)
        j_wall, j_rss = median(as_json, lambda s: s.wall), median(as_json, lambda s: s.peak_mb)
        bound = 3 * largest_tensor_mb(path) + 150
        if path.stem == "tiny":
            startup[path.suffix] = (f_wall, a_wall)
        per_file = per_file_ratio(f_wall, a_wall, startup.get(path.suffix))
        if load:
            l_wall, l_rss = median(load, lambda s: s.wall), median(load, lambda s: s.peak_mb)
            load_cells = (
                f"{l_wall:.2f} s",
                f"{l_wall / a_wall:.1f}x",
                f"{l_wall / j_wall:.1f}x",
                f"{l_rss:,.0f} MB",
            )
        elif failure:
            load_cells = ("fails", "", "", "")
            notes.append(f"load_model fails on {path.name}: {failure}")
        else:
            load_cells = ("not run", "", "", "")
        rows.append(
            f"| {path.name} | {path.stat().st_size / 1e6:,.0f} MB | {f_wall:.2f} s "
            f"| {a_wall:.2f} s | {j_wall:.2f} s | {load_cells[0]} | {a_wall / f_wall:.2f}x "
            f"| {a_wall - f_wall:+.2f} s | {per_file} | {load_cells[1]} | {load_cells[2]} "
            f"| {a_cpu:.2f} s "
            f"| {a_rss:,.0f} MB | {j_rss:,.0f} MB | {load_cells[3]} | {bound:,.0f} MB |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return rows + ([""] + [f"* {note}" for note in notes] if notes else [])


#: Below this much reading past its start-up, the floor's per-file time is noise.
PER_FILE_MIN_SECONDS = 0.05


def per_file_ratio(floor: float, audit: float, startup: tuple[float, float] | None) -> str:
    """The per-file work of `audit` against the floor's: each wall time less that of the
    one-layer model in the same format (start-up alone). Blank without that row, and
    where the floor reads for under `PER_FILE_MIN_SECONDS` past its start-up."""
    if startup is None or floor - startup[0] < PER_FILE_MIN_SECONDS:
        return ""
    return f"{(audit - startup[1]) / (floor - startup[0]):.2f}x"


def _leaving_fast(code: str) -> str:
    """`code`, then `os._exit(0)`: `audit` leaves that way once its reports are written,
    so it never pays the interpreter's teardown (about 30 ms after numpy and h5py here,
    and 80-90 ms once pydantic is loaded). The floor's own imports keep theirs: the floor
    pays it."""
    return f"{code}\nimport os\nos._exit(0)"


def _keras_audit_startup(modules: str) -> str:
    """Import `modules` and build the rule registry as `audit` starts: collecting no
    garbage meanwhile, and leaving fast."""
    return _leaving_fast(
        f"import gc\ngc.disable()\nimport {modules}\n"
        "from auditor.engine.registry import load_registry\nload_registry()"
    )


#: What a process that only judges (runs the rules, builds and renders the report) would
#: import: a lower bound for any layout that keeps pydantic, however the reading is split.
_JUDGING = _keras_audit_startup(
    "auditor.results.findings, auditor.engine.config, auditor.engine.gate, rules, reports"
)
#: The CLI's imports and rule registry, as `audit FILE` has them when it opens the file.
_EVERYTHING = _keras_audit_startup("auditor.cli, auditor.cli.spools, auditor.engine.runner")

#: What the start-up is made of, up to what every audit needs: the interpreter, the
#: floor's imports, then pydantic, whose schema machinery loads with the first model a
#: program defines (the report, configuration and rule options are pydantic models).
#: Every row after the floor's imports leaves with `os._exit`, as `audit` does.
STARTUP_PARTS: dict[str, Command] = {
    "`python -c pass`": ("pass", ()),
    "`import numpy, h5py` (the floor's imports)": ("import numpy, h5py", ()),
    "the same, leaving with `os._exit`": (_leaving_fast("import numpy, h5py"), ()),
    "the same and `import pydantic`": (_leaving_fast("import numpy, h5py, pydantic"), ()),
    "the same and one pydantic model defined": (
        _leaving_fast(
            "import numpy, h5py, pydantic\nclass Options(pydantic.BaseModel):\n    x: int = 0"
        ),
        (),
    ),
    "keras-audit's judging side alone: pydantic, its report, configuration and rule "
    "models, the rules and renderers (no numpy, no h5py)": (_JUDGING, ()),
    "everything `audit FILE` imports before it opens the file": (_EVERYTHING, ()),
    "`audit --version`": (AUDIT_CLI, ("--version",)),
    "`audit rules`": (AUDIT_CLI, ("rules",)),
}


def startup_rows(count: int) -> list[str]:
    """The start-up commands beside their parts, interleaved, each against the floor's
    imports (the floor's own start-up)."""
    samples, failures = interleaved(STARTUP_PARTS, count)
    if failures:
        raise RuntimeError(f"start-up commands failed: {failures}")
    walls = {name: median(runs, lambda s: s.wall) for name, runs in samples.items()}
    base = walls["`import numpy, h5py` (the floor's imports)"]
    rows = [
        "| command | median wall | / the floor's imports | peak RSS |",
        "|---|--:|--:|--:|",
    ]
    for name, runs in samples.items():
        rows.append(
            f"| {name} | {walls[name]:.3f} s | {walls[name] / base:.2f}x "
            f"| {median(runs, lambda s: s.peak_mb):.0f} MB |"
        )
    return rows


def many_rows(path: Path, counts: tuple[int, ...]) -> list[str]:
    """One run over N copies in text, JSON, HTML and SARIF. Every format is written model
    by model, and the run keeps nothing of a model once its parts are written, so none
    should grow with N."""
    runs = (
        ("text", TEXT_TO_NULL),
        ("json", JSON_TO_NULL),
        ("html", HTML_TO_NULL),
        ("sarif", SARIF_TO_NULL),
    )
    rows = [
        "| files in one run | "
        + " | ".join(f"{fmt}: wall | {fmt}: peak RSS" for fmt, _ in runs)
        + " |",
        "|--:|" + "--:|--:|" * len(runs),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            links = []
            for i in range(n):
                link = Path(tmp) / f"{n}_{i}{path.suffix}"
                link.symlink_to(path)
                links.append(str(link))
            cells = [measure(AUDIT_CLI, *links, *options) for _, options in runs]
            rows.append(
                f"| {n:,} | "
                + " | ".join(f"{c.wall:.2f} s | {c.peak_mb:.0f} MB" for c in cells)
                + " |"
            )
    return rows


def many_sections(path: Path) -> list[str]:
    """The memory-over-many-files table (these MobileNets are untrained: WGT001 reports
    each of their 56 weighted layers, 56,000 findings in the 1,000-file run)."""
    return [
        f"## Memory over many files ({path.stem} {path.suffix}, 56 findings each, one run)",
        "",
        *many_rows(path, (1, 100, 1000)),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=positive, default=3)
    parser.add_argument("--models", type=names(list(MODELS)), default=list(MODELS))
    parser.add_argument("--formats", type=names(FILE_FORMATS), default=list(FILE_FORMATS))
    parser.add_argument("--no-billion", action="store_true", help="skip the 1B-parameter file")
    parser.add_argument("--write", type=Path, help="also write the tables to this Markdown file")
    parser.add_argument(
        "--only-many", action="store_true", help="only the memory over many files (printed)"
    )
    parser.add_argument(
        "--only-startup", action="store_true", help="only the start-up table (printed)"
    )
    args = parser.parse_args()

    compile_sources()
    if args.only_many:
        print("\n".join(many_sections(build("mobilenet", "keras"))))
        return 0
    if args.only_startup:
        print("\n".join(startup_rows(args.runs)))
        return 0
    files = [build(model, fmt) for model in args.models for fmt in args.formats]
    lines = [
        f"Machine: {machine()}. Medians of {args.runs} fresh processes per cell, after one "
        "warm-up run (page cache warm). A file's commands run interleaved: rounds of one run "
        "each, each round starting one command later.",
        "",
        "## Audit against the floor and load_model",
        "",
    ]
    billion_note = ""
    if not args.no_billion:
        if free_bytes(CACHE) + (CACHE / "billion.keras").exists() * billion_bytes() >= (
            3 * billion_bytes()
        ):
            files.append(build_billion())
        else:
            billion_note = (
                f"The 1-billion-parameter file was skipped: under {3 * billion_bytes() / 1e9:.0f}"
                " GB free disk."
            )
    lines += model_rows(files, args.runs, lambda p: p.stem != "billion")
    if billion_note:
        lines += ["", billion_note]
    lines += [
        "",
        "## Start-up (target: `audit --version` under 0.1 s)",
        "",
        *startup_rows(args.runs),
    ]
    lines += ["", *many_sections(build("mobilenet", "keras"))]
    table = "\n".join(lines)
    print(table)
    if args.write:
        command = " ".join(["    .venv/bin/python benchmarks/bench_performance.py", *sys.argv[1:]])
        write_between_markers(args.write, f"{command}\n\n{table}")
    return 0


START, END = "<!-- bench_performance:start -->", "<!-- bench_performance:end -->"


def write_between_markers(path: Path, block: str) -> None:
    """Replace the generated block of `path`, keeping the hand-written text around it."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
    else:
        before, after = text.rstrip("\n") + "\n\n", "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{before}{START}\n{block}\n{END}{after}", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
