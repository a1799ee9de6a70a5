"""WGT001 accuracy on the full labelled corpus (tests/corpus.py), printed exactly.

Builds every (architecture, initializer, variant) model of the corpus, audits them with
WGT001 only, and prints per-architecture precision and recall on layers with at least
1,000 parameters, then every miss and false alarm. Targets: precision >= 0.99 and recall
>= 0.95 (tests/test_wgt001_accuracy.py asserts a floor on a subset).

    .venv/bin/python benchmarks/bench_wgt001.py [--initializers glorot_uniform,he_normal]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    from tests.corpus import ARCHITECTURES, INITIALIZERS, VARIANTS, build_corpus, score

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--initializers", default=",".join(INITIALIZERS))
    parser.add_argument("--architectures", default=",".join(ARCHITECTURES))
    args = parser.parse_args()
    import keras

    keras.utils.set_random_seed(0)
    inits = tuple(args.initializers.split(","))
    archs = tuple(args.architectures.split(","))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cases = build_corpus(keras, Path(tmp), archs, inits)
        built = time.perf_counter() - started
        scores = score(cases)
    print(
        f"WGT001 on {len(cases)} models ({len(archs)} architectures x {len(inits)} "
        f"initializers x {len(VARIANTS)} variants: {', '.join(VARIANTS)}); built in "
        f"{built:.0f} s\n"
    )
    print(
        "| architecture | layers at init | flagged correctly | false alarms | precision | recall |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name in (*archs, "all"):
        s = scores.get(name)
        if s is None:
            continue
        print(f"| {name} | {s.tp + s.fn} | {s.tp} | {s.fp} | {s.precision:.3f} | {s.recall:.3f} |")
    errors = scores["all"].errors
    print(f"\n{len(errors)} error(s)" + (":" if errors else "."))
    for error in errors:
        print(f"- {error}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
