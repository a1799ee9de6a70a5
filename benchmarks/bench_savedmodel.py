"""keras-audit on tf.keras 2 SavedModel folders, against a plain read of the data shard and
against TensorFlow loading them.

On the same folders, each command in fresh processes (medians of --runs, interleaved as
in bench_performance.py):

* floor: a plain read of every byte of `variables/variables.data-*` (nothing parsed,
  nothing checked), the least any reader of the tensors does;
* audit: the `audit DIR` console script (every rule, the statistics, each tensor's
  CRC-32C checked as it is read, the op census of `saved_model.pb`; text to /dev/null);
  beside it the same with the checksums computed by NumPy instead of `google-crc32c`
  (the `fast` extra);
* load_model: tf.keras 2 `tf_keras.models.load_model(DIR, compile=False)` and
  `get_weights()` (imports TensorFlow, rebuilds the model, runs its restore functions);
* saved_model.load: `tf.saved_model.load(DIR)`, the graph alone.

Models (weights=None, written by tf-keras and cached in benchmarks/.cache): a one-layer
model (what each command costs before it reads any tensor), MobileNet, ResNet50,
EfficientNetB7. "per file: audit / floor" sets the one-layer row's times aside from both
sides, as bench_performance.py does. Prints Markdown.

    .venv/bin/python benchmarks/bench_savedmodel.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _models import (
    AUDIT_CLI,
    CACHE,
    TEXT_TO_NULL,
    Command,
    interleaved,
    largest_tensor_mb,
    machine,
    positive,
)

SAVEDMODELS = {
    "tiny": "K.Sequential([K.Input((4,)), K.layers.Dense(2)])",
    "mobilenet": "K.applications.MobileNet(weights=None)",
    "resnet50": "K.applications.ResNet50(weights=None)",
    "efficientnetb7": "K.applications.EfficientNetB7(weights=None)",
}

FLOOR = """
import glob, os, sys
buffer = bytearray(8 << 20)
for name in sorted(glob.glob(os.path.join(sys.argv[1], "variables", "variables.data-*"))):
    with open(name, "rb", buffering=0) as data:
        while data.readinto(buffer):
            pass
"""
NUMPY_CRC = """
import sys
import auditor.loaders.crc32c as crc
crc.native = None  # the audit's child process is forked: it computes with NumPy too
from auditor.cli import entry
sys.argv = ["audit", *sys.argv[1:]]
entry()
"""
LOAD_MODEL = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tf_keras
tf_keras.models.load_model(sys.argv[1], compile=False).get_weights()
"""
SAVED_MODEL_LOAD = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
tf.saved_model.load(sys.argv[1])
"""


def build(name: str) -> Path:
    """A tf.keras 2 SavedModel of `SAVEDMODELS[name]`, cached."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"{name}_tfk_savedmodel"
    if not (path / "saved_model.pb").exists():
        script = (
            "import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'; import tf_keras as K; "
            f"{SAVEDMODELS[name]}.save({str(path)!r})"
        )
        subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    return path


def _size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=positive, default=5)
    args = parser.parse_args()
    print(f"# SavedModels: keras-audit against a plain read and TensorFlow\n\n{machine()}\n")
    print(
        "| model | size | floor (read the shard) | audit | audit, NumPy CRC | load_model | "
        "saved_model.load | audit / floor | per file: audit / floor | load_model / audit | "
        "saved_model.load / audit "
        "| audit peak RSS | bound: 3x largest tensor + 150 MB |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    tiny: dict[str, float] = {}
    for name in SAVEDMODELS:
        path = build(name)
        commands: dict[str, Command] = {
            "floor": (FLOOR, (str(path),)),
            "audit": (AUDIT_CLI, (str(path), *TEXT_TO_NULL)),
            "numpy": (NUMPY_CRC, (str(path), *TEXT_TO_NULL)),
            "load_model": (LOAD_MODEL, (str(path),)),
            "saved_model": (SAVED_MODEL_LOAD, (str(path),)),
        }
        samples, failures = interleaved(commands, args.runs)
        wall = {k: statistics.median(s.wall for s in v) for k, v in samples.items()}
        peak = max(s.peak_mb for s in samples["audit"])
        bound = 3 * largest_tensor_mb(path) + 150

        def cell(key: str, wall: dict[str, float] = wall) -> str:
            return f"{wall[key]:.2f} s" if key in wall else "fails"

        def ratio(top: str, bottom: str, wall: dict[str, float] = wall) -> str:
            return f"{wall[top] / wall[bottom]:.1f}x" if top in wall and bottom in wall else ""

        if name == "tiny":
            tiny = dict(wall)
        per_file = ""
        if name != "tiny" and {"audit", "floor"} <= wall.keys() & tiny.keys():
            read = wall["floor"] - tiny["floor"]
            if read > 0.005:  # a floor too brief to tell says nothing
                per_file = f"{(wall['audit'] - tiny['audit']) / read:.2f}x"
        print(
            f"| {name} | {_size_mb(path):,.0f} MB | {cell('floor')} | {cell('audit')} | "
            f"{cell('numpy')} | {cell('load_model')} | {cell('saved_model')} | "
            f"{ratio('audit', 'floor')} | {per_file} | {ratio('load_model', 'audit')} | "
            f"{ratio('saved_model', 'audit')} | {peak:,.0f} MB | {bound:,.0f} MB |"
        )
        for key, error in failures.items():
            print(f"\n{name} {key}: {error}\n")


if __name__ == "__main__":
    main()
