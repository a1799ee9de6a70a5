from pathlib import Path

import pytest

from tests.harness import assert_rule

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "models"

CASES = {
    "random.keras": b"\x00\x01garbage" * 10,
    "text.h5": b"not an hdf5 file at all",
    "empty.keras": b"",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_non_models_fire_once(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(CASES[name])
    (finding,) = assert_rule(path, "AUD001", {("", None)})
    assert finding.details["fatal"] is True
    assert "\n" not in finding.message


def test_truncated_keras_file_fires(tmp_path):
    source = sorted(EXAMPLES.glob("*.keras"))[0]
    data = source.read_bytes()
    path = tmp_path / "truncated.keras"
    path.write_bytes(data[: len(data) // 2])
    (finding,) = assert_rule(path, "AUD001", {("", None)})
    assert finding.message.startswith("Cannot audit this file")


def test_a_complete_model_stays_clean():
    assert_rule(EXAMPLES / "clean.keras", "AUD001", set())
