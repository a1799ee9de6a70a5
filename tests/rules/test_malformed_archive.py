import zipfile
from pathlib import Path

import pytest

from tests.harness import assert_rule
from tests.hostile_corpus import rezip

CLEAN = Path(__file__).resolve().parents[2] / "examples" / "models" / "clean.keras"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("sec004")
    slip = rezip(CLEAN, out / "slip.keras", lambda m: {**m, "../../evil.txt": b"x"})
    bomb = out / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        zout.writestr("config.json", b" " * (50 * 1024 * 1024))
    deep = rezip(CLEAN, out / "deep.keras", lambda m: {**m, "config.json": b"[" * 100_000})
    return {"slip": slip, "bomb": bomb, "deep": deep}


@pytest.mark.parametrize(
    ("case", "words"),
    [("slip", "escapes the archive"), ("bomb", "zip bomb"), ("deep", "nested too deeply")],
)
def test_attacks_on_the_reader_fire(files, case, words):
    (finding,) = assert_rule(files[case], "SEC004", {("", None)})
    assert words in finding.message and finding.details["fatal"] is True


@pytest.mark.parametrize("name", ["clean.keras", "clean.h5"])
def test_a_model_saved_by_keras_stays_clean(name):
    assert_rule(CLEAN.parent / name, "SEC004", set())
