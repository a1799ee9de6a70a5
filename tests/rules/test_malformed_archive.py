import zipfile
from pathlib import Path

import pytest

from tests.conftest import FORMATS
from tests.harness import assert_rule
from tests.hostile_corpus import rename_layer, rezip

CLEAN = Path(__file__).resolve().parents[2] / "examples" / "models" / "clean.keras"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("sec004")
    slip = rezip(CLEAN, out / "slip.keras", lambda m: {**m, "../../evil.txt": b"x"})
    bomb = out / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        zout.writestr("config.json", b" " * (50 * 1024 * 1024))
    deep = rezip(CLEAN, out / "deep.keras", lambda m: {**m, "config.json": b"[" * 100_000})
    traversal = {
        fmt: rename_layer(CLEAN.with_suffix(f".{fmt}"), out / f"traversal.{fmt}", "head", "../../x")
        for fmt in FORMATS
    }
    dotted = {
        fmt: rename_layer(CLEAN.with_suffix(f".{fmt}"), out / f"dotted.{fmt}", "head", "head..v2")
        for fmt in FORMATS
    }
    return {"slip": slip, "bomb": bomb, "deep": deep, "traversal": traversal, "dotted": dotted}


@pytest.mark.parametrize(
    ("case", "words"),
    [("slip", "escapes the archive"), ("bomb", "zip bomb"), ("deep", "nested too deeply")],
)
def test_attacks_on_the_reader_fire(files, case, words):
    (finding,) = assert_rule(files[case], "SEC004", {("", None)})
    assert words in finding.message and finding.details["fatal"] is True


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_layer_named_as_a_path_fires(files, fmt):
    """CVE-2026-12479: Keras writes and extracts a layer's assets under its name."""
    (finding,) = assert_rule(files["traversal"][fmt], "SEC004", {("../../x", None)})
    assert finding.details == {"name": "../../x"}
    assert finding.location.config_key.endswith(".config.name")


@pytest.mark.parametrize("fmt", FORMATS)
def test_dots_inside_a_name_stay_clean(files, fmt):
    assert_rule(files["dotted"][fmt], "SEC004", set())


@pytest.mark.parametrize("name", ["clean.keras", "clean.h5"])
def test_a_model_saved_by_keras_stays_clean(name):
    assert_rule(CLEAN.parent / name, "SEC004", set())
