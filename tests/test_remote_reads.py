"""How a model at a URL is read: ranges fetched side by side and kept for the reads that
follow (`RangeFile.prefetch`), merged across small gaps (larger ones when the tensors
will be read too), a small object in one request, tensor reads planned and fetched a
round at a time, what `sniff` and the zip's first reads look at fetched in one or two
rounds, and the HDF5 metadata chased ahead of libhdf5 (`h5_prefetch`) so that an audit
makes a few rounds of requests, not one request per object. Through
fsspec's own local filesystem (`file://`), whose reads `RangeFile` counts as it counts a
bucket's; the hostile bytes the chase parses never make it fail."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from auditor.engine.config import AuditConfig
from auditor.engine.runner import run
from auditor.loaders import h5_prefetch, open_model, range_file
from auditor.loaders.range_file import RangeFile, Transfer
from auditor.loaders.remote import open_url
from auditor.loaders.sniff import Layout, sniff

pytest.importorskip("fsspec", reason="the [test] extra installs the [remote] extra")
MiB = 1 << 20


def _object(tmp_path: Path, size: int, transfer: Transfer | None = None) -> tuple[bytes, RangeFile]:
    data = random.Random(size).randbytes(size)
    path = tmp_path / f"object{size}.bin"
    if not path.exists():
        path.write_bytes(data)
    return data, open_url(f"file://{path}", transfer)


def _read(raw: RangeFile, start: int, end: int) -> bytes:
    buffer = bytearray(end - start)
    raw.read_at(memoryview(buffer), start)
    return bytes(buffer)


def test_prefetched_ranges_serve_the_reads_that_follow(tmp_path):
    data, raw = _object(tmp_path, 4 * MiB)
    raw.prefetch([(1000, 1500), (1600, 2000), (3 * MiB, 3 * MiB + 100)])
    # The first two are 100 bytes apart: fetched as one range (the gap with them).
    assert (raw.requests, raw.bytes_fetched) == (2, 1000 + 100)
    assert raw.peek(1200, 1900) == data[1200:1900]
    assert raw.peek(0, 10) is None and raw.peek(1900, 2100) is None
    assert _read(raw, 1100, 1400) == data[1100:1400]
    raw.prefetch([(1000, 1500)])  # held already
    assert (raw.requests, raw.bytes_fetched) == (2, 1100)


def test_ranges_a_few_kib_apart_are_one_request_when_tensors_follow(tmp_path):
    ranges = [(1000, 1500), (9000, 9500), (40_000, 40_500)]
    _, metadata_only = _object(tmp_path, 4 * MiB, Transfer(tensors=False))
    metadata_only.prefetch(ranges)
    assert (metadata_only.requests, metadata_only.bytes_fetched) == (3, 1500)
    data, full = _object(tmp_path, 4 * MiB, Transfer(tensors=True))
    full.prefetch(ranges)  # 7.5 KiB apart: one range; 30 KiB apart: another
    assert (full.requests, full.bytes_fetched) == (2, 8500 + 500)
    assert full.peek(1000, 9500) == data[1000:9500]


def test_a_span_is_found_behind_a_later_shorter_one(tmp_path):
    data, raw = _object(tmp_path, 4 * MiB)
    raw.prefetch([(5000, 6000)])
    raw.prefetch([(0, 10_000)])  # starts before the first, and holds it
    assert raw.peek(7000, 8000) == data[7000:8000]
    assert raw.requests == 2


def test_a_read_is_served_from_the_spans_that_hold_it_one_after_another(tmp_path):
    data, raw = _object(tmp_path, 4 * MiB)
    raw.prefetch([(1000, 2000)])
    raw.prefetch([(2000, 3000)])
    assert _read(raw, 1500, 2500) == data[1500:2500]
    assert raw.peek(1000, 3000) == data[1000:3000]
    raw.prefetch([(1000, 3500)])  # only what the spans do not hold is fetched
    assert (raw.requests, raw.bytes_fetched) == (3, 2500)
    assert raw.peek(1000, 3500) == data[1000:3500]


def test_bytes_a_reader_does_not_use_are_served_as_zeros(tmp_path):
    """libhdf5 reads 512 bytes at an object header and uses the header's own length: the
    rest of such a read, said ahead with `expect`, is zeros and is never fetched."""
    data, raw = _object(tmp_path, 4 * MiB)
    raw.prefetch([(10_000, 10_100)])
    raw.expect(10_000, 512, 100)
    assert _read(raw, 10_000, 10_512) == data[10_000:10_100] + bytes(412)
    assert _read(raw, 10_000, 10_300) == data[10_000:10_100] + bytes(200)
    assert (raw.requests, raw.bytes_fetched) == (1, 100)
    # Longer than said, or at another address: the real bytes, fetched.
    assert _read(raw, 10_000, 10_600) == data[10_000:10_600]
    assert _read(raw, 10_001, 10_300) == data[10_001:10_300]  # from the block just read
    assert raw.requests == 2


def test_bytes_not_yet_fetched_are_never_served_as_zeros(tmp_path):
    data, raw = _object(tmp_path, 4 * MiB)
    raw.prefetch([(10_000, 10_050)])
    raw.expect(10_000, 512, 100)  # the first 100 bytes are used, and 50 are held
    assert _read(raw, 10_000, 10_512) == data[10_000:10_512]


def test_kept_spans_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(range_file, "_SPAN_BYTES", 4096)
    data, raw = _object(tmp_path, 4 * MiB)
    for start in range(0, 8 * 4096, 4096):
        raw.prefetch([(start, start + 1024)])
    held = [start for start in range(0, 8 * 4096, 4096) if raw.peek(start, start + 1024)]
    assert held == list(range(4 * 4096, 8 * 4096, 4096))  # the newest four, 4 KiB in all
    assert raw.peek(7 * 4096, 7 * 4096 + 1024) == data[7 * 4096 : 7 * 4096 + 1024]


def test_a_small_object_is_fetched_whole_by_its_first_read(tmp_path):
    data, raw = _object(tmp_path, 100_000)
    raw.seek(5000)
    assert raw.read(10) == data[5000:5010]
    assert (raw.requests, raw.bytes_fetched) == (1, 100_000)
    assert _read(raw, 90_000, 100_000) == data[90_000:]
    assert raw.requests == 1


def test_a_small_object_is_fetched_whole_by_its_first_prefetch(tmp_path):
    data, raw = _object(tmp_path, 100_000)
    raw.prefetch([(10, 20), (50_000, 50_010)])
    assert (raw.requests, raw.bytes_fetched) == (1, 100_000)
    assert _read(raw, 0, 100_000) == data
    raw.prefetch([(0, 10)])
    assert raw.requests == 1


def test_planned_reads_are_fetched_a_round_at_a_time(tmp_path):
    data, raw = _object(tmp_path, 40 * MiB)
    planned = [(i * 4 * MiB, i * 4 * MiB + 3 * MiB) for i in range(5)]
    # Over a round's 8 MiB: fetched alone, in 4 MiB pieces side by side.
    planned.append((25 * MiB, 34 * MiB))
    for start, end in planned:
        raw.plan_read(start, end)
    rounds = []
    for start, end in planned:
        before = raw.requests
        assert _read(raw, start, end) == data[start:end]
        rounds.append(raw.requests - before)
    assert rounds == [2, 0, 2, 0, 1, 3]
    assert raw.bytes_fetched == 5 * 3 * MiB + 9 * MiB


def test_a_planned_read_over_half_the_kept_bytes_is_read_as_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(range_file, "_SPAN_BYTES", 16 * MiB)
    data, raw = _object(tmp_path, 40 * MiB)
    raw.plan_read(MiB, 10 * MiB)  # 9 MiB: over half of 16 MiB
    assert _read(raw, MiB, 2 * MiB) == data[MiB : 2 * MiB]
    assert (raw.requests, raw.bytes_fetched) == (1, MiB)


@pytest.fixture(scope="module")
def deep(keras, save_model):
    """Forty Dense layers (64 KiB kernels, so that their headers lie apart) with
    BatchNormalization: 240 tensors."""
    L = keras.layers
    layers = [keras.Input((128,))]
    for _ in range(40):
        layers += [L.Dense(128), L.BatchNormalization()]
    return save_model(keras.Sequential(layers, name="deep"), "deep")


def _reads(monkeypatch, url: str, warm: bool) -> tuple[int, int, list]:
    """(reads one after another before the HDF5 warm-up, and after it; the findings) of
    a configuration audit."""
    counts = {"before": 0, "after": 0}
    phase = ["before"]
    fetch = RangeFile._fetch

    def counted(self, start, end):
        counts[phase[0]] += 1
        return fetch(self, start, end)

    chase = h5_prefetch.warm_up

    def warm_up(source, base, max_objects):
        if warm:
            chase(source, base, max_objects)
        phase[0] = "after"

    monkeypatch.setattr(RangeFile, "_fetch", counted)
    monkeypatch.setattr("auditor.loaders.safe_hdf5.warm_up", warm_up)
    monkeypatch.setattr("auditor.loaders.legacy_h5.warm_up", warm_up)
    config = AuditConfig(select=["SEC", "REG", "WD"], no_weights=True, timeout=None)
    (model,) = run([url], config).models
    monkeypatch.undo()
    return counts["before"], counts["after"], [(f.code, f.message) for f in model.findings]


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_the_hdf5_metadata_comes_in_a_few_rounds(deep, monkeypatch, fmt):
    url = f"file://{deep[fmt]}"
    _, cold, findings = _reads(monkeypatch, url, warm=False)
    before, warm, same = _reads(monkeypatch, url, warm=True)
    assert same == findings
    assert cold >= 40, cold  # one object after another
    # The sniff, the zip's directory and JSON members, then the chase (the root's
    # attributes with it): every read is served from ranges fetched side by side.
    assert (before, warm) == (0, 0)
    with open_model(url) as loaded:
        assert loaded.io is not None and loaded.graph.readable


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_sniffing_a_url_takes_one_or_two_rounds(deep, monkeypatch, fmt):
    rounds: list[int] = []
    cat_ranges = RangeFile._cat
    monkeypatch.setattr(
        RangeFile,
        "_cat",
        lambda self, ranges: rounds.append(len(ranges)) or cat_ranges(self, ranges),
    )
    raw = open_url(f"file://{deep[fmt]}")
    layout = sniff(raw, raw.size)
    with Path(deep[fmt]).open("rb") as local:
        assert layout == sniff(local, raw.size)
    if fmt == "h5":  # the superblock at byte 0: the head and the tail only
        assert (layout.hdf5_at, rounds) == (0, [2])
    else:  # a zip: the doublings of libhdf5's superblock search in a second round
        assert isinstance(layout, Layout) and layout.zip
        assert len(rounds) == 2 and rounds[0] == 2, rounds
    assert raw.requests == sum(rounds)


def test_the_chase_fetches_the_text_of_string_attributes(deep):
    """h5py stores a `str` attribute (`model_config` among them) in a global heap
    collection, which the root group's attribute message points to."""
    raw = open_url(f"file://{deep['h5']}")
    h5_prefetch.warm_up(raw, 0, 1000)
    import h5py

    with h5py.File(deep["h5"], "r") as f:
        config = f.attrs["model_config"]
    text = config.encode() if isinstance(config, str) else bytes(config)
    data = Path(deep["h5"]).read_bytes()
    at = data.index(text)
    assert raw.peek(at, at + len(text)) == text


def test_the_chase_never_fails_on_hostile_bytes(deep, tmp_path):
    """Bytes flipped anywhere in the file (the superblock, headers, B-trees, heaps): the
    chase ends quietly, fetching within its caps."""
    rng = random.Random(7)
    original = Path(deep["h5"]).read_bytes()
    for index in range(150):
        data = bytearray(original)
        for _ in range(rng.randint(1, 40)):
            at = rng.randrange(min(len(data), 4096) if index % 3 == 0 else len(data))
            data[at] = rng.randrange(256)
        path = tmp_path / f"flipped{index}.h5"
        path.write_bytes(bytes(data))
        raw = open_url(f"file://{path}")
        h5_prefetch.warm_up(raw, 0, 1000)
        assert raw.requests <= 64 * 4 * 1000
        path.unlink()


class _LoggedFile:
    """A local file that notes every read libhdf5 makes through it: (offset, size)."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        self.reads: list[tuple[int, int]] = []

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def read(self, size: int = -1) -> bytes:
        self.reads.append((self._file.tell(), size))
        return self._file.read(size)

    def readinto(self, buffer) -> int:
        self.reads.append((self._file.tell(), len(buffer)))
        return self._file.readinto(buffer)


def test_libhdf5_reads_more_at_each_structure_than_it_uses(deep):
    """What the chase tells the file holds for the libhdf5 of this install: it reads the
    whole length said at each structure the chase reached (512 bytes at a header or a
    heap, a node whole), more than the bytes the structure uses, and never more."""
    import h5py

    expected: dict[int, tuple[int, int]] = {}
    raw = open_url(f"file://{deep['h5']}")
    raw.expect = lambda start, length, used: expected.__setitem__(start, (length, used))
    h5_prefetch.warm_up(raw, 0, 1000)
    logged = _LoggedFile(Path(deep["h5"]))
    with h5py.File(logged, "r") as f:
        f.visititems(lambda name, item: None)
        for group in f["model_weights"].values():
            dict(group.attrs)
    reads: dict[int, set[int]] = {}
    for offset, size in logged.reads:
        reads.setdefault(offset, set()).add(size)
    assert len(expected) > 400  # headers, heaps, B-tree and symbol-table nodes
    for start, (length, used) in expected.items():
        sizes = reads.get(start, set())
        assert length in sizes, (start, length, used, sizes)
        # A read there that takes more than the structure uses is one served with zeros.
        assert all(size <= length for size in sizes if size > used), (start, sizes)


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_a_configuration_audit_reads_the_same_model_over_a_url(deep, fmt):
    """The metadata read with zeros past each structure's end gives the model the local
    file gives: every stored weight's name, shape and dtype."""
    config = AuditConfig(no_weights=True, inventory=False, digest=False, timeout=None)
    local = run([deep[fmt]], config).models[0]
    remote = run([f"file://{deep[fmt]}"], config).models[0]

    def weights(path):
        with open_model(path, tensors=False) as loaded:
            return [(w.path, w.shape, w.dtype) for w in loaded.graph.weights()]

    assert weights(f"file://{deep[fmt]}") == weights(deep[fmt])
    assert [f.code for f in remote.findings] == [f.code for f in local.findings]
