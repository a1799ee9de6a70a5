"""Real servers on the loopback address, started by the tests: an HTTP server with Range
support (Python's own `http.server`, which has none, taught `Range: bytes=a-b`), and an
S3-compatible server (moto's server mode). Nothing listens past 127.0.0.1."""

from __future__ import annotations

import http.server
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves the files of `server.root`: HEAD and GET, whole or by one byte range;
    `/forbidden/...` answers 403. Counts requests and bytes sent on the server."""

    server: _Server
    # Connections kept open between requests, as every object store keeps them.
    protocol_version = "HTTP/1.1"

    def _target(self) -> Path | None:
        path = self.path.split("?", 1)[0].lstrip("/")
        if path.startswith("forbidden/"):
            self.send_error(403)
            return None
        target = (self.server.root / path).resolve()
        if self.server.root not in target.parents or not target.is_file():
            self.send_error(404)
            return None
        return target

    def do_HEAD(self) -> None:
        target = self._target()
        if target is not None:
            self.send_response(200)
            self.send_header("Content-Length", str(target.stat().st_size))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()

    def do_GET(self) -> None:
        target = self._target()
        if target is None:
            return
        if self.server.latency:
            time.sleep(self.server.latency)
        size = target.stat().st_size
        match = _RANGE.match(self.headers.get("Range", ""))
        start, end = 0, size
        if match:  # only the bytes asked for are read, as an object store does
            start = int(match.group(1))
            end = min(int(match.group(2)) + 1 if match.group(2) else size, size)
        with target.open("rb") as file:
            file.seek(start)
            body = file.read(max(end - start, 0))
        if match:
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(body)
        with self.server.lock:
            self.server.requests += 1
            self.server.bytes_sent += len(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _Server(http.server.ThreadingHTTPServer):
    # Many requests side by side (a round of prefetched ranges): the default backlog of
    # 5 would drop connections, which the client retries a second later.
    request_queue_size = 256
    root: Path
    requests: int = 0
    bytes_sent: int = 0
    latency: float = 0.0
    lock: threading.Lock


@contextmanager
def http_server(root: Path, latency: float = 0.0) -> Iterator[_Server]:
    """An HTTP server with Range support serving `root` on 127.0.0.1 (a free port); each
    GET answered after `latency` seconds (an object store's time to first byte, for the
    benchmarks)."""
    server = _Server(("127.0.0.1", 0), _RangeHandler)
    server.root = root.resolve()
    server.latency = latency
    server.lock = threading.Lock()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1; yields its endpoint. The environment points boto3
    and s3fs at it (fake credentials: nothing leaves the machine)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {key: os.environ.get(key) for key in _S3_ENV}
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint,
    )
    _forget_filesystems()  # fsspec keeps each S3 filesystem, and so an earlier endpoint
    try:
        yield endpoint
    finally:
        _forget_filesystems()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


@contextmanager
def s3_bucket(name: str, objects: Mapping[str, Path | bytes]) -> Iterator[str]:
    """moto's S3 server holding one bucket of `objects` (key -> a file to upload, or the
    bytes); yields the bucket's URL (`s3://name`)."""
    import boto3

    with s3_server() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=name)
        for key, value in objects.items():
            if isinstance(value, bytes):
                s3.put_object(Bucket=name, Key=key, Body=value)
            else:
                s3.upload_file(str(value), name, key)
        yield f"s3://{name}"


def _forget_filesystems() -> None:
    try:
        import s3fs
    except ImportError:
        return
    s3fs.S3FileSystem.clear_instance_cache()


_S3_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")
