"""REG014 on files whose `keras_version` says which Keras wrote them, and what REG010 and
WD002 leave out of a file written before the Bidirectional fix."""

import pytest

from auditor.graph.version_bugs import VERSION_BUGS, standalone_version
from examples.keras2_files import bidirectional_gru
from tests.harness import assert_rule, findings_of

BACKWARD = "model/bidirectional_1/backward_gru_1/gru_cell/kernel"
FORWARD = "model/bidirectional_1/forward_gru_1/gru_cell/kernel"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("keras2_versions")
    return {
        version: bidirectional_gru(root / f"bidi_{version}.h5", version)
        for version in ("2.0.6", "2.1.6", "2.1.6-tf", "2.2.0", "2.2.4")
    }


@pytest.mark.parametrize("version", ["2.0.6", "2.1.6"])
def test_backward_penalties_of_keras_before_2_2_fire(files, version):
    (finding,) = assert_rule(files[version], "REG014", {("model/bidirectional_1", None)})
    assert finding.message == (
        f"This file was written by Keras {version}, and in Keras before 2.2.0 Bidirectional "
        "did not apply the regularizers of its backward layer (keras-team/keras#7514, fixed "
        "by keras-team/keras#10012). `model/bidirectional_1` declares L1L2(l1=0, l2=0.001) "
        "on `bidirectional_1/backward_gru_1/kernel:0`, but training never penalized it; a "
        "reload in a fixed version does."
    )
    assert finding.details["weights"] == [BACKWARD]
    assert finding.location.config_key == "config[0].config.layer.config.kernel_regularizer"


@pytest.mark.parametrize("version", ["2.2.0", "2.2.4", "2.1.6-tf"])
def test_fixed_versions_and_tf_keras_stay_clean(files, version):
    assert_rule(files[version], "REG014", set())


def test_unapplied_penalties_stay_out_of_reg010_and_wd002(files):
    """The backward kernel's declared 1.08 would put the penalty (1.2) over ln 2; without
    it the penalty is 0.12. Adam's L2 list loses the backward kernel too."""
    assert findings_of(files["2.1.6"], "REG010") == []
    (dominates,) = findings_of(files["2.2.0"], "REG010")
    assert dominates.details["penalty"] == pytest.approx(1.2, rel=1e-6)
    (old,) = findings_of(files["2.1.6"], "WD002")
    (new,) = findings_of(files["2.2.0"], "WD002")
    assert old.details["weights"] == [FORWARD]
    assert new.details["weights"] == [FORWARD, BACKWARD]


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("2.1.6", (2, 1, 6)),
        ("2.0", (2, 0, 0)),
        (" 2.2.4 ", (2, 2, 4)),
        ("2.1.6-tf", None),
        ("2.2.4-tf", None),
        ("3.1.0.dev2024", None),
        ("", None),
        (None, None),
    ],
)
def test_only_standalone_keras_versions_are_read(text, parsed):
    assert standalone_version(text) == parsed


def test_every_version_bug_cites_its_issue():
    for bug in VERSION_BUGS:
        assert bug.reference.startswith("keras-team/keras#")
        assert bug.affects(".".join(map(str, (bug.fixed_in[0], bug.fixed_in[1] - 1, 9))))
        assert not bug.affects(bug.fixed_in_text)
