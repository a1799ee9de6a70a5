"""Hostile files never crash, hang, or read another file: each becomes an AUD001 finding
(the file could not be audited) and, when it attacks the reader, a SEC finding."""

from __future__ import annotations

import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from auditor.config import AuditConfig
from auditor.engine import run
from auditor.loaders.guard import Limits
from auditor.loaders.legacy_h5 import read_attr_list

CLEAN = Path(__file__).resolve().parent.parent / "examples" / "models" / "clean.keras"


def aud001(path: Path) -> list[str]:
    report = run([path], AuditConfig())
    model = report.models[0]
    assert model.errors == []
    return [f.message for f in model.findings if f.code == "AUD001"]


def messages(path: Path, code: str) -> list[str]:
    report = run([path], AuditConfig())
    assert report.models[0].errors == []
    return [f.message for f in report.findings if f.code == code]


def rezip(src: Path, dst: Path, edit) -> Path:
    with zipfile.ZipFile(src) as zin:
        members = {i.filename: zin.read(i.filename) for i in zin.infolist()}
    members = edit(members) or members
    with zipfile.ZipFile(dst, "w") as zout:
        for name, data in members.items() if isinstance(members, dict) else members:
            zout.writestr(name, data)
    return dst


def test_directory_named_like_a_model(tmp_path):
    (tmp_path / "x.keras").mkdir()
    assert aud001(tmp_path / "x.keras") == [
        "Cannot audit this file: is a directory, not a model file (unzipped .keras folders "
        "are not supported)."
    ]


def test_unreadable_file(tmp_path):
    import os

    path = tmp_path / "secret.keras"
    path.write_bytes(CLEAN.read_bytes())
    path.chmod(0)
    if os.access(path, os.R_OK):
        pytest.skip("running as a user who can read anything (root)")
    assert "cannot open the file" in aud001(path)[0]


def test_zip_slip_member_name(tmp_path):
    path = rezip(CLEAN, tmp_path / "slip.keras", lambda m: {**m, "../../evil.txt": b"x"})
    (message,) = aud001(path)
    assert "escapes the archive" in message
    assert "escapes the archive" in messages(path, "SEC004")[0]


def test_duplicate_members(tmp_path):
    path = tmp_path / "dup.keras"
    with zipfile.ZipFile(CLEAN) as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
        with pytest.warns(UserWarning):
            zout.writestr("config.json", b'{"dup": 1}')
    (message,) = aud001(path)
    assert "duplicate members named 'config.json'" in message


def test_zip_bomb_config(tmp_path):
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        zout.writestr("config.json", b" " * (50 * 1024 * 1024))
    (message,) = aud001(path)
    assert "zip bomb" in message


def test_deep_json(tmp_path):
    path = rezip(
        CLEAN,
        tmp_path / "deep.keras",
        lambda m: {**m, "config.json": b"[" * 100_000 + b"]" * 100_000},
    )
    (message,) = aud001(path)
    assert "nested too deeply" in message or "levels deep" in message


def test_hdf5_external_storage_is_never_read(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(4, dtype="<f4").tobytes())
    path = tmp_path / "external.h5"
    path.write_bytes((CLEAN.parent / "clean.h5").read_bytes())
    with h5py.File(path, "r+") as f:
        group = f["model_weights/head"]
        names = read_attr_list(group, "weight_names", Limits())
        del group[names[1]]
        group.create_dataset(names[1], shape=(4,), dtype="<f4", external=[(str(secret), 0, 16)])
    report = run([path], AuditConfig())
    found = [f.message for f in report.findings if f.code == "SEC003"]
    assert len(found) == 1 and "external storage" in found[0]
    assert [f for f in report.findings if f.code == "AUD001"] == []
    head_bias = [
        w
        for layer in report.models[0].inventory
        for w in layer.weights
        if w.path.endswith("head/bias")
    ]
    assert head_bias[0].stats is None  # never read
    assert "0.0, 1.0, 2.0" not in report.to_json()


def test_hdf5_soft_and_external_links(tmp_path):
    path = tmp_path / "links.h5"
    path.write_bytes((CLEAN.parent / "clean.h5").read_bytes())
    with h5py.File(path, "r+") as f:
        f["model_weights/soft"] = h5py.SoftLink("/model_weights/head")
        f["model_weights/ext"] = h5py.ExternalLink("/etc/passwd", "/x")
    found = messages(path, "SEC003")
    assert len(found) == 2
    assert any("soft link" in m for m in found) and any("external link" in m for m in found)


def test_hdf5_shape_bomb(tmp_path):
    path = tmp_path / "shape_bomb.h5"
    path.write_bytes((CLEAN.parent / "clean.h5").read_bytes())
    with h5py.File(path, "r+") as f:
        group = f["model_weights/head"]
        names = read_attr_list(group, "weight_names", Limits())
        del group[names[0]]
        group.create_dataset(
            names[0], shape=(2**20, 2**18), dtype="<f4", chunks=(64, 64), compression="gzip"
        )
    (message,) = messages(path, "SEC004")
    assert "shape bomb" in message or "over the" in message


def test_weights_only_h5_file(tmp_path):
    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as f:
        f["dense/kernel"] = np.zeros((2, 2), "f4")
    (message,) = aud001(path)
    assert "no model_config attribute" in message


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.keras", b"", "empty"),
        ("empty.h5", b"", "empty"),
        ("random.keras", bytes(range(256)) * 64, ""),
        ("random.h5", b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 16, ""),
    ],
)
def test_empty_and_random_files(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    (message,) = aud001(path)
    assert message.startswith("Cannot audit this file: ") and words in message
