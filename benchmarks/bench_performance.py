"""keras-audit against the cost of reading the bytes and against loading the model.

On the same files, each in fresh processes (medians of --runs):

* floor: a plain h5py read of every tensor (`.keras`: of the weights member read into
  memory, since h5py cannot read inside a zip; `.h5`: of the file), nothing checked;
* audit: the `audit FILE --format json -o /dev/null` console script (every rule, the
  statistics, the supervised child process), exactly what CI runs;
* load_model: `keras.saving.load_model(FILE, compile=False)` and `get_weights()`.

Models: MobileNet, ResNet50, EfficientNetB7, ConvNeXtLarge (weights=None) as `.keras`
and `.h5`, and a synthetic ~1.07-billion-parameter `.keras` file written in the Keras 3
layout (skipped when free disk is under 3x its 4.3 GB; load_model is not run on it). Also
the start-up commands, and memory over many files in one run.

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
    APPLICATIONS,
    AUDIT_CLI,
    CACHE,
    Sample,
    billion_bytes,
    build,
    build_billion,
    compile_sources,
    free_bytes,
    largest_tensor_mb,
    machine,
    measure,
)

FLOOR = """
import io, sys, zipfile, h5py
path = sys.argv[1]
def read(f):
    f.visititems(lambda n, o: o[()] if isinstance(o, h5py.Dataset) else None)
if path.endswith(".keras"):  # h5py cannot read inside a zip: the member's bytes, in memory
    with zipfile.ZipFile(path) as z, h5py.File(io.BytesIO(z.read("model.weights.h5"))) as f:
        read(f)
else:
    with h5py.File(path, "r") as f:
        read(f)
"""
LOAD = (
    "import sys, keras; "
    "keras.saving.load_model(sys.argv[1], compile=False, safe_mode=True).get_weights()"
)
JSON_TO_NULL = ("--format", "json", "-o", "/dev/null", "--exit-zero")


def median(samples: list[Sample], key: Callable[[Sample], float]) -> float:
    return statistics.median(key(s) for s in samples)


def runs(code: str, path: Path, count: int) -> list[Sample]:
    args = (str(path), *JSON_TO_NULL) if code == AUDIT_CLI else (str(path),)
    measure(code, *args)  # warm the page cache and the import caches
    return [measure(code, *args) for _ in range(count)]


def model_rows(files: list[Path], count: int, with_load: Callable[[Path], bool]) -> list[str]:
    rows = [
        "| file | size | floor (h5py read) | audit | load_model | audit / floor "
        "| load_model / audit | audit CPU | audit peak RSS | load_model peak RSS "
        "| bound: 3x largest tensor + 150 MB |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for path in files:
        floor = runs(FLOOR, path, count)
        audit = runs(AUDIT_CLI, path, count)
        load = runs(LOAD, path, count) if with_load(path) else []
        f_wall, a_wall = median(floor, lambda s: s.wall), median(audit, lambda s: s.wall)
        a_cpu, a_rss = median(audit, lambda s: s.cpu), median(audit, lambda s: s.peak_mb)
        bound = 3 * largest_tensor_mb(path) + 150
        if load:
            l_wall, l_rss = median(load, lambda s: s.wall), median(load, lambda s: s.peak_mb)
            load_cells = f"{l_wall:.2f} s", f"{l_wall / a_wall:.1f}x", f"{l_rss:,.0f} MB"
        else:
            load_cells = ("not run", "", "")
        rows.append(
            f"| {path.name} | {path.stat().st_size / 1e6:,.0f} MB | {f_wall:.2f} s "
            f"| {a_wall:.2f} s | {load_cells[0]} | {a_wall / f_wall:.2f}x | {load_cells[1]} "
            f"| {a_cpu:.2f} s | {a_rss:,.0f} MB | {load_cells[2]} | {bound:,.0f} MB |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def startup_rows(count: int) -> list[str]:
    rows = ["| command | median wall (target < 0.3 s) | peak RSS |", "|---|--:|--:|"]
    for label, args in (("audit --version", ["--version"]), ("audit rules", ["rules"])):
        samples = [measure(AUDIT_CLI, *args) for _ in range(count + 1)][1:]
        rows.append(
            f"| `{label}` | {median(samples, lambda s: s.wall):.3f} s "
            f"| {median(samples, lambda s: s.peak_mb):.0f} MB |"
        )
    return rows


def many_rows(path: Path, counts: tuple[int, ...]) -> list[str]:
    """One run over N copies: text output keeps only findings (flat memory); JSON has to
    hold every model's per-weight inventory until it writes the one document."""
    rows = [
        "| files in one run | text: wall | text: peak RSS | json: wall | json: peak RSS |",
        "|--:|--:|--:|--:|--:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            links = []
            for i in range(n):
                link = Path(tmp) / f"{n}_{i}{path.suffix}"
                link.symlink_to(path)
                links.append(str(link))
            text = measure(AUDIT_CLI, *links, "-o", "/dev/null", "--exit-zero")
            json_ = measure(AUDIT_CLI, *links, *JSON_TO_NULL)
            rows.append(
                f"| {n} | {text.wall:.2f} s | {text.peak_mb:.0f} MB | {json_.wall:.2f} s "
                f"| {json_.peak_mb:.0f} MB |"
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--models", default=",".join(APPLICATIONS))
    parser.add_argument("--formats", default="keras,h5")
    parser.add_argument("--no-billion", action="store_true", help="skip the 1B-parameter file")
    parser.add_argument("--write", type=Path, help="also write the tables to this Markdown file")
    args = parser.parse_args()

    compile_sources()
    files = [build(m, f) for m in args.models.split(",") for f in args.formats.split(",")]
    lines = [
        f"Machine: {machine()}. Medians of {args.runs} fresh processes per cell, after one "
        "warm-up run (page cache warm).",
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
    lines += ["", "## Start-up", "", *startup_rows(args.runs)]
    lines += ["", "## Memory over many files (MobileNet .keras, one run)", ""]
    lines += many_rows(build("mobilenet", "keras"), (1, 25, 100))
    table = "\n".join(lines)
    print(table)
    if args.write:
        command = " ".join(["    .venv/bin/python benchmarks/bench_performance.py", *sys.argv[1:]])
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(f"# Performance\n\n{command}\n\n{table}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
