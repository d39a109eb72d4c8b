"""Real Prometheus parts for tests: a prometheus_client /metrics endpoint and a Prometheus server.

The server is Debian's `prometheus` binary (scripts/ci/install-system-packages.sh installs
it), started on 127.0.0.1 with a 1 s scrape interval, a temporary storage folder and basic
auth, so tests can check that headers reach it. Both are stopped by PID when the block ends.
"""

from __future__ import annotations

import base64
import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INSTALL_HINT = (
    "prometheus binary not found: apt-get install -y prometheus"
    " (see scripts/ci/install-system-packages.sh)"
)
USER = "runbook"
PASSWORD = "s3cret"
# bcrypt of PASSWORD at the lowest cost (4) so that every request checks fast. Made once with
# Python's crypt module: crypt.crypt("s3cret", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)).
PASSWORD_HASH = "$2b$04$gz/iB4OTE8vlr5rc7xy/seChRTgJKNEtsw3h1FEo8tMD5jj.NDR22"
AUTH_HEADERS = {
    "Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
}
START_DEADLINE_S = 15.0


@contextmanager
def metrics_endpoint(registry: Any) -> Iterator[str]:
    """Serve a prometheus_client ``registry`` on http://127.0.0.1:<free port>/metrics; yields that URL."""
    import prometheus_client

    server, thread = prometheus_client.start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def query(self, promql: str) -> dict[str, Any]:
        """The raw JSON answer of an instant query (basic auth included)."""
        params = urllib.parse.urlencode({"query": promql})
        request = urllib.request.Request(f"{self.url}/api/v1/query?{params}", headers=AUTH_HEADERS)
        with urllib.request.urlopen(request, timeout=5) as response:
            answer: dict[str, Any] = json.load(response)
        return answer

    def wait_for_value(self, promql: str, deadline_s: float = 30.0) -> float:
        """Poll until ``promql`` has a result; returns the seconds it took.

        Prometheus is up in ~0.1 s, but its first scrape lands ~5-6 s later (target
        discovery refreshes every 5 s), hence a generous deadline.
        """
        start = time.monotonic()
        while time.monotonic() - start < deadline_s:
            if self.query(promql)["data"]["result"]:
                return time.monotonic() - start
            self._check_alive()
            time.sleep(0.1)
        raise AssertionError(
            f"Prometheus had no value for {promql!r} after {deadline_s:g}s; log:\n{self._tail()}"
        )

    def _check_alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited with {self.process.returncode}:\n{self._tail()}")

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def prometheus_server(workdir: Path, targets: list[str]) -> Iterator[Prometheus]:
    """Run a real Prometheus scraping ``targets`` (host:port) every second, with basic auth."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise AssertionError(INSTALL_HINT)
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(json.dumps({  # JSON is YAML: no quoting surprises
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "k2", "static_configs": [{"targets": targets}]}],
    }))
    web_config = workdir / "web.yml"
    web_config.write_text(json.dumps({"basic_auth_users": {USER: PASSWORD_HASH}}))
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", f"--web.config.file={web_config}"],
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = Prometheus(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        _wait_ready(server)
        yield server
    finally:
        _stop(process)


def _wait_ready(server: Prometheus) -> None:
    request = urllib.request.Request(f"{server.url}/-/ready", headers=AUTH_HEADERS)
    start = time.monotonic()
    while time.monotonic() - start < START_DEADLINE_S:
        server._check_alive()
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"prometheus not ready after {START_DEADLINE_S:g}s:\n{server._tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

