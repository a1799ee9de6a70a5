"""What the per-tensor statistics cost: a static audit vs a plain read of every tensor.

For ResNet50 and ConvNeXtLarge (weights=None, `.keras`, cached in benchmarks/.cache), each
measured in fresh processes after the imports:

* read: keras-audit's own loader reading every tensor once, in the same chunks, without
  computing anything (the floor of any audit);
* audit: every rule, statistics, initializer fits and histograms, in the same process
  (`timeout=None`), which is what the statistics cost;
* isolated: the default `run()`, which audits in a supervised child process (protection
  against files that hang the HDF5 library): audit plus a fork and the report's transfer.

Each process runs its task once untimed (lazy imports, the rule registry and pydantic's
validators are one-time costs, not statistics) and then once timed. Prints median
seconds, their ratio (target: audit <= 1.5x read), and the audit's peak RSS beside the
memory bound (3x the largest tensor + 150 MB).

    .venv/bin/python benchmarks/bench_stats.py [--runs 3] [--models resnet50,convnext_large]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _models import MODELS, build, largest_tensor_mb, machine, names, positive

DEFAULT_MODELS = ["resnet50", "convnext_large"]

CHILD = """
import json, resource, sys, time
import auditor
from auditor.engine.config import AuditConfig
from auditor.engine.runner import run
from auditor.loaders import open_model
from auditor.tensors.stats import DEFAULT_CHUNK_BYTES
mode, path = sys.argv[1], sys.argv[2]

def once():
    if mode == "read":
        with open_model(path) as loaded:
            for weight in loaded.graph.weights():
                if weight.tensor is not None:
                    for _ in weight.tensor.iter_chunks(DEFAULT_CHUNK_BYTES):
                        pass
    elif mode == "audit":
        run([path], AuditConfig(timeout=None))  # in this process: the statistics' cost
    else:
        run([path])  # the default: in a supervised child process (isolation from hangs)

once()  # lazy imports, rule registry, pydantic validators: one-time costs, not statistics
start = time.perf_counter()
once()
elapsed = time.perf_counter() - start
peak = max(
    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
) / 1024
print(json.dumps({"seconds": elapsed, "peak_mb": peak}))
"""


def measure(mode: str, path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=positive, default=3)
    parser.add_argument("--models", type=names(list(MODELS)), default=DEFAULT_MODELS)
    args = parser.parse_args()
    print(
        f"machine: {machine()}; medians of {args.runs} fresh processes, "
        "each timed on its second run\n"
    )
    print(
        "| model | file | read | audit | audit/read (<= 1.5) | isolated | audit peak RSS "
        "| bound 3x largest + 150 MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.models:
        path = build(name, "keras")
        for mode in ("read", "audit"):
            measure(mode, path)  # warm the page cache
        read = [measure("read", path) for _ in range(args.runs)]
        audit = [measure("audit", path) for _ in range(args.runs)]
        isolated = [measure("isolated", path) for _ in range(args.runs)]
        read_s = statistics.median(r["seconds"] for r in read)
        audit_s = statistics.median(r["seconds"] for r in audit)
        isolated_s = statistics.median(r["seconds"] for r in isolated)
        peak = statistics.median(r["peak_mb"] for r in audit)
        bound = 3 * largest_tensor_mb(path) + 150
        print(
            f"| {name} | {path.stat().st_size / 1e6:.0f} MB | {read_s:.2f} s | {audit_s:.2f} s "
            f"| {audit_s / read_s:.2f}x | {isolated_s:.2f} s | {peak:.0f} MB | {bound:.0f} MB |"
        )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
