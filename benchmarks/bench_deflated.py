"""A re-zipped `.keras` file: auditing a deflated weights member against the stored one.

Keras stores every member of a `.keras` archive uncompressed, but an archive unpacked and
zipped again (`zip -r`, `shutil.make_archive`, most archive tools) is deflated. For each
model (weights=None, cached in benchmarks/.cache), the Keras-written file and a copy with
every member deflated are audited by the `audit` console script in fresh processes
(interleaved, medians of --runs, after a warm-up run each): wall time and peak RSS,
against the memory bound (3x the largest tensor + 150 MB).

    .venv/bin/python benchmarks/bench_deflated.py [--models resnet50,convnext_large] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _models import (
    AUDIT_CLI,
    MODELS,
    TEXT_TO_NULL,
    build,
    compile_sources,
    interleaved,
    largest_tensor_mb,
    machine,
    names,
    positive,
)


def deflated_copy(path: Path) -> Path:
    """The archive with every member deflated, next to it (kept for later runs)."""
    target = path.with_name(f"{path.stem}.deflated.keras")
    if not target.exists() or target.stat().st_mtime < path.stat().st_mtime:
        partial = target.with_suffix(".partial")
        with (
            zipfile.ZipFile(path) as source,
            zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as out,
        ):
            for info in source.infolist():
                with source.open(info) as member, out.open(info.filename, "w") as copy:
                    while piece := member.read(1 << 20):
                        copy.write(piece)
        partial.replace(target)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", type=names(list(MODELS)), default=["resnet50", "convnext_large"]
    )
    parser.add_argument("--runs", type=positive, default=5)
    args = parser.parse_args()
    compile_sources()
    print(
        f"Machine: {machine()}. `audit FILE`, medians of {args.runs} fresh processes, "
        "interleaved, after a warm-up run each.\n"
    )
    print("| file | weights member | size | audit | peak RSS | bound: 3x largest tensor + 150 MB |")
    print("|---|---|--:|--:|--:|--:|")
    for model in args.models:
        stored = build(model, "keras")
        files = {"stored": stored, "deflated": deflated_copy(stored)}
        commands = {kind: (AUDIT_CLI, (str(path), *TEXT_TO_NULL)) for kind, path in files.items()}
        samples, failures = interleaved(commands, args.runs)
        if failures:
            raise SystemExit(f"audit failed: {failures}")
        bound = 3 * largest_tensor_mb(stored) + 150
        for kind, path in files.items():
            wall = statistics.median(s.wall for s in samples[kind])
            peak = statistics.median(s.peak_mb for s in samples[kind])
            print(
                f"| {path.name} | {kind} | {path.stat().st_size / 1e6:,.0f} MB | {wall:.2f} s "
                f"| {peak:,.0f} MB | {bound:,.0f} MB |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
