"""Reading one tensor in each HDF5 storage layout: keras-audit's statistics against h5py.

Keras writes every tensor contiguous and uncompressed, but other writers chunk and
compress. A 64 MiB float32 tensor (4096 x 4096) is stored four ways in a temporary file:
contiguous; gzip in chunks of 64 rows; gzip in chunks of 64 columns (each chunk spans
every row); gzip in one chunk. For each, in this process (page cache warm, medians of
--runs):

* h5py: `dataset[()]`, the whole tensor in one read (the floor);
* statistics: `auditor.tensors.stats.compute` over the checked dataset, as an audit reads it
  (slices of `DEFAULT_CHUNK_BYTES`, never splitting a stored chunk), with its peak
  traced allocation (tracemalloc; NumPy's buffers are traced).

    .venv/bin/python benchmarks/bench_chunked.py [--runs 5]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import h5py
import numpy as np
from _models import machine, positive

from auditor.limits import Limits
from auditor.loaders.h5tensor import H5Tensor, file_window
from auditor.loaders.safe_hdf5 import scan_h5
from auditor.tensors.stats import DEFAULT_CHUNK_BYTES, compute

SIDE = 4096
LAYOUTS: dict[str, dict[str, object]] = {
    "contiguous": {},
    "gzip, chunks of 64 rows": {"chunks": (64, SIDE), "compression": "gzip"},
    "gzip, chunks of 64 columns": {"chunks": (SIDE, 64), "compression": "gzip"},
    "gzip, one chunk": {"chunks": (SIDE, SIDE), "compression": "gzip"},
}


def timed(task: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        task()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=positive, default=5)
    args = parser.parse_args()
    values = np.random.default_rng(0).standard_normal((SIDE, SIDE)).astype(np.float32)
    print(
        f"Machine: {machine()}. One {values.nbytes / 2**20:.0f} MiB float32 tensor; medians "
        f"of {args.runs} reads in one process; read size {DEFAULT_CHUNK_BYTES / 2**20:.0f} MiB."
    )
    print()
    print("| layout | h5py whole read | keras-audit statistics | ratio | statistics peak |")
    print("|---|--:|--:|--:|--:|")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "layouts.h5"
        with h5py.File(path, "w") as f:
            for index, options in enumerate(LAYOUTS.values()):
                f.create_dataset(str(index), data=values, **options)
        with h5py.File(path, "r") as f:
            scan = scan_h5(f, Limits())
            window = file_window(f)
            for index, label in enumerate(LAYOUTS):
                dataset = f[str(index)]
                audit = functools.partial(
                    compute, H5Tensor(scan.datasets[str(index)], window), inventory=False
                )
                floor = timed(functools.partial(dataset.__getitem__, ()), args.runs)
                seconds = timed(audit, args.runs)
                tracemalloc.start()
                audit()
                peak = tracemalloc.get_traced_memory()[1] / 2**20
                tracemalloc.stop()
                print(
                    f"| {label} | {floor:.2f} s | {seconds:.2f} s | {seconds / floor:.2f}x "
                    f"| {peak:.0f} MiB |"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
