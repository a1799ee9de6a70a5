"""WGT001 on a labelled corpus (tests/corpus.py): a floor under the targets (precision
0.99, recall 0.95); benchmarks/bench_wgt001.py prints the exact figures on the full
corpus."""

from __future__ import annotations

import pytest

from tests.corpus import ARCHITECTURES, build_corpus, score


@pytest.fixture(scope="module")
def scores(keras, tmp_path_factory):
    inits = ("glorot_uniform", "he_normal", "orthogonal")
    cases = build_corpus(keras, tmp_path_factory.mktemp("corpus"), ARCHITECTURES, inits)
    return score(cases)


def test_precision_and_recall_floor(scores):
    total = scores["all"]
    assert total.tp + total.fn >= 40 and total.fp + total.tn >= 80  # the corpus is not trivial
    assert total.precision >= 0.97, total.errors
    assert total.recall >= 0.90, total.errors


def test_no_false_alarm_on_trained_models(scores):
    """Trained and fine-tuned models: never. (Eight Adam steps from scratch, the "brief"
    variant, may look initial to a statistical test; it counts towards precision.)"""
    alarms = [e for e in scores["all"].errors if e.startswith("false alarm")]
    assert not [e for e in alarms if "-trained:" in e or "-finetuned:" in e], alarms
