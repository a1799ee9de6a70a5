"""keras-audit on models at a URL: bytes moved and wall time, against downloading the
object and auditing the copy.

Two servers on 127.0.0.1, started here (nothing leaves the machine):

* moto's S3 server, as the tests use it. It reads the whole object for every range
  request (a 4 KiB range of a 100 MiB object costs it about 50 ms, of a 1 MiB object
  9 ms) and answers one request at a time, in this benchmark's process: its wall times
  count requests, not bytes.
* an HTTP server with Range support that reads only the bytes asked for and answers each
  request after `--latency` (default 20 ms, an object store's time to first byte within
  its region), many at a time: requests made side by side cost one latency.

For each model (weights=None, cached in benchmarks/.cache), in fresh processes (medians
of --runs, interleaved as in bench_performance.py):

* config-only: `audit URL --select SEC,REG004,REG009,WD` (rules that need no tensor);
* full: `audit URL`, every rule and every tensor;
* download, then audit: the object copied to a temporary file with fsspec, then `audit`
  on the copy, as a scanner that downloads first would.

Bytes and requests are those the JSON report gives (`summary.bytes_read`, `requests`).
Prints Markdown.

    .venv/bin/python benchmarks/bench_remote.py [--runs 3] [--models resnet50.keras,...]
        [--servers s3,http] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent))

from _models import AUDIT_CLI, Command, build, interleaved, machine, positive  # noqa: E402

from tests.servers import http_server, s3_server  # noqa: E402

MODELS = (("resnet50", "keras"), ("resnet50", "h5"), ("efficientnetb7", "keras"))
CONFIG_ONLY = ("--select", "SEC,REG004,REG009,WD")
DOWNLOAD_THEN_AUDIT = """
import os, subprocess, sys, tempfile, fsspec
url = sys.argv[1]
with tempfile.TemporaryDirectory() as folder:
    local = os.path.join(folder, url.rsplit("/", 1)[1])
    fs, path = fsspec.core.url_to_fs(url)
    fs.get(path, local)
    audit = os.path.join(os.path.dirname(sys.executable), "audit")
    subprocess.run([audit, local, "-o", "/dev/null", "--exit-zero"], check=True)
"""


def _reads(url: str, select: list[str] | None = None) -> tuple[int, int]:
    """(bytes_read, requests) of one audit of `url` as the timed text run makes it (no
    inventory, no digest), from its report."""
    from auditor.engine.config import AuditConfig
    from auditor.engine.runner import run

    config = AuditConfig(inventory=False, digest=False, **({"select": select} if select else {}))
    (model,) = run([url], config).models
    return model.summary.bytes_read or 0, model.summary.requests or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=positive, default=3)
    parser.add_argument(
        "--models",
        default=",".join(f"{name}.{fmt}" for name, fmt in MODELS),
        help="comma-separated files of the cache to benchmark (default: %(default)s)",
    )
    parser.add_argument("--servers", default="s3,http", help="s3, http or both")
    parser.add_argument("--latency", type=float, default=0.02, help="the HTTP server's")
    args = parser.parse_args()
    chosen = [build(*item.rsplit(".", 1)) for item in args.models.split(",")]
    servers = args.servers.split(",")
    print(f"# Models at a URL\n\n{machine()}\n")
    print(
        "| server | file | size | config-only: fetched | requests | wall | full: fetched | "
        "requests | wall | download, then audit | full / download-then-audit |"
    )
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    if "s3" in servers:
        import boto3

        with s3_server() as endpoint:
            s3 = boto3.client("s3", endpoint_url=endpoint)
            s3.create_bucket(Bucket="bench")
            for path in chosen:
                s3.upload_file(str(path), "bench", path.name)
                _row("moto S3", f"s3://bench/{path.name}", path, args.runs)
    if "http" in servers:
        root = chosen[0].parent
        with http_server(root, latency=args.latency) as server:
            label = f"HTTP, {args.latency * 1000:.0f} ms"
            for path in chosen:
                url = f"http://127.0.0.1:{server.server_address[1]}/{path.relative_to(root)}"
                _row(label, url, path, args.runs)


def _row(server: str, url: str, path: Path, runs: int) -> None:
    size = path.stat().st_size
    commands: dict[str, Command] = {
        "config": (AUDIT_CLI, (url, *CONFIG_ONLY, "-o", "/dev/null", "--exit-zero")),
        "full": (AUDIT_CLI, (url, "-o", "/dev/null", "--exit-zero")),
        "download": (DOWNLOAD_THEN_AUDIT, (url,)),
    }
    samples, failures = interleaved(commands, runs)
    wall = {k: statistics.median(s.wall for s in v) for k, v in samples.items()}
    config_bytes, config_requests = _reads(url, CONFIG_ONLY[1].split(","))
    full_bytes, full_requests = _reads(url)
    print(
        f"| {server} | {path.name} | {size / 1e6:,.0f} MB | {config_bytes / 1e3:,.0f} KB "
        f"({config_bytes / size:.2%}) | {config_requests} | {wall['config']:.2f} s | "
        f"{full_bytes / 1e6:,.0f} MB | {full_requests} | {wall['full']:.2f} s | "
        f"{wall['download']:.2f} s | {wall['full'] / wall['download']:.2f}x |",
        flush=True,
    )
    for key, error in failures.items():
        print(f"\n{path.name} {key}: {error}\n")


if __name__ == "__main__":
    main()
