"""keras-audit against modelscan on the hostile corpus: which file does each tool flag?

Builds tests/hostile_corpus.py (the corpus the test suite audits), scans every file with
keras-audit (one run) and with modelscan (one run per file, JSON report), and prints a
Markdown table: per file, what it attacks and each tool's verdict, then totals.

modelscan is not a dependency of keras-audit: the first run installs `modelscan[tensorflow]`
into its own venv under benchmarks/.cache/ (or pass --modelscan PATH to an existing one).

    .venv/bin/python benchmarks/bench_modelscan.py [--write benchmarks/modelscan.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

VENV = ROOT / "benchmarks" / ".cache" / "modelscan-venv"
SECURITY = ("AUD001", "SEC")


@dataclass(frozen=True)
class Verdict:
    flagged: bool  # reported the file as unsafe or unreadable
    text: str


def ensure_modelscan(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    binary = VENV / "bin" / "modelscan"
    if not binary.exists():
        print(f"installing modelscan[tensorflow] into {VENV} (once) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "modelscan[tensorflow]"], check=True)
    return binary


def modelscan_version(binary: Path) -> str:
    done = subprocess.run([binary, "scan", "--version"], capture_output=True, text=True)
    return done.stdout.strip().split()[-1] if done.stdout.strip() else "?"


def scan(binary: Path, path: Path, out: Path) -> Verdict:
    """One modelscan run; its JSON report turned into a verdict."""
    out.unlink(missing_ok=True)
    done = subprocess.run(
        [binary, "-p", str(path), "-r", "json", "-o", str(out), "-l", "CRITICAL"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if not out.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Verdict(True, f"crashed (exit {done.returncode}): {last[:60]}")
    report = json.loads(out.read_text())
    issues = report.get("issues") or []
    if issues:
        ops = sorted({f"{i['severity']} {i['operator']}" for i in issues})
        return Verdict(True, "flags " + ", ".join(ops))
    errors = report.get("errors") or []
    if errors:
        reason = str(errors[0].get("description", "")).splitlines()[0]
        return Verdict(True, f"error: {reason[:70]}{'…' if len(reason) > 70 else ''}")
    if not report["summary"]["scanned"]["total_scanned"]:
        return Verdict(False, "skipped (not scanned)")
    return Verdict(False, "passes")


def audit_all(paths: list[Path]) -> list[Verdict]:
    from auditor.engine.config import AuditConfig
    from auditor.engine.runner import run

    verdicts = []
    for model in run(paths, AuditConfig()).models:
        codes = sorted({f.code for f in model.findings if f.code.startswith(SECURITY)})
        verdicts.append(Verdict(bool(codes), ", ".join(codes) if codes else "passes"))
    return verdicts


def timed(command: list[str]) -> float:
    """Wall time of one command-line scan of the corpus folder (its exit code ignored)."""
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, timeout=1800)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modelscan", help="path to a modelscan executable")
    parser.add_argument("--write", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    binary = ensure_modelscan(args.modelscan)

    import keras

    from auditor.text import display_path
    from tests.hostile_corpus import build_corpus

    with tempfile.TemporaryDirectory() as tmp:
        corpus = build_corpus(keras, Path(tmp) / "corpus")
        paths = [f.path for f in corpus.files]
        ours = audit_all(paths)
        theirs = [scan(binary, p, Path(tmp) / "modelscan.json") for p in paths]
        folder = str(corpus.marker.parent)
        ours_time = timed([sys.executable, "-m", "auditor", folder, "-q"])
        out = str(Path(tmp) / "all.json")
        theirs_time = timed([str(binary), "-p", folder, "-r", "json", "-o", out])
        ran = corpus.marker.exists()

    lines = [
        f"keras-audit {_version()} vs modelscan {modelscan_version(binary)} on the hostile "
        f"corpus ({len(paths)} files; {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}).",
        "",
        "| File | Attack | keras-audit | modelscan |",
        "|---|---|---|---|",
    ]
    for case, mine, other in zip(corpus.files, ours, theirs, strict=True):
        name = display_path(case.path.name)  # a corpus file's name is not UTF-8 on purpose
        lines.append(f"| `{name}` | {case.attack} | {_mark(mine)} | {_mark(other)} |")
    hostile = [i for i, f in enumerate(corpus.files) if f.expected]
    controls = [i for i, f in enumerate(corpus.files) if not f.expected]

    def count(verdicts: list[Verdict], indices: list[int]) -> int:
        return sum(verdicts[i].flagged for i in indices)

    lines += [
        f"| **hostile files flagged** | of {len(hostile)} | **{count(ours, hostile)}** "
        f"| **{count(theirs, hostile)}** |",
        f"| **clean controls flagged** | of {len(controls)} | {count(ours, controls)} "
        f"| {count(theirs, controls)} |",
        f"| **wall time** | one CLI run over the corpus folder | {ours_time:.2f} s "
        f"| {theirs_time:.2f} s |",
        "",
        "Flagged means a finding, issue or scan error naming the file; ✗ means the tool "
        "passed the file as safe. modelscan's errors count as flagged here, though a CI "
        "gate that only checks its exit code for issues would let those files through.",
        f"The Lambda's payload ran during either scan: {'YES' if ran else 'no'}.",
    ]
    table = "\n".join(lines)
    print(table)
    if args.write:
        command = "    .venv/bin/python benchmarks/bench_modelscan.py --write " + str(args.write)
        title = "# keras-audit and modelscan on hostile files"
        args.write.write_text(f"{title}\n\n{command}\n\n{table}\n")
    return 0


def _mark(verdict: Verdict) -> str:
    from auditor.reports.safe import visible  # a verdict quotes the file: show it, inertly

    return ("✓ " if verdict.flagged else "✗ ") + visible(verdict.text).replace("|", "\\|")


def _version() -> str:
    from auditor import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
