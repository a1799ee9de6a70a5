"""Resource bombs: small files that claim a lot, and what auditing them costs.

Each file is a clean example model with one part replaced by something that makes a naive
reader allocate or compute far more than the file holds:

* a 4x2 kernel stored in one gzip chunk of 1 GiB (reading any value inflates the chunk);
* a kernel of one row of 512 MiB (per-channel sums sized by its 134 million columns);
* a 1-D int8 bias of 1 GiB (a billion "channels", and int64 copies of it);
* a 60 MB `config.json` of 20 million empty lists (what parsing it builds);
* 400,000 scalar datasets (what opening each costs in libhdf5).

For each, `audit FILE` in a fresh process: wall time, peak RSS, the findings' codes, and
the bound the audit is held to, 300 MB plus its largest legitimate tensor (one whose
values the audit reads: the 512 MiB row and the 1 GiB bias; the others are refused).
Prints Markdown.

    .venv/bin/python benchmarks/bench_bombs.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _models import AUDIT_CLI, CACHE, machine, measure

from tests.hostile_corpus import CLEAN_H5, CLEAN_KERAS

MiB = 2**20


def _edit(name: str, edit) -> Path:
    path = CACHE / "bombs" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CLEAN_H5, path)
        with h5py.File(path, "r+") as f:
            edit(f)
    return path


def _chunk(f: h5py.File) -> None:
    group = f["model_weights/head/head"]
    del group["kernel"]
    kernel = group.create_dataset(
        "kernel", (4, 2), "<f4", maxshape=(None, None), chunks=(2**14, 2**14), compression="gzip"
    )
    kernel[...] = 1.0


def _row(f: h5py.File) -> None:
    group = f["model_weights/head/head"]
    del group["kernel"]
    group.create_dataset("kernel", data=np.ones((1, 2**27), "<f4"))


def _bias(f: h5py.File) -> None:
    group = f["model_weights/head/head"]
    del group["bias"]
    group.create_dataset("bias", data=np.ones(2**30, "i1"))


def _datasets(f: h5py.File) -> None:
    group = f.create_group("model_weights/extra")
    for index in range(400_000):
        group.create_dataset(f"d{index}", data=np.float32(index))


def _lists() -> Path:
    path = CACHE / "bombs" / "lists.keras"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(CLEAN_KERAS) as zin, zipfile.ZipFile(path, "w") as zout:
            for info in zin.infolist():
                data = zin.read(info)
                if info.filename == "config.json":
                    data = b"[" + b"[]," * 20_000_000 + b"[]]"
                zout.writestr(info, data)
    return path


def _findings(path: Path) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("audit")), str(path), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    codes = sorted({f["code"] for m in json.loads(done.stdout)["models"] for f in m["findings"]})
    return ", ".join(codes) or "none"


def main() -> int:
    bombs = [
        ("4x2 kernel in a 1 GiB gzip chunk", _edit("chunk.h5", _chunk), 0),
        ("one 512 MiB row", _edit("row.h5", _row), 512 * MiB),
        ("1 GiB int8 bias", _edit("bias.h5", _bias), 1024 * MiB),
        ("20 million empty lists in config.json", _lists(), 0),
        ("400,000 scalar datasets", _edit("datasets.h5", _datasets), 0),
    ]
    print(f"Machine: {machine()}. `audit FILE`, one fresh process each.\n")
    print("| file | size | wall | peak RSS | bound | findings |")
    print("|---|--:|--:|--:|--:|---|")
    for label, path, tensor in bombs:
        sample = measure(AUDIT_CLI, str(path), "-o", "/dev/null", "--exit-zero")
        bound = 300 + tensor / MiB
        print(
            f"| {label} | {path.stat().st_size / MiB:,.1f} MB | {sample.wall:.2f} s "
            f"| {sample.peak_mb:,.0f} MB | {bound:,.0f} MB | {_findings(path)} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
