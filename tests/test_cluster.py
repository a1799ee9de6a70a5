"""Audits on a Dask cluster: a LocalCluster of two worker processes on the loopback
address, auditing a registry of models in moto's S3 server. Reports come back in input
order with the findings of the local files; a worker killed mid-run costs nothing; a file
that kills or hangs its reader is AUD001 for that model only."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import auditor
from auditor import rules
from auditor.engine.config import AuditConfig
from auditor.engine.registry import Registry
from auditor.engine.runner import run, stream
from tests.misbehaving_rules import Hangs, KillsItsProcess
from tests.servers import s3_bucket

pytest.importorskip("distributed", reason="the [test] extra installs the [cluster] extra")
pytest.importorskip("s3fs", reason="the [test] extra installs the [remote] extra")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "models"
SOURCES = ("depthwise_decay.keras", "clean.h5", "bias_decay.keras", "frozen_backbone.h5")
REGISTRY_SIZE = 200
CONFIG = AuditConfig(inventory=False, digest=False)


def _findings(report):
    return [(f.code, f.location.layer_path, f.message) for f in report.findings]


@pytest.fixture(scope="module")
def bucket():
    """A registry of 200 models (copies of four genuine example files) in moto's S3."""
    objects = {
        f"models/m{index:03}{Path(name).suffix}": EXAMPLES / name
        for index, name in ((i, SOURCES[i % len(SOURCES)]) for i in range(REGISTRY_SIZE))
    }
    with s3_bucket("registry", objects) as url:
        yield url


@pytest.fixture(scope="module")
def client(bucket):
    """A client of a LocalCluster of two single-threaded worker processes on 127.0.0.1,
    started after the S3 server so that the workers' environment points at it. A task
    may lose its worker once and be run again; each worker runs one task at a time."""
    import dask
    from distributed import Client, LocalCluster

    settings = {
        "distributed.scheduler.allowed-failures": 1,
        "distributed.scheduler.worker-saturation": 1.0,
    }
    with (
        dask.config.set(settings),
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            scheduler_port=0,
            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
            silence_logs=50,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _expected(name):
    return _findings(run([EXAMPLES / name], CONFIG).models[0])


def _pids(client):
    client.wait_for_workers(2, timeout=60)
    return set(client.run(os.getpid).values())


def test_a_registry_is_audited_in_order_through_a_killed_worker(bucket, client):
    expected = {name: _expected(name) for name in SOURCES}
    before = _pids(client)
    victim = min(before)
    reports = []
    for report in auditor.audit_many(f"{bucket}/models/", CONFIG, client=client):
        reports.append(report)
        if len(reports) == 20:
            os.kill(victim, signal.SIGKILL)
    assert [r.source.path for r in reports] == [
        f"{bucket}/models/m{i:03}{Path(SOURCES[i % 4]).suffix}" for i in range(REGISTRY_SIZE)
    ]
    for index, report in enumerate(reports):
        assert _findings(report) == expected[SOURCES[index % 4]], report.source.path
    after = _pids(client)
    assert victim not in after  # the worker really died, and its nanny started another


def _job_and_audits(dask_scheduler):
    """On the scheduler: for the run's job task, whether it can be computed again (a
    task, not scattered data, which a cluster that lost every copy could not restore),
    and for each audit task in it, whether it depends on the job."""
    jobs = [task for key, task in dask_scheduler.tasks.items() if str(key).endswith("-job")]
    audits = [
        task
        for key, task in dask_scheduler.tasks.items()
        if str(key).startswith("keras-audit-") and not str(key).endswith("-job")
    ]
    return (
        [task.run_spec is not None for task in jobs],
        [[str(dependency.key) for dependency in task.dependencies] for task in audits],
    )


def test_the_job_is_one_task_every_audit_depends_on(bucket, client):
    """The job travels once: each audit's message to the scheduler names it instead of
    carrying it. It is a task, so that a cluster that loses every worker holding it
    computes it again."""
    seen = []
    for report in auditor.audit_many(f"{bucket}/models/", CONFIG, client=client):
        if not seen:
            seen.append(client.run_on_scheduler(_job_and_audits))
        assert report.errors == []
    (recomputable, dependencies) = seen[0]
    assert recomputable == [True]
    assert dependencies and all(len(names) == 1 for names in dependencies)
    assert all(names[0].endswith("-job") for names in dependencies)


def test_the_client_keeps_a_bounded_window_of_tasks(bucket, client):
    """However many files, the client holds a few tasks per worker thread, not one per
    file, and the run's job once: its memory stays flat."""
    held = []
    for _ in auditor.audit_many(f"{bucket}/models/", CONFIG, client=client):
        held.append(len(client.futures))
    assert max(held) <= 16 + 1, max(held)  # 4 per thread, at least 4 threads' worth
    assert len(client.futures) == 0


def test_a_file_that_kills_its_reader_costs_that_model_only(bucket, client):
    """On a worker, as on one machine, each file is read in a child process: the child
    dies, the worker does not."""
    sibling = f"{bucket}/models/m000.keras"
    registry = Registry(rules.BUILTIN_RULES, plugins=[KillsItsProcess])
    config = CONFIG.model_copy(update={"select": ["XYZ200", "AUD001"], "timeout": 60})
    poison = _upload(bucket, "depthwise_decay.keras", "poison/m.keras")
    before = _pids(client)
    report = run([poison, sibling], config, registry=registry, client=client)
    assert [_findings(m) for m in report.models] == [
        [("AUD001", "", "Cannot audit this file: the reader crashed on this file (exit code -9).")],
        [],
    ]
    assert _pids(client) == before


def test_a_file_whose_workers_keep_dying_is_one_aud001(bucket, client):
    """Without the per-file child (no time limit), the file kills its worker each time it
    is tried; Dask gives up on it (KilledWorker) and the run goes on."""
    registry = Registry(rules.BUILTIN_RULES, plugins=[KillsItsProcess])
    config = CONFIG.model_copy(update={"select": ["XYZ200", "AUD001"], "timeout": None})
    poison = _upload(bucket, "depthwise_decay.keras", "poison/again.keras")
    report = run([poison, f"{bucket}/models/m001.h5"], config, registry=registry, client=client)
    assert [_findings(m) for m in report.models] == [
        [
            (
                "AUD001",
                "",
                "Cannot audit this file: the Dask workers auditing this file died each time "
                "it was tried (KilledWorker); the file was not audited.",
            )
        ],
        [],
    ]


def test_a_file_over_the_time_limit_is_stopped_on_its_worker(bucket, client):
    """The rule hangs where SIGALRM cannot reach it: the worker stops the child. (The
    limit leaves a loaded machine time to read the file from moto first, or the child's
    own alarm would end it before the rule hangs.)"""
    registry = Registry(rules.BUILTIN_RULES, plugins=[Hangs])
    config = CONFIG.model_copy(update={"select": ["XYZ201", "AUD001"], "timeout": 5})
    hang = _upload(bucket, "clean.h5", "hang/m.h5")
    started = time.monotonic()
    report = run([hang, f"{bucket}/models/m002.keras"], config, registry=registry, client=client)
    assert [_findings(m) for m in report.models] == [
        [
            (
                "AUD001",
                "",
                "Cannot audit this file: auditing the file took longer than the per-file "
                "time limit of 5 s (timeout setting); the reader was stopped.",
            )
        ],
        [],
    ]
    assert time.monotonic() - started < 30


def test_a_live_reference_is_refused_with_a_cluster(client):
    with pytest.raises(auditor.errors.UsageError, match="open the reference model themselves"):
        stream([EXAMPLES / "clean.h5"], CONFIG, client=client, reference=object())


def _upload(bucket, name, key):
    import boto3

    boto3.client("s3").upload_file(str(EXAMPLES / name), bucket.removeprefix("s3://"), key)
    return f"{bucket}/{key}"


def _audit(*args):
    return subprocess.run(
        [sys.executable, "-m", "auditor", *args], capture_output=True, text=True, timeout=300
    )


def test_the_cli_on_a_local_cluster_writes_what_it_writes_without_one(tmp_path):
    for name in SOURCES:
        shutil.copyfile(EXAMPLES / name, tmp_path / name)
    alone = _audit(str(tmp_path), "--format", "json")
    clustered = _audit(str(tmp_path), "--format", "json", "--cluster", "local:2")
    assert clustered.returncode == alone.returncode == 1, clustered.stderr
    assert clustered.stderr == ""

    def comparable(stdout):
        report = json.loads(stdout)
        del report["summary"]["duration_seconds"]
        for model in report["models"]:
            for key in ("duration_seconds", "bytes_read", "requests"):
                model["summary"].pop(key, None)
        return report

    assert comparable(clustered.stdout) == comparable(alone.stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--cluster", "local:0"],
            "audit: error: --cluster local:N takes 1 to 256 workers. Received: --cluster 'local:0'",
        ),
        (
            ["--cluster", "localhost"],
            "audit: error: --cluster takes local:N (N worker processes) or a scheduler's "
            "address such as tcp://scheduler:8786. Received: --cluster 'localhost'",
        ),
        (
            ["--jobs", "2", "--cluster", "local:2"],
            "audit: error: --jobs and --cluster are two ways to audit files side by side: "
            "give one. Received: --jobs 2 --cluster 'local:2'",
        ),
    ],
)
def test_bad_cluster_options_are_one_line(args, message):
    done = _audit(str(EXAMPLES / "clean.h5"), *args)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == message


def test_a_missing_dask_and_an_unreachable_scheduler_are_one_line(monkeypatch):
    from auditor.engine import cluster

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with pytest.raises(auditor.errors.UsageError) as missing, cluster.connect("local:2"):
        pass
    assert str(missing.value) == (
        "--cluster needs Dask distributed: pip install 'keras-audit[cluster]'"
    )
    monkeypatch.undo()
    monkeypatch.setattr(cluster, "CONNECT_SECONDS", 1.0)
    with (
        pytest.raises(auditor.errors.UsageError) as unreachable,
        cluster.connect("tcp://127.0.0.1:9"),
    ):
        pass
    message = str(unreachable.value)
    assert message.startswith("cannot reach the Dask scheduler: ")
    assert message.endswith("Received: --cluster 'tcp://127.0.0.1:9'") and "\n" not in message
