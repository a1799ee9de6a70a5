"""keras-audit static audit vs keras.models.load_model on the same files, beside the floor.

Builds ResNet50 (weights=None) as .keras and .h5 once (cached in benchmarks/.cache), then
runs each method in a fresh process several times and prints a Markdown table of median
wall time and peak RSS (from os.wait4, per child process), with the ratios. The floor is a
plain h5py read of every tensor of the same file (no checks, no statistics).

    .venv/bin/python benchmarks/bench_load.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"

AUDIT = "import auditor; auditor.audit({path!r})"
LOAD = (
    "import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'; import keras; "
    "keras.models.load_model({path!r}, compile=False).get_weights()"
)

FLOOR = (
    "import io, zipfile, h5py\n"
    "path = {path!r}\n"
    "def read(f):\n"
    "    f.visititems(lambda n, o: o[()] if isinstance(o, h5py.Dataset) else None)\n"
    "if path.endswith('.keras'):\n"
    "    data = io.BytesIO(zipfile.ZipFile(path).read('model.weights.h5'))\n"
    "    with h5py.File(data, 'r') as f: read(f)\n"
    "else:\n"
    "    with h5py.File(path, 'r') as f: read(f)\n"
)


def build() -> dict[str, Path]:
    CACHE.mkdir(exist_ok=True)
    paths = {fmt: CACHE / f"resnet50.{fmt}" for fmt in ("keras", "h5")}
    if not all(p.exists() for p in paths.values()):
        script = (
            "import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'; import keras; "
            "m = keras.applications.ResNet50(weights=None); "
            + "; ".join(f"m.save({str(p)!r})" for p in paths.values())
        )
        subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    return paths


def measure(code: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one fresh Python process running `code`."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"benchmark process failed: {code}")
    return wall, usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    paths = build()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; medians of {args.runs} fresh processes\n"
    )
    print(
        "| file | size | h5py floor | audit | load_model | audit/floor | load_model/audit "
        "| audit peak RSS | load_model peak RSS | RSS ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for fmt, path in paths.items():
        runs = {
            name: [measure(code.format(path=str(path))) for _ in range(args.runs)]
            for name, code in (("floor", FLOOR), ("audit", AUDIT), ("load", LOAD))
        }
        wall = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
        rss = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
        print(
            f"| resnet50.{fmt} | {path.stat().st_size / 1e6:.0f} MB | {wall['floor']:.2f} s "
            f"| {wall['audit']:.2f} s | {wall['load']:.2f} s "
            f"| {wall['audit'] / wall['floor']:.2f}x | {wall['load'] / wall['audit']:.1f}x "
            f"| {rss['audit']:.0f} MB | {rss['load']:.0f} MB | {rss['load'] / rss['audit']:.1f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
