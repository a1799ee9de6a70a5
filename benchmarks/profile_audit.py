"""Where `audit FILE` spends its time, sampled with py-spy.

Runs the installed `audit` console script under `py-spy record` --runs times per file,
adds the samples up, and prints for each file:

* the phases: a sample counts for the first of these its stack passes through:
  imports (`_find_and_load`, wherever it happens), opening the file (`open_model`: the
  config, the HDF5 scan, the weight mapping), reading tensor bytes (`H5Tensor._read`, on
  the reading thread too), the rest of the statistics (`read_stats`), the rules and the
  model's report (the rest of `audit_graph`), closing the file, sending the report from
  the child to the CLI, writing the output (`reports/`); then threads blocked in a wait
  that py-spy sampled anyway, and everything else;
* the functions with the most samples of their own (self time).

By default the file is audited in the CLI's own process (`--debug`, which only differs
in raising rule crashes): py-spy finds a forked child by polling for it, and misses the
first tens of milliseconds of its work, which on a small model is all of it. With
`--isolated`, the run is the default one, the child followed with `--subprocesses`.

Milliseconds are per run (samples / rate / runs); the reading thread runs beside the
statistics, so the phases add up to more than the wall time. Needs py-spy (`pip install
-e '.[bench]'`) and the right to trace processes (root, or `kernel.yama.ptrace_scope = 0`).

    .venv/bin/python benchmarks/profile_audit.py [--models efficientnetb7] [--formats h5]
        [--runs 5] [--rate 1000] [--top 15] [--isolated]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _models import FILE_FORMATS, MODELS, build, compile_sources, machine, names, positive

# (phase, test on one frame "function (path:line)"), in the order a sample is assigned.
PHASES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("imports", re.compile(r"^_find_and_load ")),
    ("open the file", re.compile(r"^open_model \(auditor/loaders/")),
    ("read the tensors (both threads)", re.compile(r"^H5Tensor\._read \(")),
    ("statistics", re.compile(r"^read_stats \(auditor/engine/judge\.py")),
    ("rules and the model report", re.compile(r"^audit_graph \(auditor/engine/judge\.py")),
    ("close the file", re.compile(r"^LoadedModel\.close \(")),
    ("the report through the pipe", re.compile(r"^(Connection\._send|_ConnectionBase\.recv) ")),
    ("output", re.compile(r"\(reports/")),
)
OTHER = "other: interpreter start-up and exit, fork, CLI"
# Leaf frames of a thread blocked in C, which py-spy does not always see as idle.
WAITS = "threads waiting (not always seen as idle)"
_WAITING = re.compile(
    r"^(_worker \(concurrent/futures/thread\.py|Condition\.wait |Thread\._wait_for_tstate_lock )"
)
_SUMMARY = re.compile(r"Samples: (\d+) Errors: (\d+)")


def py_spy() -> str | None:
    """py-spy beside this Python (the project's `.venv`), else on the PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(path: Path, rate: int, output: Path, isolated: bool) -> tuple[int, int]:
    """One run of `audit path` under py-spy; (samples, errors) as py-spy counts them."""
    audit = str(Path(sys.executable).with_name("audit"))
    how = ("--subprocesses",) if isolated else ()
    done = subprocess.run(
        [
            *(str(py_spy()), "record", *how, "--nonblocking", "--format", "raw"),
            *("--rate", str(rate), "--output", str(output), "--"),
            *(audit, str(path), "-o", "/dev/null", "--exit-zero"),
            *(() if isolated else ("--debug",)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    found = _SUMMARY.search(done.stdout + done.stderr)
    if done.returncode != 0 or found is None:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:]
        raise SystemExit(f"py-spy failed on {path.name} (exit {done.returncode}): {last}")
    return int(found[1]), int(found[2])


def tally(raw: str, phases: Counter[str], own: Counter[str]) -> None:
    """Add one raw py-spy profile (`frame;frame;... count` per line) to the counters."""
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        phase = next(
            (name for name, test in PHASES if any(test.search(frame) for frame in frames)),
            WAITS if _WAITING.search(frames[-1]) else OTHER,
        )
        phases[phase] += int(count)
        own[re.sub(r":\d+\)$", ")", frames[-1])] += int(count)


def report(path: Path, runs: int, rate: int, top: int, isolated: bool) -> list[str]:
    phases: Counter[str] = Counter()
    own: Counter[str] = Counter()
    samples = errors = 0
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "profile.txt"
        for _ in range(runs):
            got, failed = record(path, rate, output, isolated)
            samples, errors = samples + got, errors + failed
            tally(output.read_text(encoding="utf-8", errors="replace"), phases, own)
    total = sum(phases.values()) or 1

    def ms(count: int) -> str:
        return f"{count / rate / runs * 1000:,.0f} ms"

    lines = [
        f"## {path.name}",
        "",
        f"{samples:,} samples over {runs} runs at {rate} Hz ({errors:,} that py-spy could "
        "not read); idle threads are left out.",
        "",
        "| phase | per run | share |",
        "|---|--:|--:|",
    ]
    for name in [name for name, _ in PHASES] + [WAITS, OTHER]:
        lines.append(f"| {name} | {ms(phases[name])} | {phases[name] / total:.0%} |")
    lines += ["", "| function (own samples) | per run | share |", "|---|--:|--:|"]
    for frame, count in own.most_common(top):
        lines.append(f"| `{frame}` | {ms(count)} | {count / total:.0%} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=names(list(MODELS)), default=["efficientnetb7"])
    parser.add_argument("--formats", type=names(FILE_FORMATS), default=list(FILE_FORMATS))
    parser.add_argument("--runs", type=positive, default=5)
    parser.add_argument("--rate", type=positive, default=1000, help="samples per second")
    parser.add_argument("--top", type=positive, default=15)
    parser.add_argument(
        "--isolated", action="store_true", help="the default run, with its child process"
    )
    args = parser.parse_args()
    if py_spy() is None:
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    compile_sources()
    how = "with its child process" if args.isolated else "in one process (--debug)"
    print(f"Machine: {machine()}. `audit FILE -o /dev/null` under py-spy, {how}.\n")
    for model in args.models:
        for fmt in args.formats:
            lines = report(build(model, fmt), args.runs, args.rate, args.top, args.isolated)
            print("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
