"""Fuzzing: mutated files of every format keras-audit reads (`.keras` archives and
folders, legacy `.h5`, Keras 3 and Keras 2 weights files, sharded weights, SavedModels
and exports, keras_hub presets): bit flips, truncations, JSON and HDF5-attribute
mutations, hostile names, encodings and file names always end in a report, with an
AUD001/SEC finding where they cannot be read: no exception, no rule crash, no hang
(per-file time limit), bounded memory, and every output format renders it."""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import zipfile
from pathlib import Path

import h5py
import pytest

from auditor.engine.config import AuditConfig
from auditor.engine.runner import run
from auditor.reports import RENDERERS, RenderOptions
from tests.savedmodels import build_export

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "models"
SEEDS = {
    "bytes": 1200,
    "json": 1000,
    "h5attrs": 800,
    "names": 400,
    "weights": 300,
    "layouts": 450,
}
#: Names a file may give its layers: lone surrogates, control characters and escape
#: sequences, workflow commands, markup, bidirectional overrides, paths, the empty name,
#: a very long one, and the names of Keras objects and of other layers.
HOSTILE_NAMES = (
    "\udc80",
    "a\ud800b",
    "\x00\x01\x7f",
    "\x1b]0;t\x07\x1b[2J",
    "x\r\n::error file=a::b",
    "<script>alert(1)</script>",
    "\u202eexe.pdf",
    "../../etc",
    "/abs",
    "a\\b",
    "",
    "n" * 5000,
    "Lambda",
    "dense",
    "层",
    "%0A%25",
)
#: How a `.keras` archive's config.json may be encoded: what json.loads(bytes) decodes.
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "utf-32-be")
CONFIG = AuditConfig(timeout=5)
OPTIONS = RenderOptions(verbose=True)


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


def _check(path: Path, *, render: bool = False) -> None:
    report = run([path], CONFIG)
    (model,) = report.models
    assert model.errors == [], (path.name, model.errors)
    report.to_json()
    if render:
        for fmt, renderer in RENDERERS.items():
            text = renderer(report, options=OPTIONS)
            text.encode("utf-8")  # what writing it takes
            assert text, fmt


@pytest.fixture(scope="module")
def sources():
    names = ("clean.keras", "clean.h5", "clean.weights.h5")
    return {name: (EXAMPLES / name).read_bytes() for name in names}


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


def test_weights_file_structure_mutations(sources, tmp_path):
    """A weights-only file's config is rebuilt from its groups: renamed, moved and deleted
    groups and datasets, and odd `name` attributes, never crash the audit."""
    rng = random.Random(5)
    for index in range(SEEDS["weights"]):
        path = tmp_path / f"{index}.weights.h5"
        path.write_bytes(sources["clean.weights.h5"])
        with h5py.File(path, "r+") as f:
            groups: list[str] = []
            f.visit(lambda name, found=groups: found.append(name))
            for _ in range(rng.randint(1, 3)):
                target = rng.choice(groups)
                if target not in f:
                    continue
                choice = rng.random()
                if choice < 0.3:
                    del f[target]
                elif choice < 0.6:
                    new = (
                        target.rsplit("/", 1)[0]
                        + "/"
                        + rng.choice(
                            [
                                "dense_7",
                                "conv2d_x",
                                "layers",
                                "vars",
                                "0",
                                "batch_normalization",
                                "?",
                            ]
                        )
                    )
                    if new not in f and "/" in target:
                        f.move(target, new)
                elif choice < 0.8 and isinstance(f[target], h5py.Group):
                    f[target].attrs["name"] = rng.choice([b"\xff", "x" * 300, 7, "../up"])
                else:
                    f.create_dataset(f"{target}_extra" if "/" in target else "stray", data=[1])
        _check(path)
        path.unlink()


@pytest.fixture(scope="module")
def layouts(keras, tmp_path_factory, tf_keras_savedmodels):
    """Genuine files of the layouts that are more than one file (sharded weights, an
    unzipped `.keras` folder, a tf.keras 2 SavedModel, a Keras 3 export, a keras_hub
    preset) and a Keras 2 `save_weights` file."""
    root = tmp_path_factory.mktemp("layouts")
    shutil.copytree(tf_keras_savedmodels / "cnn_sm", root / "savedmodel")
    (root / "keras2_weights").mkdir()
    shutil.copyfile(tf_keras_savedmodels / "cnn_weights.h5", root / "keras2_weights" / "w.h5")
    build_export(keras, root / "export")
    import keras_hub

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=8, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16
    )
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    backbone.save_to_preset(root / "preset")
    tokenizer.save_to_preset(root / "preset")
    model = keras.saving.load_model(EXAMPLES / "depthwise_decay.keras")
    (root / "sharded").mkdir()
    model.save_weights(root / "sharded" / "m.weights.json", max_shard_size=0.000005)
    model.save(root / "folder", zipped=False)
    return root


def test_layouts_of_several_files_mutated(layouts, tmp_path):
    """A sharded index's weight map and metadata, its shards' bytes, a model folder's
    config.json and weights, every file of a SavedModel and of an export (graph, Keras
    metadata, bundle index and data), a keras_hub preset's JSON and weights, and a Keras
    2 weights file mutated: always a report."""
    rng = random.Random(6)
    for index in range(SEEDS["layouts"]):
        kind = rng.choice(["sharded", "folder", "savedmodel", "export", "preset", "keras2_weights"])
        work = tmp_path / f"{index}"
        shutil.copytree(layouts / kind, work)
        if kind in ("savedmodel", "export", "keras2_weights"):
            member = rng.choice(sorted(p for p in work.rglob("*") if p.is_file()))
            member.write_bytes(_flip(member.read_bytes(), rng))
            _check(work / "w.h5" if kind == "keras2_weights" else work)
            shutil.rmtree(work)
            continue
        document_name = {
            "sharded": "m.weights.json",
            "preset": rng.choice(["config.json", "metadata.json", "tokenizer.json"]),
        }.get(kind, "config.json")
        document = work / document_name
        if rng.random() < 0.6:
            text = json.loads(document.read_text())
            for _ in range(rng.randint(1, 4)):
                text = _mutate_json(text, rng)
            document.write_text(json.dumps(text))
        else:
            member = rng.choice(sorted(work.glob("*.weights.h5")))
            member.write_bytes(_flip(member.read_bytes(), rng))
        _check(work / document_name if kind == "sharded" else work)
        shutil.rmtree(work)


def test_name_encoding_and_file_name_mutations(tmp_path):
    """Layers renamed to hostile names, config.json in every encoding json.loads takes,
    and hostile file names: every output renders what comes out."""
    rng = random.Random(4)
    with zipfile.ZipFile(EXAMPLES / "depthwise_decay.keras") as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    original = json.loads(members["config.json"])
    layers = [entry["config"]["name"] for entry in original["config"]["layers"]]
    for index in range(SEEDS["names"]):
        text = json.dumps(original)
        for _ in range(rng.randint(1, 3)):
            old, new = rng.choice(layers), rng.choice(HOSTILE_NAMES)
            text = text.replace(json.dumps(old), json.dumps(new))
        encoding = rng.choice(ENCODINGS)
        stem = os.fsdecode(rng.choice([b"m", b"\xff\xfe", b"new\nline", b"%0A", b"x" * 200]))
        path = tmp_path / f"{index}_{stem}.keras"
        with zipfile.ZipFile(path, "w") as out:
            for name, data in members.items():
                out.writestr(
                    name, text.encode(encoding, "surrogatepass") if name == "config.json" else data
                )
        _check(path, render=True)
        path.unlink()


def _rss_mb() -> float:
    """This process's current resident set (not the high-water mark, which depends on
    whatever test modules ran before in the same worker)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


@pytest.fixture(scope="module", autouse=True)
def rss_before(layouts) -> float:
    """Taken once the fixtures that build models in this process (`layouts`) are built:
    what the fuzzing itself adds is measured, not what building them took."""
    return _rss_mb()


def test_memory_stayed_bounded(rss_before):
    """Run last in this module: thousands of hostile files later, this process has not
    grown (each file is read in the isolation child; the parent keeps only reports)."""
    grown = _rss_mb() - rss_before
    assert grown < 150, f"grew {grown:.0f} MB over the fuzzing"
