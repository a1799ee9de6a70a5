"""Benchmark inputs and measurement, shared by the benchmark scripts.

Models are built once with `weights=None` (nothing downloaded) and cached in
benchmarks/.cache/. Every measurement runs in a fresh Python process, so imports and
start-up are part of what is measured, as they are for a user.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"

#: Every model `build` makes, as the Keras expression that makes it. "tiny" (one Dense
#: layer, 36 parameters) shows what each command costs before it reads any tensor.
MODELS = {
    "tiny": "keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)], name='tiny')",
    "mobilenet": "keras.applications.MobileNet(weights=None)",
    "resnet50": "keras.applications.ResNet50(weights=None)",
    "efficientnetb7": "keras.applications.EfficientNetB7(weights=None)",
    "convnext_large": "keras.applications.ConvNeXtLarge(weights=None)",
}
FILE_FORMATS = ("keras", "h5")

#: The synthetic model: this many Dense(WIDTH) layers, ~1.07 billion parameters.
BILLION_LAYERS, BILLION_WIDTH = 16, 8192


def machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}"
    )


def build(name: str, fmt: str) -> Path:
    """A model of `MODELS` saved as `.keras` or `.h5` (one of `FILE_FORMATS`), cached."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"{name}.{fmt}"
    if not path.exists():
        script = (
            "import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'; import keras; "
            f"{MODELS[name]}.save({str(path)!r})"
        )
        subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    return path


def compile_sources() -> None:
    """Compile keras-audit's modules, as a wheel install does (an editable checkout run
    with PYTHONDONTWRITEBYTECODE would otherwise recompile every module every run)."""
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    folders = [str(root / name) for name in ("auditor", "rules", "reports")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *folders], check=True, env=env)


def billion_bytes() -> int:
    return BILLION_LAYERS * (BILLION_WIDTH * BILLION_WIDTH + BILLION_WIDTH) * 4


def build_billion() -> Path:
    """A ~1-billion-parameter model written directly in the `.keras` layout.

    The config comes from a narrow Sequential built by Keras and widened in JSON (so it is
    exactly what Keras writes); the weights are written with h5py in the layout Keras 3
    saves (`layers/<name>/vars/<i>`), glorot-uniform kernels and zero biases, 256 MB at a
    time. The archive stores the weights member uncompressed, as Keras does.
    """
    import h5py
    import numpy as np

    path = CACHE / "billion.keras"
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    script = (
        "import json, os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'; import keras; "
        f"layers = [keras.layers.Dense(8, name=f'dense_{{i}}') for i in range({BILLION_LAYERS})]; "
        "m = keras.Sequential([keras.Input((8,)), *layers], name='billion'); "
        "print(json.dumps({'config': keras.saving.serialize_keras_object(m), "
        "'version': keras.__version__}))"
    )
    done = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    built = json.loads(done.stdout.decode().strip().splitlines()[-1])
    config = built["config"]
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Dense":
            layer["config"]["units"] = BILLION_WIDTH
            layer["build_config"] = {"input_shape": [None, BILLION_WIDTH]}
        elif layer["class_name"] == "InputLayer":
            layer["config"]["batch_shape"] = [None, BILLION_WIDTH]
    config["build_config"] = {"input_shape": [None, BILLION_WIDTH]}
    weights = CACHE / "billion.weights.h5"
    rng = np.random.default_rng(0)
    limit = float(np.sqrt(6.0 / (2 * BILLION_WIDTH)))
    rows = 8192  # 256 MB per write
    with h5py.File(weights, "w") as f:
        f.create_group("vars")
        for i in range(BILLION_LAYERS):
            group = f.create_group(f"layers/dense_{i}/vars")
            kernel = group.create_dataset("0", (BILLION_WIDTH, BILLION_WIDTH), "<f4")
            for start in range(0, BILLION_WIDTH, rows):
                kernel[start : start + rows] = rng.uniform(
                    -limit, limit, (min(rows, BILLION_WIDTH - start), BILLION_WIDTH)
                ).astype("<f4")
            group.create_dataset("1", data=np.zeros(BILLION_WIDTH, "<f4"))
    metadata = {"keras_version": built["version"], "date_saved": "synthetic"}
    partial = path.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
        z.writestr("metadata.json", json.dumps(metadata))
        z.writestr("config.json", json.dumps(config))
        z.write(weights, "model.weights.h5")
    weights.unlink()
    partial.replace(path)
    return path


def largest_tensor_mb(path: Path) -> float:
    """The largest stored tensor of a model file, in MiB (from keras-audit's own reader)."""
    from auditor.loaders import open_model

    with open_model(path) as loaded:
        sizes = [
            w.size * (2 if w.dtype in ("float16", "bfloat16") else 8 if w.dtype == "float64" else 4)
            for w in loaded.graph.weights()
            if w.tensor is not None
        ]
    return max(sizes) / 2**20


def free_bytes(where: Path) -> int:
    return shutil.disk_usage(where).free


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds
    cpu: float  # user + system seconds, the process and its waited-for children
    peak_mb: float  # peak RSS of the process or its largest child


#: `measure(AUDIT_CLI, *arguments)` runs the installed `audit` command.
AUDIT_CLI = "audit"

# Runs the measured command from a small process: a child's peak RSS as the kernel reports
# it includes the high-water mark of the process that forked it, so forking from the
# benchmark itself (which may have held a 1 GB model in memory) would inflate every figure.
_LAUNCHER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(json.dumps({"wall": time.perf_counter() - start, "status": os.waitstatus_to_exitcode(status),
                  "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024}))
"""


def measure(code: str, *args: str, timeout: float = 3600) -> Sample:
    """Run `python -c code *args` in a fresh process; its wall time, CPU (user + system)
    and peak RSS, from `os.wait4` (that process and the children it waited for).
    `code` may be `AUDIT_CLI`: the `audit` console script itself, with `args`."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: imports load compiled bytecode
    if code == AUDIT_CLI:
        target = [str(Path(sys.executable).with_name("audit")), *args]
    else:
        target = [sys.executable, "-c", code, *args]
    command = [sys.executable, "-c", _LAUNCHER, *target]
    with tempfile.TemporaryFile() as errors:
        done = subprocess.run(
            command, stdout=subprocess.PIPE, stderr=errors, env=env, timeout=timeout, check=False
        )
        result = json.loads(done.stdout.decode().strip().splitlines()[-1])
        if result["status"] != 0:
            errors.seek(0)
            last = errors.read().decode(errors="replace").strip().splitlines()[-1:]
            raise RuntimeError(f"benchmark process failed ({result['status']}): {last}")
    return Sample(result["wall"], result["cpu"], result["peak_mb"])


#: `audit FILE` options for a timed run: the text report to /dev/null, exit code 0.
TEXT_TO_NULL = ("-o", "/dev/null", "--exit-zero")

Command = tuple[str, tuple[str, ...]]  # `measure(code, *arguments)`: (code or AUDIT_CLI, args)


def interleaved(
    commands: dict[str, Command], count: int
) -> tuple[dict[str, list[Sample]], dict[str, str]]:
    """`count` samples of each command, taken in rounds of one run of every command, each
    round starting one command later than the last.

    This VM has slow and fast phases lasting minutes. Run back to back, the samples of
    two commands can come from different phases, and their ratio then measures the VM;
    interleaved, every command samples the same phases. Each command runs once first to
    warm the page cache and the import caches. A command whose warm-up run fails is left
    out; its error is returned instead.
    """
    failures: dict[str, str] = {}
    for name, (code, args) in commands.items():
        try:
            measure(code, *args)
        except RuntimeError as exc:  # e.g. a legacy .h5 with a layer Keras cannot rebuild
            failures[name] = str(exc)
    names = [name for name in commands if name not in failures]
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for round_ in range(count):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            code, args = commands[name]
            samples[name].append(measure(code, *args))
    return samples, failures


def names(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated list of names, each one of `allowed`."""

    def parse(text: str) -> list[str]:
        chosen = [name.strip() for name in text.split(",") if name.strip()]
        unknown = [name for name in chosen if name not in allowed]
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {', '.join(allowed)}; received {text!r}"
            )
        return chosen

    return parse


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of at least 1; received {text!r}"
        )
    return int(text)
