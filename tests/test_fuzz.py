"""Fuzzing: mutated .keras and .h5 files (bit flips, truncations, JSON and HDF5-attribute
mutations) always end in a report, with an AUD001/SEC finding where they cannot be read:
no exception, no rule crash, no hang (per-file time limit), bounded memory."""

from __future__ import annotations

import json
import random
import resource
import zipfile
from pathlib import Path

import h5py
import pytest

from auditor.engine.config import AuditConfig
from auditor.engine.runner import run

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "models"
SEEDS = {"bytes": 1200, "json": 1000, "h5attrs": 800}  # 3,000 cases
CONFIG = AuditConfig(timeout=5)


def _flip(data: bytes, rng: random.Random) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        buffer[rng.randrange(len(buffer))] ^= 1 << rng.randrange(8)
    if rng.random() < 0.3:
        buffer = buffer[: rng.randrange(len(buffer))]  # truncation
    return bytes(buffer)


def _mutate_json(value, rng: random.Random, depth: int = 0):
    """Replace, drop or retype a random part of a JSON document."""
    if isinstance(value, dict) and value:
        key = rng.choice(list(value))
        choice = rng.random()
        if choice < 0.2:
            value.pop(key)
        elif choice < 0.6 or depth > 6:
            value[key] = rng.choice(
                [None, -1, 0, 1e308, "x" * 50, [], {}, True, [[[]]], {"class_name": 7}, "../x"]
            )
        else:
            value[key] = _mutate_json(value[key], rng, depth + 1)
    elif isinstance(value, list) and value:
        index = rng.randrange(len(value))
        if rng.random() < 0.3:
            value.pop(index)
        else:
            value[index] = _mutate_json(value[index], rng, depth + 1)
    else:
        return rng.choice([None, "", -7, 3.5, [1, 2], {"a": None}])
    return value


def _check(path: Path) -> None:
    report = run([path], CONFIG)
    (model,) = report.models
    assert model.errors == [], (path.name, model.errors)
    report.to_json()


@pytest.fixture(scope="module")
def sources():
    return {name: (EXAMPLES / name).read_bytes() for name in ("clean.keras", "clean.h5")}


def test_bit_flips_and_truncations(sources, tmp_path):
    rng = random.Random(1)
    for index in range(SEEDS["bytes"]):
        name = rng.choice(list(sources))
        path = tmp_path / f"{index}_{name}"
        path.write_bytes(_flip(sources[name], rng))
        _check(path)
        path.unlink()


def test_config_json_mutations(sources, tmp_path):
    rng = random.Random(2)
    with zipfile.ZipFile(EXAMPLES / "depthwise_decay.keras") as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    for index in range(SEEDS["json"]):
        document = json.loads(members["config.json"])
        for _ in range(rng.randint(1, 4)):
            document = _mutate_json(document, rng)
        path = tmp_path / f"{index}.keras"
        with zipfile.ZipFile(path, "w") as out:
            for name, data in members.items():
                out.writestr(name, json.dumps(document) if name == "config.json" else data)
        _check(path)
        path.unlink()


def test_hdf5_attribute_mutations(sources, tmp_path):
    rng = random.Random(3)
    original = json.loads(h5py.File(EXAMPLES / "clean.h5", "r").attrs["model_config"])
    for index in range(SEEDS["h5attrs"]):
        path = tmp_path / f"{index}.h5"
        path.write_bytes(sources["clean.h5"])
        with h5py.File(path, "r+") as f:
            choice = rng.random()
            if choice < 0.5:
                document = _mutate_json(json.loads(json.dumps(original)), rng)
                f.attrs["model_config"] = json.dumps(document)
            elif choice < 0.7:
                f.attrs["model_config"] = rng.choice([b"\xff\xfe", "[" * 5000, "{}", "null"])
            else:
                group = f["model_weights"]
                target = rng.choice([group, *[group[k] for k in group]])
                key = rng.choice(["layer_names", "weight_names", "keras_version", "backend"])
                target.attrs[key] = rng.choice([b"", ["a", "b"], 7, "x" * 100])
        _check(path)
        path.unlink()


def _rss_mb() -> float:
    """This process's current resident set (not the high-water mark, which depends on
    whatever test modules ran before in the same worker)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


@pytest.fixture(scope="module", autouse=True)
def rss_before() -> float:
    return _rss_mb()


def test_memory_stayed_bounded(rss_before):
    """Run last in this module: thousands of hostile files later, this process has not
    grown (each file is read in the isolation child; the parent keeps only reports)."""
    grown = _rss_mb() - rss_before
    assert grown < 150, f"grew {grown:.0f} MB over the fuzzing"
