"""Many small models: `audit --jobs 2` against `audit --cluster local:2` (a Dask
LocalCluster of two worker processes, its scheduler inside the `audit` process) and
against `--cluster tcp://...` (a scheduler and two workers in processes of their own,
started here on 127.0.0.1, as a deployment runs them), and the client's memory as the
file count grows.

Copies the bundled example models (both formats) into a temporary folder until there are
--files of them, then runs `audit FOLDER -o /dev/null` in fresh processes, interleaved
(median of --runs). Wall time includes the process start and, for the cluster, starting
the LocalCluster. The client's peak RSS is that of the `audit` process alone (sampled
every 20 ms with psutil), not of its workers: reports are written model by model, so it
should not grow with the number of files.

    .venv/bin/python benchmarks/bench_cluster.py [--files 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from _models import machine, positive  # noqa: E402

EXAMPLES = ROOT.parent / "examples" / "models"
PORT = 18786  # the benchmark's own scheduler, on 127.0.0.1
MODES = {
    "--jobs 1": ("--jobs", "1"),
    "--jobs 2": ("--jobs", "2"),
    "--cluster local:2": ("--cluster", "local:2"),
    "--cluster tcp://": ("--cluster", f"tcp://127.0.0.1:{PORT}"),
}


@contextmanager
def deployment() -> Iterator[None]:
    """`dask scheduler` and `dask worker` (two single-threaded processes) on 127.0.0.1."""
    dask = str(Path(sys.executable).with_name("dask"))
    address = f"tcp://127.0.0.1:{PORT}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(PORT), "--no-dashboard"],
        **quiet,
    )
    workers = subprocess.Popen(
        [dask, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
        **quiet,
    )
    try:
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        yield
    finally:
        for process in (workers, scheduler):
            process.terminate()
            process.wait(timeout=60)


def fill(folder: Path, count: int) -> int:
    """`count` copies of the example models in `folder`; their total size."""
    sources = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".keras", ".h5"))
    for index, source in zip(range(count), itertools.cycle(sources), strict=False):
        shutil.copy(source, folder / f"{index:05d}_{source.name}")
    return sum(p.stat().st_size for p in folder.iterdir())


def run(folder: Path, options: tuple[str, ...]) -> tuple[float, float]:
    """(wall seconds, the audit process's own peak RSS in MB) of one run."""
    audit = str(Path(sys.executable).with_name("audit"))
    command = [audit, str(folder), "-o", "/dev/null", "--exit-zero", *options]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.02)
    wall = time.perf_counter() - start
    if process.wait() != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {process.stderr.read().decode()[-500:]}")
    return wall, peak / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=positive, default=1000)
    parser.add_argument("--runs", type=positive, default=3)
    args = parser.parse_args()
    counts = sorted({max(args.files // 10, 1), args.files})
    print(f"{machine()}; medians of {args.runs} runs, process start included\n")
    print("| files | mode | seconds | files/s | client peak RSS |")
    print("|---:|---|---:|---:|---:|")
    with deployment():
        for count in counts:
            table(count, args.runs)
    return 0


def table(count: int, runs: int) -> None:
    """The rows of one file count, its modes interleaved run by run."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fill(folder, count)
        samples: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
        names = list(MODES)
        for round_ in range(runs):
            for mode in names[round_ % len(names) :] + names[: round_ % len(names)]:
                samples[mode].append(run(folder, MODES[mode]))
    for mode, taken in samples.items():
        seconds = statistics.median(wall for wall, _ in taken)
        peak = statistics.median(rss for _, rss in taken)
        print(f"| {count:,} | `{mode}` | {seconds:.1f} | {count / seconds:.0f} | {peak:.0f} MB |")


if __name__ == "__main__":
    raise SystemExit(main())
