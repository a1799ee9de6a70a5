"""Models at URLs, read by byte range through fsspec from real servers on the loopback
address (moto's S3 server, an HTTP server with Range support): the same findings as the
local files, a configuration audit that fetches under 1% of the file, one AUD001 line
for a missing, forbidden or truncated object, and credentials in a URL never shown."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.engine.config import AuditConfig
from auditor.engine.runner import run
from auditor.reports import RENDERERS, RenderOptions
from tests.servers import http_server, s3_bucket

pytest.importorskip("s3fs", reason="the [test] extra installs the [remote] extra")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "models"
NAMES = ("depthwise_decay.keras", "clean.h5", "big.keras", "big.h5")


@pytest.fixture(scope="module")
def models(keras, tmp_path_factory):
    """Example models and a 64 MB one (a 4096x4096 kernel), in both formats."""
    root = tmp_path_factory.mktemp("remote")
    inputs = keras.Input((4096,))
    model = keras.Model(inputs, keras.layers.Dense(4096, kernel_regularizer="l2")(inputs))
    model.save(root / "big.keras")
    model.save(root / "big.h5")
    for name in ("depthwise_decay.keras", "clean.h5"):
        shutil.copyfile(EXAMPLES / name, root / name)
    data = (root / "big.keras").read_bytes()
    (root / "truncated.keras").write_bytes(data[: len(data) // 2])
    return root


@pytest.fixture(scope="module")
def bucket(models):
    objects: dict[str, Path | bytes] = {path.name: path for path in models.iterdir()}
    objects["nested/a/m.keras"] = models / "depthwise_decay.keras"
    objects["nested/b/m.h5"] = models / "clean.h5"
    objects["nested/b/notes.txt"] = b"not a model"
    with s3_bucket("models", objects) as url:
        yield url


CONFIG = AuditConfig(inventory=False, digest=False)


def _findings(report):
    return [(f.code, f.location.layer_path, f.message) for f in report.findings]


@pytest.mark.parametrize("name", NAMES)
def test_an_object_in_a_bucket_is_audited_as_its_local_copy(models, bucket, name):
    remote = run([f"{bucket}/{name}"], CONFIG)
    local = run([models / name], CONFIG)
    assert _findings(remote) == _findings(local)
    (model,) = remote.models
    assert model.source.path == f"{bucket}/{name}"
    assert model.summary.requests >= 1
    # Everything, once (a cached block may overlap a tensor fetched whole).
    assert model.summary.bytes_read <= 1.01 * (models / name).stat().st_size


@pytest.mark.parametrize("name", ["big.keras", "big.h5"])
def test_a_configuration_audit_fetches_under_one_percent(models, bucket, name):
    size = (models / name).stat().st_size
    selected = AuditConfig(select=["SEC", "REG004", "REG009", "WD"], inventory=False, digest=False)
    (model,) = run([f"{bucket}/{name}"], selected).models
    assert [f.code for f in model.findings] == ["REG009"]
    assert model.summary.bytes_read < size / 100, (model.summary.bytes_read, size)
    (everything,) = run([f"{bucket}/{name}"], CONFIG.model_copy(update={"no_weights": True})).models
    assert everything.summary.bytes_read < size / 100
    skipped = {n.code: n.reason for n in everything.rules_not_applicable}
    assert skipped["WGT001"] == "no tensor was read (--no-weights)"


def test_missing_and_truncated_objects_are_one_aud001_line(bucket):
    report = run([f"{bucket}/missing.keras", f"{bucket}/truncated.keras"], CONFIG)
    messages = [[f.message for f in m.findings if f.code == "AUD001"] for m in report.models]
    assert messages[0] == ["Cannot audit this file: no such object: s3://models/missing.keras."]
    (truncated,) = messages[1]
    assert truncated.startswith("Cannot audit this file: ") and "\n" not in truncated


@pytest.fixture(scope="module")
def web(models):
    with http_server(models) as server:
        yield server


def test_a_model_over_http_is_read_by_ranges(models, web):
    port = web.server_address[1]
    url = f"http://127.0.0.1:{port}/big.keras"
    before = web.requests
    (model,) = run([url], CONFIG).models
    assert _findings(run([url], CONFIG)) == _findings(run([models / "big.keras"], CONFIG))
    assert model.summary.requests == (web.requests - before) // 2  # two runs of it above
    assert model.summary.bytes_read >= 64 * 2**20  # the kernel, read once


def test_http_errors_name_the_url_and_the_status(web):
    port = web.server_address[1]
    report = run(
        [f"http://127.0.0.1:{port}/forbidden/m.keras", f"http://127.0.0.1:{port}/none.keras"],
        CONFIG,
    )
    assert [m.findings[0].message for m in report.models] == [
        f"Cannot audit this file: access denied to http://127.0.0.1:{port}/forbidden/m.keras "
        "(403).",
        f"Cannot audit this file: no such object: http://127.0.0.1:{port}/none.keras.",
    ]


def test_credentials_in_a_url_are_never_shown(web):
    """A user, a password and a signed query planted in URLs: no output format, and no
    AUD001 message, carries them."""
    port = web.server_address[1]
    secrets = ("PLANTEDUSER", "PLANTEDPASSWORD", "PLANTEDSIGNATURE")
    urls = [
        f"http://PLANTEDUSER:PLANTEDPASSWORD@127.0.0.1:{port}/depthwise_decay.keras"
        "?X-Amz-Signature=PLANTEDSIGNATURE",
        f"http://127.0.0.1:{port}/none.keras?token=PLANTEDSIGNATURE",
    ]
    report = run(urls, AuditConfig())
    assert report.models[0].source.path == (
        f"http://***@127.0.0.1:{port}/depthwise_decay.keras?X-Amz-Signature=***"
    )
    outputs = [report.to_json()] + [
        renderer(report, options=RenderOptions(verbose=True)) for renderer in RENDERERS.values()
    ]
    for text in outputs:
        assert not any(secret in text for secret in secrets)


def test_the_cli_audits_a_url_and_says_what_it_read(bucket):
    done = subprocess.run(
        [sys.executable, "-m", "auditor", f"{bucket}/big.keras", "--select", "REG009"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("s3://models/big.keras (keras, Keras 3.15.1, 16,781,312 ")
    assert "parameters, read " in done.stdout.splitlines()[0]
    assert " of 67 MB)" in done.stdout.splitlines()[0]


def test_a_prefix_and_a_pattern_list_their_models(bucket):
    from auditor.engine.discovery import discover

    assert discover([f"{bucket}/nested/"]) == [
        "s3://models/nested/a/m.keras",
        "s3://models/nested/b/m.h5",
    ]
    assert discover([f"{bucket}/**/*.keras"]) == [
        "s3://models/big.keras",
        "s3://models/depthwise_decay.keras",
        "s3://models/nested/a/m.keras",
        "s3://models/truncated.keras",
    ]
    report = run([f"{bucket}/nested/"], CONFIG)
    assert [m.source.path for m in report.models] == [
        "s3://models/nested/a/m.keras",
        "s3://models/nested/b/m.h5",
    ]


def test_a_reference_and_a_comparison_take_urls(models, bucket):
    from auditor.training.compare import compare

    report = run(
        [models / "big.h5"], AuditConfig(select=["WGT002"]), reference=f"{bucket}/big.keras"
    )
    assert report.findings == []  # the same weights, read from the bucket
    comparison = compare(f"{bucket}/big.h5", models / "big.keras")
    assert {layer.status for layer in comparison.layers} == {"unchanged"}


def test_fix_says_it_works_on_local_files_only(bucket):
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "fix", f"{bucket}/big.keras", "-o", "out.keras"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().endswith(
        "audit fix reads and writes local files only (it rewrites the file's bytes): copy "
        "the model here first. Received: 's3://models/big.keras'"
    )


def test_the_library_audits_a_url(bucket):
    import auditor

    report = auditor.audit(f"{bucket}/depthwise_decay.keras", config=CONFIG)
    (model,) = report.models
    assert model.source.path == "s3://models/depthwise_decay.keras"
    assert {f.code for f in report.findings} >= {"REG004"}


def test_hf_urls_go_through_huggingface_hubs_filesystem(web, monkeypatch):
    """`hf://` is huggingface_hub's own filesystem, here pointed at the loopback server
    (HF_ENDPOINT), which has no such repository: one AUD001 line with the status."""
    pytest.importorskip("huggingface_hub")
    endpoint = f"http://127.0.0.1:{web.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", endpoint)
    (model,) = run(["hf://someone/models/model.keras"], CONFIG).models
    assert [f.message for f in model.findings if f.code == "AUD001"] == [
        "Cannot audit this file: cannot read hf://someone/models/model.keras (HTTP 404)."
    ]
