"""Hostile files never crash, hang, run code or read another file: each ends in exactly
the AUD001/SEC findings tests/hostile_corpus.py expects of it, in one run over them all."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor.cli.common import rule_infos
from auditor.engine.config import AuditConfig
from auditor.engine.runner import run
from auditor.loaders.safe_json import json_depth, json_values, skeleton
from auditor.reports import RENDERERS, RenderOptions
from auditor.results.findings import ModelReport, Report
from auditor.text import display_path
from tests.hostile_corpus import CLEAN_KERAS, SECRET, Corpus, build_corpus, rezip

SECURITY = ("AUD001", "SEC")


@pytest.fixture(scope="module")
def corpus(keras, tmp_path_factory) -> Corpus:
    return build_corpus(keras, tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def report(corpus) -> Report:
    return run([f.path for f in corpus.files], AuditConfig())


def model(corpus: Corpus, report: Report, name: str) -> ModelReport:
    (index,) = [i for i, f in enumerate(corpus.files) if f.path.name == name]
    return report.models[index]


def messages(corpus: Corpus, report: Report, name: str, code: str) -> list[str]:
    return [f.message for f in model(corpus, report, name).findings if f.code == code]


def test_every_file_ends_in_exactly_its_expected_findings(corpus, report):
    assert len(report.models) == len(corpus.files)
    got = {
        f.path.name: (
            sorted({x.code for x in m.findings if x.code.startswith(SECURITY)}),
            m.errors,
        )
        for f, m in zip(corpus.files, report.models, strict=True)
    }
    expected = {f.path.name: (sorted(f.expected), []) for f in corpus.files}
    assert got == expected


def test_no_code_in_any_file_ran(corpus, report):
    payloads = [f for f in corpus.files if "SEC001" in f.expected]
    assert len([f for f in report.findings if f.code == "SEC001"]) == len(payloads) > 2
    assert not corpus.marker.exists()


def test_the_secret_is_never_read_nor_shown(corpus, report):
    for name in ("external_storage.h5", "external_storage.keras"):
        found = model(corpus, report, name)
        external = [w for layer in found.inventory for w in layer.weights if w.stats is None]
        assert len(external) == 1  # the externally stored weight got no statistics
    leaked = np.frombuffer(SECRET, "<f4").tolist()
    for fmt, render in RENDERERS.items():
        text = render(report, options=RenderOptions(verbose=True))
        assert SECRET.decode() not in text, fmt
        assert not any(repr(value) in text for value in leaked), fmt


#: What no output but a machine format may hold: control characters but line feeds,
#: line separators and bidirectional controls (tests/hostile_corpus.py's INJECTION).
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CODE_SPAN = re.compile("`[^`\n]*`")


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_no_name_from_a_file_injects_into_an_output(corpus, report, fmt):
    """Whatever a file names its layers, an output shows it and does nothing else: no
    escape sequence reaches a terminal, no line break starts a line a CI runner would run
    (`::error`), no markup leaves a Markdown code span, and XML stays well-formed. JSON
    and SARIF are data: they only have to parse."""
    text = RENDERERS[fmt](report, options=RenderOptions(verbose=True, rules=rule_infos()))
    assert "]0;owned" in text, "the corpus file with the injected name was reported"
    if fmt in ("json", "sarif"):
        json.loads(text)
        return
    assert _CONTROL.search(text) is None
    lines = text.splitlines()
    assert not [line for line in lines if line.startswith("::") and "pwned" in line.split("::")[1]]
    if fmt == "github":
        assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in lines)
    if fmt == "markdown":
        assert "<script>" not in _CODE_SPAN.sub("", text)
    if fmt == "junit":
        ET.fromstring(text)


@pytest.mark.parametrize(
    ("name", "code", "words"),
    [
        ("zip_slip.keras", "SEC004", "escapes the archive"),
        ("zip_slip.keras", "AUD001", "escapes the archive"),
        ("duplicate_members.keras", "AUD001", "duplicate members named 'config.json'"),
        ("zip_bomb.keras", "AUD001", "zip bomb"),
        ("deep_json.keras", "AUD001", "nested too deeply"),
        ("value_bomb.keras", "AUD001", "1,100,002 values, over the 1,000,000-value cap"),
        ("value_bomb.keras", "SEC004", "1,100,002 values, over the 1,000,000-value cap"),
        ("shape_bomb.h5", "SEC004", "declares 1,099,511,627,776 bytes"),
        ("external_storage.h5", "SEC003", "external storage"),
        ("external_storage.keras", "SEC003", "external storage"),
        ("gadget_system.keras", "SEC002", "os.system"),
        ("custom_module.keras", "SEC002", "acme_layers"),
        ("folder.keras", "AUD001", "is a folder, not a model"),
        ("empty.keras", "AUD001", "empty"),
        ("empty.h5", "AUD001", "empty"),
    ],
)
def test_messages_name_the_attack(corpus, report, name, code, words):
    (message,) = messages(corpus, report, name, code)
    assert words in message


def test_links_are_reported_not_followed(corpus, report):
    found = messages(corpus, report, "links.h5", "SEC003")
    assert len(found) == 2
    assert any("soft link" in m for m in found) and any("external link" in m for m in found)


@pytest.mark.parametrize("name", ["random.keras", "random.h5", "truncated.keras", "truncated.h5"])
def test_garbage_is_one_line(corpus, report, name):
    (message,) = messages(corpus, report, name, "AUD001")
    assert message.startswith("Cannot audit this file: ") and "\n" not in message


def test_cli_goes_past_every_bad_file(corpus):
    """One `audit` over the whole corpus folder: every file reported, no traceback."""
    root = corpus.marker.parent
    done = subprocess.run(
        [sys.executable, "-m", "auditor", str(root), "--format", "json", "--timeout", "30"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    audited = {Path(m["source"]["path"]).name for m in json.loads(done.stdout)["models"]}
    on_disk = {
        display_path(f.path.name)  # as reports name a file: not UTF-8 bytes as `\xff`
        for f in corpus.files
        if f.path.parent == root and f.path.is_file()
    }
    assert on_disk <= audited
    assert not corpus.marker.exists()


def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.keras"
    path.write_bytes(CLEAN_KERAS.read_bytes())
    path.chmod(0)
    if os.access(path, os.R_OK):
        pytest.skip("running as a user who can read anything (root)")
    report = run([path], AuditConfig())
    assert "cannot open the file" in report.findings[0].message


def test_an_hdf5_file_of_no_keras_layout(tmp_path):
    """Neither a full model (`model_config`) nor a weights file (`layers/...` or
    `layer_names`): AUD001, saying what was looked for."""
    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as f:
        f["dense/kernel"] = np.zeros((2, 2), "f4")
    report = run([path], AuditConfig())
    (message,) = [f.message for f in report.findings if f.code == "AUD001"]
    assert "neither a model_config attribute nor the groups of a weights file" in message


def _reference_values(value) -> int:
    """Every value of a parsed document: containers, and what they hold (keys aside)."""
    if isinstance(value, dict):
        return 1 + sum(_reference_values(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(_reference_values(v) for v in value)
    return 1


def _reference_depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((_reference_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_reference_depth(v) for v in value), default=0)
    return 0


@pytest.mark.parametrize(
    "text",
    [
        "1",
        '"[[[{"',
        "{}",
        '{"a": [1, {"b": "]]]}}}\\"[["}], "c": {"d": []}}',
        '["\\\\", ["\\\\\\"]"]]',
        "[" * 300 + "]" * 300,
    ],
)
def test_json_depth_counts_containers_not_brackets_in_strings(text):
    assert json_depth(skeleton(text.encode())) == _reference_depth(json.loads(text))


_NASTY_TEXT = st.text(alphabet=st.sampled_from('[]{}"\\/ ,:abu0'), max_size=12)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | _NASTY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_NASTY_TEXT, inner, max_size=4),
    max_leaves=30,
)


@given(value=_JSON_VALUES, ensure_ascii=st.booleans())
def test_json_depth_matches_the_parsed_depth(value, ensure_ascii):
    """Strings full of brackets, quotes and backslash runs never count as nesting, nor
    their commas as values."""
    text = json.dumps(value, ensure_ascii=ensure_ascii)
    assert json_depth(skeleton(text.encode())) == _reference_depth(value)
    assert json_values(skeleton(text.encode())) == _reference_values(value)


def test_json_past_the_depth_cap_is_refused(tmp_path):
    path = tmp_path / "deep600.keras"
    rezip(CLEAN_KERAS, path, lambda m: m.update({"config.json": b"[" * 600 + b"]" * 600}))
    report = run([path], AuditConfig())
    (message,) = [f.message for f in report.findings if f.code == "AUD001"]
    assert "config.json is nested 600 levels deep, over the 512-level cap" in message


def test_a_file_of_more_objects_than_the_cap_is_refused_before_they_are_opened(tmp_path):
    from auditor.limits import Limits
    from tests.hostile_corpus import CLEAN_H5, edit_h5

    def extra(f: h5py.File) -> None:
        for index in range(300):
            f.create_dataset(f"model_weights/extra/d{index}", data=np.float32(index))

    path = edit_h5(CLEAN_H5, tmp_path / "many.h5", extra)
    (model,) = run([path], AuditConfig(limits=Limits(max_h5_objects=200))).models
    found = {f.code: f.message for f in model.findings if f.code.startswith(SECURITY)}
    assert sorted(found) == ["AUD001", "SEC004"]
    assert "HDF5 file has more than 200 links" in found["SEC004"]


def test_a_file_of_many_objects_is_read_with_a_small_metadata_cache(tmp_path):
    """Past 10,000 links every object is still checked, and the stray ones listed."""
    from tests.hostile_corpus import CLEAN_H5, edit_h5

    def extra(f: h5py.File) -> None:
        group = f.create_group("model_weights/extra")
        for index in range(10_050):
            group.create_dataset(f"d{index}", data=np.float32(index))

    path = edit_h5(CLEAN_H5, tmp_path / "many.h5", extra)
    (model,) = run([path], AuditConfig(select=["AUD003"])).models
    (finding,) = model.findings
    assert finding.message.startswith("10,050 stored tensor(s) belong to no layer")
