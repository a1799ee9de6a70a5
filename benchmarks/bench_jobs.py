"""Many files: `audit --jobs 2` vs `--jobs 1` on 200 small model files.

Copies the bundled example models (both formats) into a temporary folder until there are
200 files, then times `audit FOLDER --jobs N` in fresh processes and prints files per
second for each N (median of --runs).

    .venv/bin/python benchmarks/bench_jobs.py [--files 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "models"


def measure(folder: Path, jobs: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "auditor", str(folder), "--jobs", str(jobs), "-q", "--exit-zero"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sources = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".keras", ".h5"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for index, source in zip(range(args.files), itertools.cycle(sources), strict=False):
            shutil.copy(source, folder / f"{index:04d}_{source.name}")
        print(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
            f"{args.files} files ({sum(p.stat().st_size for p in folder.iterdir()) / 1e6:.0f} "
            f"MB); medians of {args.runs} runs, process start included\n"
        )
        print("| --jobs | seconds | files/s | speed-up |")
        print("|---:|---:|---:|---:|")
        base = None
        for jobs in (1, 2):
            seconds = statistics.median(measure(folder, jobs) for _ in range(args.runs))
            base = base or seconds
            print(
                f"| {jobs} | {seconds:.2f} | {args.files / seconds:.0f} | {base / seconds:.2f}x |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
