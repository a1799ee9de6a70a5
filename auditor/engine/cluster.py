"""Audits on a Dask cluster: one task per model file, the reports streamed back in input
order.

A team auditing a registry of checkpoints runs on the Dask deployment it already has
(`--cluster tcp://scheduler:8786`, `auditor.audit_many(paths, client=client)`) or on a
`LocalCluster` of worker processes (`--cluster local:N`). keras-audit schedules nothing of
its own: it submits one task per file, keeps a bounded window of tasks in flight, so that
the client's memory stays flat however many files a run has, and hands each report on in
input order as soon as it and those before it are done.

On a worker each file is audited in a child process that can be killed
(`auditor.engine.isolation`), exactly as on one machine: a file over the time limit, or
one that crashes the HDF5 library, is AUD001 for that model and the worker carries on. A
worker that dies is Dask's to handle: the scheduler runs its tasks again on another
worker, and a file whose workers keep dying (`KilledWorker`) becomes AUD001.

Workers open the files themselves, so the paths must name the same files on the workers
(URLs, or a shared file system; a relative path is resolved in each worker's working
directory), and plugin rules must be installed there too.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import CancelledError
from contextlib import closing, contextmanager, suppress
from typing import Any

from auditor.engine.config import AuditConfig
from auditor.engine.file_audit import audit_file, open_reference, unreadable_report
from auditor.engine.isolation import Isolated, isolating
from auditor.engine.judge import PreparedRules, prepare
from auditor.engine.registry import Registry
from auditor.engine.window import in_order
from auditor.errors import UsageError
from auditor.results.findings import ModelReport

__all__ = ["ClusterJob", "audit_on_worker", "connect", "run_on_cluster"]

#: `--cluster local:N`: a LocalCluster of N worker processes on this machine.
_LOCAL = re.compile(r"local:(\d+)")

#: How long connecting to a running scheduler may take.
CONNECT_SECONDS = 30.0

#: Tasks in flight per worker thread: enough that no worker waits for the client, few
#: enough that the reports waiting for an earlier, slower file stay a handful.
_PER_THREAD = 4


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterJob:
    """What every task of one run needs besides its file (a few KB): submitted once as a
    task of its own that every audit depends on, so that each audit's message to the
    scheduler names it instead of carrying it, and a worker that lost it recomputes it;
    prepared once per worker process (`token` names the run)."""

    token: str
    config: AuditConfig
    registry: Registry
    debug: bool
    reference: str | None


def run_on_cluster(
    files: list[str],
    prepared: PreparedRules,
    config: AuditConfig,
    registry: Registry,
    debug: bool,
    reference: str | None,
    client: Any,
) -> Iterator[ModelReport]:
    """Audit `files` on the cluster behind the `distributed.Client` `client`; the reports
    in input order, each as soon as it and those before it are done.

    Raises:
        UsageError: what a worker raised as one (a reference model that cannot be read).
        Exception: with `debug`, what a rule raised on a worker.
    """
    job = ClusterJob(uuid.uuid4().hex, config, registry, debug, reference)
    # The job's future, held while the run lasts (then the cluster may forget the job).
    shared = [client.submit(_same, job, key=f"keras-audit-{job.token}-job", pure=False)]

    def submit(index: int, path: str) -> Any:
        key = f"keras-audit-{job.token}-{index}"
        return client.submit(audit_on_worker, path, shared[0], key=key, pure=False)

    window = _PER_THREAD * max(sum(client.nthreads().values()), 4)
    try:
        with closing(in_order(files, submit, window)) as submitted:
            for path, future in submitted:
                # Not kept past the yield: the client drops a result once no one holds it.
                report = _result(path, future, prepared, config, debug)
                del future
                yield report
    finally:
        shared.clear()
        with suppress(Exception):
            client.run(release_job, job.token)


def _result(
    path: str, future: Any, prepared: PreparedRules, config: AuditConfig, debug: bool
) -> ModelReport:
    """The task's report, or an AUD001 report saying why the cluster gave none."""
    try:
        return future.result()
    except UsageError:
        raise
    except (Exception, CancelledError) as exc:
        if debug:
            raise
        message = _why(exc)
    return unreadable_report(path, message, prepared, config)


def _why(exc: BaseException) -> str:
    """Why a task gave no report, for its AUD001 finding."""
    kind = type(exc).__name__
    if kind == "KilledWorker":
        return (
            "the Dask workers auditing this file died each time it was tried "
            "(KilledWorker); the file was not audited"
        )
    if isinstance(exc, CancelledError):
        return f"the cluster cancelled the audit of this file ({kind}: {exc})"
    return f"the audit of this file failed on the cluster ({kind}: {exc})"


# The worker's side: a run's prepared rules once per worker process, and one isolated child
# per worker thread (tasks on the threads of one worker run side by side).

_WORKER_LOCK = threading.Lock()
_PREPARED: dict[str, PreparedRules] = {}
_CHILDREN: dict[tuple[str, int], Isolated] = {}


def _same(job: ClusterJob) -> ClusterJob:
    """The job task: the job itself, kept on the workers while audits depend on it."""
    return job


def audit_on_worker(path: str, job: ClusterJob) -> ModelReport:
    """The task: audit one file on this worker, in an isolated child where it can be
    killed (as `audit` does on one machine), else in this thread."""
    prepared = _prepared(job)
    if isolating(job.config, job.debug, job.reference):
        return _child(job, prepared).audit(path)
    with open_reference(job.reference, job.config) as base:
        return audit_file(path, prepared, job.config, job.debug, base)


def _prepared(job: ClusterJob) -> PreparedRules:
    with _WORKER_LOCK:
        if job.token not in _PREPARED:
            _PREPARED[job.token] = prepare(job.config, job.registry)
        return _PREPARED[job.token]


def _child(job: ClusterJob, prepared: PreparedRules) -> Isolated:
    key = (job.token, threading.get_ident())
    with _WORKER_LOCK:
        if key not in _CHILDREN:
            _CHILDREN[key] = Isolated(prepared, job.config, job.reference)
        return _CHILDREN[key]


def release_job(token: str) -> None:
    """Forget a finished run on this worker: its prepared rules, and its children, asked
    to finish and stopped. Run on every worker when the run ends."""
    with _WORKER_LOCK:
        _PREPARED.pop(token, None)
        children = [_CHILDREN.pop(key) for key in list(_CHILDREN) if key[0] == token]
    for child in children:
        child.close()


@contextmanager
def connect(spec: str) -> Iterator[Any]:
    """A `distributed.Client` for `--cluster SPEC`: `local:N` starts a LocalCluster of N
    single-threaded worker processes on the loopback address (closed after the run); any
    other value is a running scheduler's address (`tcp://scheduler:8786`).

    Raises:
        UsageError: when Dask is not installed, N is not a positive count, or the
            scheduler cannot be reached.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError(
            "--cluster needs Dask distributed: pip install 'keras-audit[cluster]'"
        ) from None
    local = _LOCAL.fullmatch(spec)
    if local is not None:
        workers = int(local.group(1))
        if not 1 <= workers <= 256:
            raise UsageError(
                f"--cluster local:N takes 1 to 256 workers. Received: --cluster {spec!r}"
            )
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                scheduler_port=0,
                # No dashboard; the scheduler's own HTTP routes on a free loopback port.
                scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    if spec.startswith("local"):
        raise UsageError(
            f"--cluster takes local:N (N worker processes) or a scheduler's address such as "
            f"tcp://scheduler:8786. Received: --cluster {spec!r}"
        )
    try:
        client = Client(spec, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(
            f"cannot reach the Dask scheduler: {type(exc).__name__}: {exc}. "
            f"Received: --cluster {spec!r}"
        ) from None
    with client:
        yield client
