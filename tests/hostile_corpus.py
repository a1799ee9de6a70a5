"""The hostile corpus: one file per attack on a model reader, each with the keras-audit
codes it must raise.

Used by tests/test_hostile_corpus.py (every file ends in exactly its expected findings,
nothing runs, nothing outside the file is read) and by benchmarks/bench_modelscan.py
(the same files scanned by keras-audit and by modelscan, side by side).

Only the Lambda files need keras (to produce real bytecode); every other file is derived
from the bundled clean example models by editing bytes, zip members or HDF5 objects.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from tests.harness import rewrite_config
from tests.savedmodels import build_graph_module

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "models"
CLEAN_KERAS = EXAMPLES / "clean.keras"
CLEAN_H5 = EXAMPLES / "clean.h5"

#: The 16 bytes an external-storage dataset points at; no output may ever contain them.
SECRET = b"KERAS-AUDIT-SECR"
#: A layer name that tries every way into an output: a terminal title and colour escape,
#: a bell, a line that GitHub Actions runs as a workflow command, a script tag, control
#: characters XML cannot hold, and a right-to-left override.
INJECTION = (
    "x\x1b]0;owned\x07\x1b[8m\r\n::error file=pwned.py::injected\r\n"
    "<script>alert(1)</script>\x01\x0b\u202efdp.exe"
)


@dataclass(frozen=True)
class HostileFile:
    """One corpus file: what it attacks and the AUD001/SEC codes keras-audit must raise."""

    path: Path
    attack: str
    expected: frozenset[str]


@dataclass(frozen=True)
class Corpus:
    files: tuple[HostileFile, ...]
    marker: Path  # written by the Lambda's code if it ever runs
    secret: Path  # read by anything that follows the external-storage reference


def rezip(
    src: Path,
    dst: Path,
    edit: Callable[[dict[str, bytes]], Any] = lambda members: None,
    compression: int = zipfile.ZIP_STORED,
) -> Path:
    """Copy a .keras archive, letting `edit(members)` change its members in place.

    `edit` may instead return new members: a dict, or a list of (name, bytes) pairs (which
    allows duplicate names). Members are written with `compression`.
    """
    with zipfile.ZipFile(src) as zin:
        members = {info.filename: zin.read(info.filename) for info in zin.infolist()}
    result = edit(members)
    if isinstance(result, dict):
        result = list(result.items())
    pairs = result if isinstance(result, list) else list(members.items())
    with zipfile.ZipFile(dst, "w", compression=compression) as zout:
        for name, data in pairs:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "Duplicate name", on purpose
                zout.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return dst


def edit_h5(src: Path, dst: Path, edit: Callable[[h5py.File], None]) -> Path:
    """Copy an HDF5 file and let `edit(file)` change it."""
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        edit(f)
    return dst


def edit_weights_member(src: Path, dst: Path, edit: Callable[[h5py.File], None]) -> Path:
    """Copy a .keras archive whose model.weights.h5 member went through `edit(file)`."""

    def members(m: dict[str, bytes]) -> None:
        buffer = io.BytesIO(m["model.weights.h5"])
        with h5py.File(buffer, "r+") as f:
            edit(f)
        m["model.weights.h5"] = buffer.getvalue()

    return rezip(src, dst, members)


def with_user_block(src: Path, dst: Path, block: bytes = b"") -> Path:
    """Copy an HDF5 file behind a user block (512 bytes or the next power of two that
    holds `block`), with `block` at the start of the file: libhdf5 finds the superblock
    after it, and whatever else reads the file sees `block` first."""
    size = 512
    while size < len(block):
        size *= 2
    with h5py.File(src, "r") as fin, h5py.File(dst, "w", userblock_size=size) as fout:
        fout.attrs.update(fin.attrs)
        for name in fin:
            fin.copy(name, fout)
    with dst.open("r+b") as stream:
        stream.write(block)
    return dst


def replace_dataset(group: h5py.Group, name: str, **create: Any) -> None:
    del group[name]
    group.create_dataset(name, **create)


def set_activation(doc: dict[str, Any], layer: str, reference: dict[str, Any]) -> None:
    """Point one layer's activation at `reference` (a serialized function object)."""
    for entry in doc["config"]["layers"]:
        if entry["config"]["name"] == layer:
            entry["config"]["activation"] = {**reference, "registered_name": "function"}
            return
    raise KeyError(layer)


def rename_layer(src: Path, dst: Path, old: str, new: str) -> Path:
    """Copy a model with a layer renamed everywhere its config names it (either format)."""

    def edit(doc: dict[str, Any]) -> None:
        renamed = json.loads(json.dumps(doc).replace(json.dumps(old), json.dumps(new)))
        doc.clear()
        doc.update(renamed)

    return with_config(src, dst, edit)


def with_config(src: Path, dst: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """Copy a clean model with its model config edited (either format)."""
    return rewrite_config(src, dst, lambda doc, _optimizer: edit(doc))


def lambda_models(keras: Any, root: Path, marker: Path) -> dict[str, Path]:
    """A Lambda whose bytecode writes `marker` when it runs, saved in both formats."""
    code = f"lambda x: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), x)[1]"
    inputs = keras.Input((4,))
    x = keras.layers.Lambda(eval(code), name="payload")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    paths = {}
    for suffix in ("keras", "h5"):
        paths[suffix] = root / f"lambda_payload.{suffix}"
        model.save(paths[suffix])
    marker.unlink(missing_ok=True)  # tracing the model ran the lambda; nothing else may
    return paths


#: file slug -> (what the activation resolves to, the serialized function reference).
GADGETS: dict[str, tuple[str, dict[str, str]]] = {
    "system": ("os.system", {"module": "os", "class_name": "function", "config": "system"}),
    "get_file": (
        "keras.utils.get_file",
        {"module": "keras.utils", "class_name": "function", "config": "get_file"},
    ),
    "enable_unsafe_deserialization": (
        "keras.config.enable_unsafe_deserialization",
        {
            "module": "keras.config",
            "class_name": "function",
            "config": "enable_unsafe_deserialization",
        },
    ),
    # The same gadget once `module` and the name are joined, as Keras joins them.
    "joined_get_file": (
        "keras.utils.get_file, as module keras + utils.get_file",
        {"module": "keras", "class_name": "function", "config": "utils.get_file"},
    ),
    "func_load": (
        "keras.src.utils.python_utils.func_load",
        {"module": "keras.src.utils.python_utils", "class_name": "function", "config": "func_load"},
    ),
    "eval": ("builtins.eval", {"module": "builtins", "class_name": "function", "config": "eval"}),
}


class _System:
    """Pickles as a call of os.system (never unpickled by the tests or keras-audit)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo unpickled",))


def system_call_npz(src: Path, dst: Path, member: str) -> Path:
    """Copy a `.keras` with npz weights, one `.npy` member of its npz replaced by an
    object array whose pickle calls os.system."""
    import pickle

    def edit(members: dict[str, bytes]) -> None:
        with zipfile.ZipFile(io.BytesIO(members["model.weights.npz"])) as npz:
            arrays = {info.filename: npz.read(info) for info in npz.infolist()}
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "|O", "fortran_order": False, "shape": (1,)}
        )
        arrays[member] = header.getvalue() + pickle.dumps([_System()], protocol=4)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as npz:
            for name, data in arrays.items():
                npz.writestr(name, data)
        members["model.weights.npz"] = out.getvalue()

    return rezip(src, dst, edit)


def _edit_index(src: Path, dst: Path, edit: Callable[[bytes], bytes]) -> Path:
    """Copy a SavedModel with its `variables/variables.index` edited."""
    shutil.copytree(src, dst)
    index = dst / "variables" / "variables.index"
    index.write_bytes(edit(index.read_bytes()))
    return dst


def build_corpus(keras: Any, root: Path) -> Corpus:
    """Write every hostile file under `root` and describe it."""
    root.mkdir(parents=True, exist_ok=True)
    marker, secret = root / "RAN", root / "secret.bin"
    secret.write_bytes(SECRET)
    files: list[HostileFile] = []

    def add(path: Path, attack: str, *codes: str) -> None:
        files.append(HostileFile(path, attack, frozenset(codes)))

    add(CLEAN_KERAS, "control: a clean model")
    add(CLEAN_H5, "control: a clean model")
    named = root / os.fsdecode(b"name\xff\xfe.keras")
    shutil.copyfile(CLEAN_KERAS, named)
    add(named, "control: a clean model whose file name is not UTF-8")
    lambdas = lambda_models(keras, root, marker)
    add(lambdas["keras"], "Lambda bytecode that writes a file when run", "SEC001")
    add(lambdas["h5"], "Lambda bytecode that writes a file when run", "SEC001")
    for src in lambdas.values():
        add(
            rename_layer(src, root / f"lambda_surrogate{src.suffix}", "payload", "payload\udc80"),
            "Lambda layer named with a lone surrogate (valid JSON, unencodable text)",
            "SEC001",
        )
    for src in lambdas.values():
        add(
            rename_layer(src, root / f"lambda_injection{src.suffix}", "payload", INJECTION),
            "Lambda named with terminal escapes, a workflow command and a script tag",
            "SEC001",
        )
    for encoding in ("utf-16", "utf-32", "utf-8-sig"):
        add(
            rezip(
                lambdas["keras"],
                root / f"lambda_{encoding.replace('-', '')}.keras",
                lambda m, e=encoding: m.update(
                    {"config.json": m["config.json"].decode().encode(e)}
                ),
            ),
            f"Lambda in a config.json encoded as {encoding} (json.loads decodes it)",
            "SEC001",
        )
    add(
        with_user_block(lambdas["h5"], root / "lambda_user_block.h5"),
        "Lambda in an HDF5 file behind a 512-byte user block (h5py reads it)",
        "SEC001",
    )
    appended = root / "hdf5_then_zip.keras"
    appended.write_bytes(CLEAN_H5.read_bytes() + lambdas["keras"].read_bytes())
    add(
        appended,
        "clean HDF5 with a Lambda .keras appended: Keras loads the zip",
        "SEC001",
        "SEC004",
    )
    renamed = root / "hdf5_then_zip.h5"
    renamed.write_bytes(appended.read_bytes())
    add(renamed, "the same named .h5: Keras loads the clean HDF5, tf-keras too", "SEC001", "SEC004")
    add(
        with_user_block(lambdas["h5"], root / "zip_in_user_block.h5", CLEAN_KERAS.read_bytes()),
        "a clean .keras zip in the user block of an HDF5 file with a Lambda",
        "SEC001",
        "SEC004",
    )
    for src in (CLEAN_KERAS, CLEAN_H5):
        add(
            rename_layer(src, root / f"traversal_name{src.suffix}", "head", "../../evil"),
            "a layer named ../../evil (Keras extracts assets under layer names)",
            "SEC004",
        )
    for method, label in ((zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "lzma")):
        add(
            rezip(lambdas["keras"], root / f"lambda_{label}.keras", compression=method),
            f"Lambda in an archive re-zipped with {label} (zipfile, and so Keras, reads it)",
            "SEC001",
        )
    values = b"[" + b"[]," * 1_100_000 + b"[]]"
    add(
        rezip(CLEAN_KERAS, root / "value_bomb.keras", lambda m: m.update({"config.json": values})),
        "config.json of 1.1 million empty lists (memory when parsed)",
        "AUD001",
        "SEC004",
    )
    for slug, (reference, gadget) in GADGETS.items():
        for src in (CLEAN_KERAS, CLEAN_H5):
            add(
                with_config(
                    src,
                    root / f"gadget_{slug}{src.suffix}",
                    lambda d, g=gadget: set_activation(d, "head", g),
                ),
                f"activation resolved to {reference}",
                "SEC002",
            )

    def joined_lambda(doc: dict[str, Any]) -> None:
        entry = next(e for e in doc["config"]["layers"] if e["config"]["name"] == "payload")
        entry["module"], entry["class_name"] = "keras", "layers.Lambda"

    add(
        with_config(lambdas["keras"], root / "lambda_joined_name.keras", joined_lambda),
        "Lambda named as module keras + class_name layers.Lambda",
        "SEC001",
    )

    def registered_backdoor(doc: dict[str, Any]) -> None:
        head = next(e for e in doc["config"]["layers"] if e["config"]["name"] == "head")
        head["registered_name"] = "acme>Backdoor"  # Keras loads what is registered first

    add(
        with_config(CLEAN_KERAS, root / "registered_backdoor.keras", registered_backdoor),
        "a keras.layers Dense whose registered_name loads acme>Backdoor",
        "SEC002",
    )

    def foreign_layer(doc: dict[str, Any]) -> None:
        head = next(e for e in doc["config"]["layers"] if e["config"]["name"] == "head")
        head["module"], head["registered_name"] = "acme_layers", "acme>Dense"

    add(
        with_config(CLEAN_KERAS, root / "custom_module.keras", foreign_layer),
        "layer class imported from a module outside Keras",
        "SEC002",
    )

    def external_storage(f: h5py.File, group: str, name: str) -> None:
        replace_dataset(f[group], name, shape=(4,), dtype="<f4", external=[(str(secret), 0, 16)])

    add(
        edit_h5(
            CLEAN_H5,
            root / "external_storage.h5",
            lambda f: external_storage(f, "model_weights/head/head", "bias"),
        ),
        "weight stored in another file (a secret)",
        "SEC003",
    )
    add(
        edit_weights_member(
            CLEAN_KERAS,
            root / "external_storage.keras",
            lambda f: external_storage(f, "layers/dense/vars", "1"),
        ),
        "weight stored in another file (a secret)",
        "SEC003",
    )

    def links(f: h5py.File) -> None:
        f["model_weights/soft"] = h5py.SoftLink("/model_weights/head")
        f["model_weights/ext"] = h5py.ExternalLink("/etc/passwd", "/x")

    add(
        edit_h5(CLEAN_H5, root / "links.h5", links),
        "HDF5 soft link and external link to /etc/passwd",
        "SEC003",
    )
    add(
        rezip(CLEAN_KERAS, root / "zip_slip.keras", lambda m: m.update({"../../evil.txt": b"x"})),
        "zip member named ../../evil.txt",
        "AUD001",
        "SEC004",
    )
    add(
        rezip(
            CLEAN_KERAS,
            root / "duplicate_members.keras",
            lambda m: [*m.items(), ("config.json", b'{"class_name": "Functional"}')],
        ),
        "two members named config.json",
        "AUD001",
        "SEC004",
    )
    bomb = root / "zip_bomb.keras"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        zout.writestr("config.json", b" " * (50 * 1024 * 1024))
    add(bomb, "config.json inflating 50 MB of spaces", "AUD001", "SEC004")

    def shape_bomb(f: h5py.File) -> None:
        replace_dataset(
            f["model_weights/head/head"],
            "kernel",
            shape=(2**20, 2**18),
            dtype="<f4",
            chunks=(64, 64),
            compression="gzip",
        )

    def chunk_bomb(f: h5py.File, group: str, name: str) -> None:
        """A 4x2 kernel in one gzip chunk of 128 MiB: reading any value inflates it."""
        del f[group][name]
        kernel = f[group].create_dataset(
            name, (4, 2), "<f4", maxshape=(None, None), chunks=(2**13, 2**12), compression="gzip"
        )
        kernel[...] = 1.0

    add(
        edit_h5(
            CLEAN_H5,
            root / "chunk_bomb.h5",
            lambda f: chunk_bomb(f, "model_weights/head/head", "kernel"),
        ),
        "4x2 kernel stored in a 128 MiB gzip chunk",
        "SEC004",
    )
    add(
        edit_weights_member(
            CLEAN_KERAS,
            root / "chunk_bomb.keras",
            lambda f: chunk_bomb(f, "layers/dense/vars", "0"),
        ),
        "4x2 kernel stored in a 128 MiB gzip chunk",
        "SEC004",
    )
    add(
        edit_h5(CLEAN_H5, root / "shape_bomb.h5", shape_bomb),
        "1 TiB dataset declared in a few bytes",
        "SEC004",
    )
    deep = b"[" * 100_000 + b"]" * 100_000
    add(
        rezip(CLEAN_KERAS, root / "deep_json.keras", lambda m: m.update({"config.json": deep})),
        "config.json nested 100,000 levels deep",
        "AUD001",
        "SEC004",
    )
    for src in (CLEAN_KERAS, CLEAN_H5):
        data = src.read_bytes()
        truncated = root / f"truncated{src.suffix}"
        truncated.write_bytes(data[: len(data) // 2])
        add(truncated, "file cut in half", "AUD001")
        empty = root / f"empty{src.suffix}"
        empty.write_bytes(b"")
        add(empty, "empty file", "AUD001")
        noise = root / f"random{src.suffix}"
        noise.write_bytes(np.random.default_rng(0).bytes(16_384))
        add(noise, "random bytes", "AUD001")
    shard = root / "shard_escape_00000.weights.h5"
    shutil.copyfile(EXAMPLES / "clean.weights.h5", shard)
    groups: list[str] = []
    with h5py.File(shard, "r") as f:
        f.visit(lambda name: groups.append(name) if name.endswith("vars") else None)
    weight_map = {f"/{group}": [shard.name] for group in groups}
    weight_map["/layers/dense/vars"] += ["../secret.bin", str(secret)]
    index = root / "shard_escape.weights.json"
    index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    add(index, "sharded weights whose map names ../secret.bin and an absolute path", "SEC004")
    from keras.src.saving import saving_lib

    npz = root / "npz_source.keras"
    model = keras.saving.load_model(CLEAN_KERAS, compile=False)
    saving_lib.save_model(model, npz, weights_format="npz")
    add(
        system_call_npz(npz, root / "npz_system_call.keras", "layers/dense.npy"),
        "npz weights whose pickle calls os.system (never unpickled)",
        "AUD001",
        "SEC002",
    )
    npz.unlink()
    reader = root / "read_file_savedmodel"
    build_graph_module(reader, read=str(secret))
    add(reader, "SavedModel whose serving function reads a file (a ReadFile op)", "SEC005")
    add(
        _edit_index(reader, root / "bad_crc_savedmodel", lambda b: bytes([b[0] ^ 1]) + b[1:]),
        "SavedModel whose variables.index fails its block checksum",
        "AUD001",
        "SEC005",
    )
    add(
        _edit_index(reader, root / "truncated_index_savedmodel", lambda b: b[: len(b) // 2]),
        "SavedModel whose variables.index is cut in half",
        "AUD001",
        "SEC005",
    )
    folder = root / "folder.keras"
    folder.mkdir(exist_ok=True)
    add(folder, "a directory named like a model", "AUD001")
    if os.geteuid() != 0:  # root reads anything, so the case proves nothing there
        locked = root / "locked.keras"
        locked.write_bytes(CLEAN_KERAS.read_bytes())
        locked.chmod(0)
        add(locked, "file without read permission", "AUD001")
    return Corpus(tuple(files), marker, secret)
